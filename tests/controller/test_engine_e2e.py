"""One problem through every node on the real embedded model (vLLM) with real memory stores.

Asserts the graph's path and the records written, not the 135M model's correctness.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import Settings
from agent.controller import Controller
from memory.schemas import Concept, Episode, Subroutine
from tools.problem import Problem, Verdict

pytestmark = pytest.mark.engine

DOC = ("The museum opened in 1931. The blue vault holds 412 maps. The red vault holds 97 letters. "
       "Mira Okafor was the first curator. Rain fell all week in the harbour town.")
PROBLEM = Problem(id="p-e2e", prompt="How many maps does the blue vault hold?", context=DOC)


@pytest.fixture
def real_memory(tmp_path: Path, embedder):
    from memory import open_memory

    m = open_memory(f"sqlite:///{tmp_path / 'home' / 'mnemos.db'}", tmp_path / "home" / "indexes", embedder)
    yield m
    m.close()


def _settings(tmp_path: Path, **kw) -> Settings:
    base = {"home": tmp_path / "home", "memory_mode": "learning",
                "budgets": {"segments": 2, "segment_tokens": 48, "tokens": 96, "retries": 0}}
    base.update(kw)
    return Settings(**base)


def test_one_problem_through_all_nodes(engine, real_memory, tmp_path):
    [concept] = real_memory.concepts.add_many([Concept(name="vault inventory", description="count items stored in a vault",
                                                       cues=["a vault and a number of items"])])
    [sub] = real_memory.subroutines.add_many([Subroutine(question="how many items are in a vault",
                                                         procedure="find the sentence naming the vault; read its number")])
    seen: list[str] = []

    def verifier(answer: str) -> Verdict:
        # rejects the first answer it is shown, so the run must go through retry to be verified
        seen.append(answer)
        return Verdict(ok=len(seen) > 1, score=float(len(seen) > 1), feedback="Check the blue vault sentence again.")

    # MiniLM puts this concept at 0.48 from problem + document, under the default 0.5 bar; this test
    # exercises every node, the bar has its own tests.
    ctl = Controller(engine, real_memory, _settings(tmp_path, budgets={"segments": 2, "segment_tokens": 48,
                                                                       "tokens": 96, "retries": 1,
                                                                       "min_relevance": 0.4}))
    res = ctl.solve(PROBLEM, verifier=verifier, thread_id="e2e")

    path = res.trace.path
    assert path[:3] == ["select_concepts", "prime", "think"] and path[-2:] == ["verify", "learn"]
    assert path.count("retry") == 1 and path.count("verify") == 2
    # the verifier saw exactly the answers the controller recorded, and its verdicts are the trace's
    assert seen == res.attempts and res.answer == seen[-1]
    assert [a.verdict.ok for a in res.trace.attempts] == [False, True]
    assert res.concepts_offered == [concept.id] and res.subroutines_offered[0] == sub.id
    assert res.trace.evidence and all(ev.text in DOC or ev.text in PROBLEM.prompt for ev in res.trace.evidence)
    assert res.trace.node_stats["think"].generated_tokens > 0 and res.generated_tokens > 0
    assert res.end_reason == "verified" and res.verdict.ok
    # learning wrote through the stores: a subroutine was added; a concept is stored only after an A/B trial on held
    # problems of its family, and a text problem has none, so whatever the model wrote, no concept was added
    assert real_memory.subroutines.count() >= 2
    assert [c.name for c in real_memory.concepts.list()] == ["vault inventory"]
    assert not any(c.kind == "concept_trial" for c in res.trace.tool_calls)
    assert {c.kind for c in res.trace.tool_calls if c.node == "learn"} >= {"write_concepts", "write_subroutines"}
    # the caller stores the episode; its trace round-trips
    [ep] = real_memory.episodes.add_many([Episode(problem_id=PROBLEM.id, input=PROBLEM.prompt, answer=res.answer,
                                                  trace=res.trace.model_dump(mode="json"), verdict="correct")])
    assert real_memory.episodes.get(ep.id).trace["path"] == path
    # the checkpoint holds the finished run: solving the same thread again generates nothing
    again = Controller(engine, real_memory, _settings(tmp_path)).solve(PROBLEM, thread_id="e2e")
    assert again.trace.path == path


def test_model_copy_sentence_choice_is_verbatim(engine, tmp_path):
    ctl = Controller(engine, None, _settings(tmp_path, recall_mode="model-copy", memory_mode="off", prime_recall=True))
    res = ctl.solve(PROBLEM)
    copied = [e for e in res.trace.evidence if e.method == "copy-sentence"]
    assert copied, res.trace.notes
    assert all(DOC[e.start : e.start + len(e.text)] == e.text for e in copied)
