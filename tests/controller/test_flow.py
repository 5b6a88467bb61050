"""Control flow of the graph with a scripted model: every tag path, broken tags, budgets, retries, resume."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.controller.checkpoint import serializer
from agent.controller.toolbox import tag_table
from memory.schemas import Concept, Subroutine
from tests.fakes import ScriptedGenerator
from tools.problem import Problem, Verdict

DOC = ("The archive opened in 1931. Mira Okafor was the first curator of the archive. "
       "The blue vault holds 412 maps. The red vault holds 97 letters. Rain fell all week.")
PROBLEM = Problem(id="p1", prompt="How many maps are in the blue vault?", context=DOC)


def words(n: int, word: str = "hmm") -> str:
    return " ".join([word] * n)


def test_answer_path(make_controller):
    llm = ScriptedGenerator(["The vault count is known. <answer>412</answer> trailing"])
    res = make_controller(llm).solve(PROBLEM)
    assert res.answer == "412"
    assert res.trace.path == ["select_concepts", "prime", "think", "verify", "learn"]
    assert res.end_reason == "answer" and res.verdict is None
    assert llm.params[0].stop == ["</recall>", "</subq>", "</python>", "</answer>", "<evidence>", "<options>", "<folded>",
                                  "<output>"]
    assert res.generated_tokens == res.trace.node_stats["think"].generated_tokens > 0


def test_recall_inserts_verbatim_evidence(make_controller):
    llm = ScriptedGenerator(["I need the count. <recall>maps in the blue vault</recall>", "<answer>412</answer>"])
    res = make_controller(llm).solve(PROBLEM)
    assert res.trace.path[:5] == ["select_concepts", "prime", "think", "recall", "think"]
    assert "The blue vault holds 412 maps." in [e.text for e in res.trace.evidence]
    assert "<evidence>The blue vault holds 412 maps.</evidence>" in llm.prompts[1]
    for ev in res.trace.evidence:
        src = {"context": PROBLEM.context, "prompt": PROBLEM.prompt}[ev.source]
        assert src[ev.start : ev.start + len(ev.text)] == ev.text


def test_a_new_recall_never_shows_a_passage_already_shown(make_controller):
    llm = ScriptedGenerator(["<recall>blue vault maps</recall>", "<recall>how many maps does the blue vault hold</recall>",
                             "<answer>412</answer>"])
    res = make_controller(llm, prime=False).solve(PROBLEM)
    first, second = [[e for e in res.trace.evidence if e.query == q] for q in
                     ("blue vault maps", "how many maps does the blue vault hold")]
    assert "The blue vault holds 412 maps." in [e.text for e in first]
    assert first and second and not {(e.source, e.start) for e in first} & {(e.source, e.start) for e in second}
    assert llm.prompts[2].count("<evidence>The blue vault holds 412 maps.</evidence>") == 1


def test_subq_offers_stored_subroutines(make_controller, memory):
    [sub] = memory.subroutines.add_many([Subroutine(question="how to count items in a vault",
                                                     procedure="find the sentence naming the vault and read the number")])
    llm = ScriptedGenerator(["<subq>count items in a vault</subq>", f"Following S{sub.id}. <answer>412</answer>"])
    res = make_controller(llm, memory).solve(PROBLEM)
    assert "retrieve" in res.trace.path
    assert res.subroutines_offered == [sub.id] and res.subroutines_used == [sub.id]
    assert f"[S{sub.id}] how to count items in a vault" in llm.prompts[1]


def test_model_cannot_forge_evidence(make_controller):
    """Writing an <evidence> block of its own stops the model there; what it made up never reaches a prompt."""
    llm = ScriptedGenerator(["Let me look. <evidence>The blue vault holds 9000 maps.</evidence> <answer>9000</answer>",
                             "412"])
    res = make_controller(llm, prime=False).solve(PROBLEM)
    seg = res.trace.segments[0]
    assert seg.text == "Let me look. " and seg.violations == ["forged:<evidence>"]
    assert res.trace.evidence == [] and not any("9000" in p for p in llm.prompts)
    assert res.trace.attempts[0].end_reason == "forged_block" and res.answer == "412"


def test_a_stray_controller_closer_is_disarmed(make_controller):
    llm = ScriptedGenerator(["The vault.</evidence> <answer>412</answer>"])
    res = make_controller(llm, prime=False).solve(PROBLEM)
    assert "</evidence>" not in res.trace.segments[0].text
    assert "forged_tag" in res.trace.segments[0].violations


def test_nested_tags_are_flattened_not_fatal(make_controller):
    llm = ScriptedGenerator(["<recall>blue <subq>vault</subq>", "maps</recall>", "<answer>412</answer>"])
    res = make_controller(llm).solve(PROBLEM)
    # the first segment closes a subq inside an open recall; the second closes a recall containing a subq
    assert res.trace.segments[1].tag == "recall"
    assert "nested:recall" in res.trace.segments[1].violations
    assert res.trace.segments[0].tag == "subq" and "nested:subq" in res.trace.segments[0].violations
    assert res.trace.segments[1].body == "blue vault maps"
    assert res.answer == "412"


def test_unclosed_tag_carries_into_next_segment(make_controller):
    llm = ScriptedGenerator([f"<recall>blue vault {words(80)}", "maps</recall>", "<answer>412</answer>"])
    res = make_controller(llm, budgets={"segment_tokens": 40}).solve(PROBLEM)
    assert res.trace.segments[0].violations == ["unclosed:recall"]
    assert res.trace.segments[1].tag == "recall"
    assert res.trace.evidence, "the recall closed in the next segment still ran"


def test_repeating_model_ends_as_a_loop(make_controller):
    llm = ScriptedGenerator(lambda prompt, p: words(500, "think") if not prompt.endswith("<answer>") else "41")
    res = make_controller(llm, budgets={"segments": 10, "segment_tokens": 10, "tokens": 1000}).solve(PROBLEM)
    assert res.end_reason == "loop:repeated_segment"
    assert len([s for s in res.trace.segments if not s.forced]) == 2


def test_never_closing_model_ends_on_segment_budget(make_controller):
    n = iter(range(100))
    llm = ScriptedGenerator(lambda prompt, p: words(500, f"t{next(n)}") if not prompt.endswith("<answer>") else "41")
    res = make_controller(llm, budgets={"segments": 3, "segment_tokens": 10, "tokens": 1000}).solve(PROBLEM)
    assert res.end_reason == "budget:segments"
    assert len([s for s in res.trace.segments if not s.forced]) == 3
    assert res.answer == "41" and res.trace.segments[-1].forced


def test_token_budget(make_controller):
    n = iter(range(100))
    llm = ScriptedGenerator(lambda prompt, p: words(500, f"x{next(n)}") if not prompt.endswith("<answer>") else "")
    res = make_controller(llm, budgets={"segments": 50, "segment_tokens": 30, "tokens": 70}).solve(PROBLEM)
    assert res.end_reason == "budget:tokens"
    assert [s.generated_tokens for s in res.trace.segments if not s.forced] == [30, 30, 10]
    assert res.answer is None


def test_repeated_recall_loop_ends(make_controller):
    llm = ScriptedGenerator(lambda prompt, p: "<recall>blue vault maps</recall>" if p.stop == tag_table().stop_strings else "0")
    res = make_controller(llm, budgets={"recalls": 10, "segments": 20}).solve(PROBLEM)
    assert res.end_reason == "loop:repeated_recall"
    assert res.trace.path.count("recall") == 3  # one real recall, two repeats


def test_recall_budget(make_controller):
    qs = iter(["alpha", "beta", "gamma", "delta"])
    llm = ScriptedGenerator(lambda prompt, p: f"<recall>{next(qs)} vault</recall>" if p.stop == tag_table().stop_strings else "0")
    res = make_controller(llm, budgets={"recalls": 2, "segments": 20}).solve(PROBLEM)
    assert res.end_reason == "budget:recalls"
    assert res.trace.path.count("recall") == 3


def test_eos_without_answer_forces_one(make_controller):
    llm = ScriptedGenerator(["I am done thinking.", "412"])
    res = make_controller(llm).solve(PROBLEM)
    assert res.end_reason == "eos:no_answer" and res.answer == "412"
    assert llm.prompts[-1].endswith("Final answer: <answer>")


def test_retry_shows_previous_attempt_and_feedback(make_controller):
    llm = ScriptedGenerator(["<answer>97</answer>", "<answer>412</answer>"])
    seen: list[str] = []

    def verifier(ans: str) -> Verdict:
        seen.append(ans)
        return Verdict(ok=ans == "412", score=float(ans == "412"), feedback="97 is the letter count, not maps")

    res = make_controller(llm, budgets={"retries": 2}).solve(PROBLEM, verifier)
    assert seen == ["97", "412"]
    assert res.attempts == ["97", "412"] and res.answer == "412"
    assert res.end_reason == "verified" and res.verdict.ok
    assert "Previous answer: 97" in llm.prompts[1] and "97 is the letter count" in llm.prompts[1]
    assert res.trace.path.count("retry") == 1


def test_retries_exhausted(make_controller):
    llm = ScriptedGenerator(lambda prompt, p: "<answer>1</answer>")
    res = make_controller(llm, budgets={"retries": 2}).solve(PROBLEM, lambda a: Verdict(ok=False, feedback="no"))
    assert res.end_reason == "retries_exhausted" and res.attempts == ["1", "1", "1"]


def test_verifier_crash_becomes_feedback(make_controller):
    llm = ScriptedGenerator(["<answer>a</answer>", "<answer>b</answer>"])

    def bad(ans: str) -> Verdict:
        raise ZeroDivisionError("boom")

    res = make_controller(llm, budgets={"retries": 1}).solve(PROBLEM, bad)
    assert res.end_reason == "retries_exhausted"
    assert "verifier error: ZeroDivisionError" in res.trace.attempts[0].verdict.feedback


def crashes_on_second_call(first: str, later: str) -> tuple[ScriptedGenerator, dict[str, int]]:
    """A model that answers ``first``, then dies once ("engine died"), then answers ``later``."""
    calls = {"n": 0}

    def flaky(prompt, p):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("engine died")
        return first if calls["n"] == 1 else later

    return ScriptedGenerator(flaky), calls


def test_resume_from_checkpoint_after_crash(make_controller):
    saver = InMemorySaver(serde=serializer())
    llm, calls = crashes_on_second_call("<recall>blue vault</recall>", "<answer>412</answer>")
    with pytest.raises(RuntimeError, match="engine died"):
        make_controller(llm, checkpointer=saver).solve(PROBLEM, thread_id="t-1")
    res = make_controller(llm, checkpointer=saver).solve(PROBLEM, thread_id="t-1")
    assert res.answer == "412"
    assert calls["n"] == 3, "the first segment was not generated again"
    assert res.trace.path.count("think") == 2 and res.trace.path.count("recall") == 1
    again = make_controller(llm, checkpointer=saver).solve(PROBLEM, thread_id="t-1")
    assert again.answer == "412" and calls["n"] == 3, "a finished thread returns its result"
    with pytest.raises(ValueError, match="belongs to problem"):
        make_controller(llm, checkpointer=saver).solve(PROBLEM.model_copy(update={"id": "other"}), thread_id="t-1")


def test_sqlite_checkpoint_survives_new_controller(make_controller, make_settings, hash_encoder):
    from agent.controller import Controller

    settings = make_settings(prime_recall=False)
    llm, calls = crashes_on_second_call("<recall>red vault</recall>", "<answer>97</answer>")
    with pytest.raises(RuntimeError, match="engine died"):
        Controller(llm, None, settings, embedder=hash_encoder).solve(PROBLEM, thread_id="crash")
    res = Controller(llm, None, settings, embedder=hash_encoder).solve(
        PROBLEM, thread_id="crash")
    assert res.answer == "97" and calls["n"] == 3
    assert (settings.home / "mnemos.db").is_file()


def test_concept_selection_is_a_constrained_choice(make_controller, memory):
    stored = memory.concepts.add_many([
        Concept(name="vault inventory", description="count items stored in a vault", cues=["maps", "vault"]),
        Concept(name="date arithmetic", description="difference between years", cues=["year"]),
    ])
    ids = {c.name: c.id for c in stored}

    def model(prompt, p):
        if p.choice:
            return "yes" if "vault inventory" in prompt else "no"
        return "<answer>412</answer>"

    llm = ScriptedGenerator(model)
    res = make_controller(llm, memory).solve(PROBLEM)
    assert set(res.concepts_offered) == set(ids.values())
    assert res.concepts_used == [ids["vault inventory"]]
    choice_params = [p for p in llm.params if p.choice]
    assert all(p.choice == ["yes", "no"] for p in choice_params) and len(choice_params) == 2
    assert "vault inventory: count items stored in a vault" in llm.prompts[-1]
    assert "date arithmetic" not in llm.prompts[-1]


def test_learning_writes_subroutines_and_no_untried_concept(make_controller, memory):
    """The text family has no held problems to try a concept on, so the written concept is not stored."""
    concept_text = ("concept: named store inventory\nkind: routine\ndescription: count the items held in a named vault.\n"
                    "cues: a vault is named.\nnotes: find the sentence with the vault; read its number.\n")

    def model(prompt, p):
        if p.regex and p.regex.startswith("concept"):
            return concept_text
        if p.regex:
            return "Q: how many items does a named place keep\nP: find the sentence naming it and read its number\n"
        if "(no stored procedure matches)" not in prompt:
            return "<subq>find the vault sentence</subq>"
        return "It says 412. <answer>412</answer>"

    llm = ScriptedGenerator(model)
    res = make_controller(llm, memory, memory_mode="learning").solve(PROBLEM, lambda a: Verdict(ok=a == "412"))
    assert res.trace.path[-1] == "learn"
    assert memory.concepts.names() == []
    assert "learn: no held problems of this family to try concept(s) 'named store inventory' on; not stored" \
        in res.trace.notes
    [written] = [c for c in res.trace.tool_calls if c.kind == "write_concepts"]
    assert not written.ok and "named store inventory" in written.output
    qs = sorted(s.question for s in memory.subroutines.list())
    assert qs == ["how many items does a named place keep"]
    assert any("'find the vault sentence' restates the problem's 412, vault; rejected" in n for n in res.trace.notes)


def test_unverified_solutions_write_nothing(make_controller, memory):
    llm = ScriptedGenerator(lambda prompt, p: "<answer>5</answer>")
    res = make_controller(llm, memory, memory_mode="learning", budgets={"retries": 0}).solve(
        PROBLEM, lambda a: Verdict(ok=False))
    assert memory.concepts.names() == [] and memory.subroutines.count() == 0
    assert any("not verified" in n for n in res.trace.notes)
    assert not any(p.regex for p in llm.params)


def test_frozen_memory_reads_but_never_writes(make_controller, memory):
    llm = ScriptedGenerator(lambda prompt, p: "<answer>412</answer>")
    res = make_controller(llm, memory, memory_mode="frozen").solve(PROBLEM, lambda a: Verdict(ok=True), learn=None)
    assert res.end_reason == "verified"
    assert memory.concepts.names() == [] and not any(p.regex for p in llm.params)


def test_prime_shows_passages_in_the_user_turn_after_the_document_never_as_the_models_recall(make_controller):
    llm = ScriptedGenerator(["<answer>412</answer>"])
    res = make_controller(llm, prime=True).solve(PROBLEM)
    assert "The blue vault holds 412 maps." in [e.text for e in res.trace.evidence]
    assert all(e.source == "context" for e in res.trace.evidence)  # never the question read back
    user, assistant = llm.prompts[0].split("<|assistant|>")
    assert user.index("Document:") < user.index('- "The blue vault holds 412 maps."') < user.index("Question:")
    assert "<recall>" not in assistant and "<evidence>" not in assistant


def test_folding_moves_old_segments_out_but_keeps_them_recallable(make_controller):
    script = iter([
        "Step one: the secret code word is zebra-77. " + words(30, "pad"),
        "Step two: more work. " + words(30, "pad"),
        "Step three: still more. " + words(30, "pad"),
        "<recall>secret code word</recall>",
        "<answer>zebra-77</answer>",
    ])
    llm = ScriptedGenerator(lambda prompt, p: "Summary: code word noted." if "Summarise" in prompt else next(script))
    res = make_controller(llm, kv_policy="fold", kv_budget=75, budgets={"segment_tokens": 20, "segments": 8}).solve(
        Problem(id="f", prompt="What is the code word?"))
    assert res.trace.path[:6] == ["select_concepts", "prime", "think", "think", "think", "fold"]
    assert res.trace.segments[0].folded
    after_fold = llm.prompts[4]
    assert "Step one" not in after_fold and "Step two" in after_fold and "Step three" in after_fold
    last = llm.prompts[-1]
    assert "<folded>Summary: code word noted.</folded>" in last
    assert "<evidence>Step one: the secret code word is zebra-77.</evidence>" in last
    assert any(ev.source == "segment:0" and "zebra-77" in ev.text for ev in res.trace.evidence)
    assert res.answer == "zebra-77"
    assert all(llm.count_tokens(p) <= 75 for p in llm.prompts if "Summarise" not in p)


def test_impossible_kv_budget_ends_cleanly(make_controller):
    llm = ScriptedGenerator(lambda prompt, p: "Summary." if "Summarise" in prompt else "<answer>x</answer>")
    res = make_controller(llm, kv_policy="fold", kv_budget=10).solve(Problem(id="k", prompt="Q?"))
    assert res.end_reason == "budget:kv"


def test_kv_budget_without_folding_caps_the_live_context_and_records_why(make_controller):
    llm = ScriptedGenerator(lambda prompt, p: "x" if prompt.endswith("<answer>") else words(200, "step"))
    res = make_controller(llm, kv_policy="full", kv_budget=50, budgets={"segment_tokens": 40, "segments": 8}).solve(
        Problem(id="kv", prompt="Count the steps."))
    assert res.trace.attempts[0].end_reason == "budget:kv"
    thinking = [(p, o) for p, o in zip(llm.prompts, res.trace.segments) if not o.forced]
    assert thinking and all(llm.count_tokens(p) + o.generated_tokens <= 50 for p, o in thinking)
    assert "fold" not in res.trace.path


def test_diversity_mode_runs_one_branch_per_subroutine(make_controller, memory):
    subs = memory.subroutines.add_many([
        Subroutine(question="count maps in the blue vault", procedure="read the blue vault sentence"),
        Subroutine(question="count maps in a vault by guessing", procedure="guess a round number"),
    ])

    def model(prompt, p):
        if "guess a round number" in prompt:
            return words(20, "guessing") + " <answer>400</answer>"
        return "<answer>412</answer>"

    llm = ScriptedGenerator(model)
    res = make_controller(llm, memory, mode="diversity", vote="length").solve(PROBLEM)
    assert res.mode == "diversity:length" and len(res.trace.branches) == 2
    assert sorted(res.subroutines_offered) == sorted(s.id for s in subs)
    assert res.answer == "412"  # the shorter trace wins under the length rule
    winner = res.trace.branches[res.trace.chosen_branch]
    assert res.subroutines_used == winner.subroutines_offered
    assert res.generated_tokens == sum(b.generated_tokens for b in res.trace.branches)


def test_model_copy_sentence_choice(make_controller):
    def model(prompt, p):
        if p.choice:
            assert "The blue vault holds 412 maps." in p.choice
            return "The blue vault holds 412 maps."
        return "<recall>blue vault</recall>" if "<recall>blue vault</recall>" not in prompt else "<answer>412</answer>"

    llm = ScriptedGenerator(model)
    res = make_controller(llm, recall_mode="model-copy").solve(PROBLEM)
    assert [e.method for e in res.trace.evidence] == ["copy-sentence"]
    assert res.trace.evidence[0].text == "The blue vault holds 412 maps."


def test_model_copy_rejects_paraphrase_and_falls_back(make_controller):
    def model(prompt, p):
        if p.extra_args:
            return "the vault has about four hundred maps"
        return "<recall>blue vault</recall>" if "<recall>blue vault</recall>" not in prompt else "<answer>412</answer>"

    llm = ScriptedGenerator(model)
    llm.tokenizer = type("Tok", (), {"eos_token_id": 0, "encode": lambda self, t, add_special_tokens=False: [
        len(w) for w in t.split()]})()
    res = make_controller(llm, recall_mode="model-copy", copy_mechanism="token").solve(PROBLEM)
    assert any(n.startswith("copy rejected") for n in res.trace.notes)
    assert res.trace.evidence and all(e.method == "search" for e in res.trace.evidence)
    assert all(e.text in {"context": PROBLEM.context, "prompt": PROBLEM.prompt}[e.source] for e in res.trace.evidence)



def test_python_tool_runs_in_the_sandbox_and_shows_its_output(make_controller):
    llm = ScriptedGenerator(["Compute it. <python>\nx = 12 * 7\nprint(x + 1)\n</python>", "So <answer>85</answer>"])
    res = make_controller(llm).solve(Problem(id="py", prompt="What is 12*7+1?"))
    assert res.answer == "85"
    assert res.trace.path[:5] == ["select_concepts", "prime", "think", "run_python", "think"]
    call = next(c for c in res.trace.tool_calls if c.kind == "python")
    assert call.ok and call.output == "85"
    assert "<output>\n85\n</output>" in llm.prompts[1]


def test_python_tool_failures_are_shown_not_raised(make_controller):
    llm = ScriptedGenerator(["<python>import socket; socket.create_connection(('example.com', 80))</python>",
                             "<python>while True: pass</python>", "<answer>none</answer>"])
    res = make_controller(llm, budgets={"tool_calls": 2}).solve(Problem(id="py2", prompt="Try."))
    calls = [c for c in res.trace.tool_calls if c.kind == "python"]
    assert len(calls) == 2 and not any(c.ok for c in calls)
    assert res.answer == "none"


def test_arc_problems_are_shown_with_the_task_instruction(make_controller):
    from tools.domains.arc import ArcDomain

    ARC_TASK_INTRO = ArcDomain.intro

    llm = ScriptedGenerator(["<answer>x</answer>"])
    problem = Problem(id="arc1", domain="arc", prompt="Example 1 input (1x1):\n1")
    make_controller(llm).solve(problem)
    assert f"{ARC_TASK_INTRO}\n\nExample 1 input (1x1):\n1" in llm.prompts[0]
