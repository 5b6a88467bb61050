"""A written concept is stored only when showing it raised the model's own solve rate on held problems (A/B)."""

from __future__ import annotations

import asyncio
import re

import pytest

from agent.controller.prompts import CONCEPT_TRIAL_PROMPT
from agent.llm import GenParams
from tests.fakes import ScriptedGenerator
from tools.domains import DOMAINS
from tools.domains.base import Domain
from tools.problem import Problem, Verdict
from tools.tasks import mathx

CONCEPT = ("concept: doubling by addition\nkind: routine\ndescription: a number added to itself is twice it.\n"
           "cues: a sum of equal parts.\nnotes: multiply the number by two.\n")
PAIRS = "Q: what is a number added to itself\nP: multiply it by two\n"
SOURCE = Problem(id="src", domain="held", prompt="What is 500 plus 500?", gold="1000")
OTHER = Problem(id="src2", domain="held", prompt="What is 600 plus 600?", gold="1200")
NO_GOLD = Problem(id="nogold", domain="held", prompt="What is 700 plus 700?")
_QUESTION = re.compile(r"What is (\d+) plus \1\?")
TRIAL_OPENING = CONCEPT_TRIAL_PROMPT.split("{concept}")[0]


class HeldDomain(Domain):
    """A family whose check problems are doubling sums with gold, and which (wrongly) lists the source among them."""

    name = "held"

    def check_problems(self, n: int, problem: Problem | None = None) -> list[Problem]:
        held = [Problem(id=f"h{i}", domain=self.name, prompt=f"What is {i} plus {i}?", gold=str(2 * i))
                for i in range(1, n + 1)]
        return [SOURCE, NO_GOLD, *held]

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return float(bool(attempts) and attempts[-1].strip() == problem.gold)

    def final_answer(self, text: str) -> str | None:
        return mathx.tagged_answer(text)


@pytest.fixture(autouse=True)
def held_domain(monkeypatch):
    monkeypatch.setitem(DOMAINS, "held", HeldDomain())


def _is_trial(p: GenParams) -> bool:
    """A trial solve: asked as the plain arm asks, so no tags to stop at and no output format."""
    return not p.stop and p.regex is None and p.choice is None


def model(helps: bool):
    """Solves the source by the controller; on a held problem answers right only when shown the concept (if it
    ``helps``), else right on even numbers either way."""

    def reply(prompt: str, p: GenParams) -> str:
        if p.choice:
            return p.choice[0]
        if p.regex:
            return CONCEPT if p.regex.startswith("concept") else PAIRS
        if not _is_trial(p):
            return f"<answer>{int(_QUESTION.findall(prompt)[-1]) * 2}</answer>"
        n = int(_QUESTION.findall(prompt)[-1])
        right = ("doubling by addition" in prompt) if helps else n % 2 == 0
        return f"Twice {n}. <answer>{2 * n if right else n}</answer>"

    return ScriptedGenerator(reply)


def _learn(make_controller, memory, llm, problem=SOURCE, **kw):
    ctl = make_controller(llm, memory, memory_mode="learning", **kw)
    return ctl, ctl.solve(problem, lambda a: Verdict(ok=a == problem.gold))


def _calls(res, kind):
    return [c for c in res.trace.tool_calls if c.kind == kind]


def test_a_concept_that_makes_the_model_right_is_stored_with_its_figures(make_controller, memory):
    llm = model(helps=True)
    _, res = _learn(make_controller, memory, llm)
    [c] = memory.concepts.list()
    assert c.name == "doubling by addition" and (c.trial_with, c.trial_without, c.trial_n) == (8, 0, 8)
    [trial] = _calls(res, "concept_trial")
    assert (trial.node, trial.input, trial.output, trial.ok) == ("learn", "doubling by addition",
                                                                 "with 8/8, without 0/8: admitted", True)
    assert _calls(res, "write_concepts")[0].ok
    trials = [(q, p) for q, p in zip(llm.prompts, llm.params, strict=True) if _is_trial(p)]
    # 8 alone, 8 with the concept, 8 with the sub-question (which does not help this model: not stored)
    assert len(trials) == 24 and sum(TRIAL_OPENING in q for q, _ in trials) == 16
    [sub_trial] = _calls(res, "subroutine_trial")
    assert (sub_trial.input, sub_trial.ok) == ("what is a number added to itself", False)
    assert memory.subroutines.count() == 0
    assert all(p.max_tokens == 384 and p.temperature == 0 for _, p in trials)
    assert res.trace.node_stats["learn"].prompt_tokens > sum(llm.count_tokens(q) for q, _ in trials)
    assert "trial 8/8 with vs 0/8 without" in memory.concepts.line(c)


def test_a_concept_that_changes_no_answer_is_not_stored(make_controller, memory):
    _, res = _learn(make_controller, memory, model(helps=False))
    assert memory.concepts.count() == 0 and memory.subroutines.count() == 0
    [trial] = _calls(res, "concept_trial")
    assert trial.output == "with 4/8, without 4/8: not admitted" and not trial.ok
    assert not _calls(res, "write_concepts")[0].ok


def test_the_gain_must_reach_the_bar(make_controller, memory):
    _, res = _learn(make_controller, memory, model(helps=True), budgets={"concept_min_gain": 9})
    assert memory.concepts.count() == 0
    assert _calls(res, "concept_trial")[0].output == "with 8/8, without 0/8: not admitted"


def test_held_problems_never_include_the_problem_learned_from_or_lack_gold(make_controller, memory):
    llm = model(helps=True)
    ctl, _ = _learn(make_controller, memory, llm, budgets={"concept_trial_problems": 20})
    trial_prompts = [q for q, p in zip(llm.prompts, llm.params, strict=True) if _is_trial(p)]
    assert len(trial_prompts) == 60  # 20 alone, 20 with the concept, 20 with the sub-question
    assert not any(SOURCE.prompt in q or NO_GOLD.prompt in q for q in trial_prompts)
    held = asyncio.run(ctl.trials.held(SOURCE))
    assert len(held) == 20 and {p.id for p in held}.isdisjoint({"src", "nogold"})


def test_the_model_alone_is_measured_once_per_held_problem(make_controller, memory):
    llm = model(helps=True)
    ctl = make_controller(llm, memory, memory_mode="learning")
    ctl.solve(SOURCE, lambda a: Verdict(ok=a == SOURCE.gold))
    before = len(llm.prompts)
    res = ctl.solve(OTHER, lambda a: Verdict(ok=a == OTHER.gold))
    later = [q for q, p in zip(llm.prompts[before:], llm.params[before:], strict=True) if _is_trial(p)]
    # OTHER's held problems are SOURCE (a check problem not measured yet) and seven measured for SOURCE already.
    alone = [q for q in later if TRIAL_OPENING not in q]
    assert len(later) == 17 and len(alone) == 1 and SOURCE.prompt in alone[0]
    assert _calls(res, "concept_trial")[0].output == "with 8/8, without 0/8: admitted"


def test_a_family_without_held_problems_stores_no_concept_and_says_why(make_controller, memory):
    problem = Problem(id="m1", domain="math", prompt="What is 21 plus 21?", gold="42")
    llm = model(helps=True)
    _, res = _learn(make_controller, memory, llm, problem=problem)
    assert res.verdict.ok and memory.concepts.count() == 0 and memory.subroutines.count() == 1
    assert any("no held problems" in n and "'doubling by addition'" in n for n in res.trace.notes)
    assert not _calls(res, "concept_trial") and not any(_is_trial(p) for p in llm.params)


def model_with_pairs(pairs: str):
    """As :func:`model` (``helps=False``), writing ``pairs``; on a held problem right on even numbers, and always
    right when shown the sub-question "how to double a number"."""
    base = model(helps=False)

    def reply(prompt: str, p: GenParams) -> str:
        if p.regex and not p.regex.startswith("concept"):
            return pairs
        if _is_trial(p) and "how to double a number" in prompt:
            n = int(_QUESTION.findall(prompt)[-1])
            return f"<answer>{2 * n}</answer>"
        return base._next(prompt, p)

    return ScriptedGenerator(reply)


def test_a_sub_question_is_stored_only_if_showing_it_helps(make_controller, memory):
    """An invented worked example ("... falls on a Friday") that the model would copy is tried like a concept and
    kept only if held problems are solved more often with it shown."""
    helps = "Q: how to double a number\nP: add the number to itself\n"
    _, res = _learn(make_controller, memory, model_with_pairs(helps))
    [sub] = memory.subroutines.list()
    assert sub.question == "how to double a number"
    [trial] = _calls(res, "subroutine_trial")
    assert (trial.output, trial.ok, trial.figures) == (
        "with 8/8, without 4/8: admitted", True, {"trial_with": 8, "trial_without": 4, "trial_n": 8})


def test_a_family_without_held_problems_stores_sub_questions_untried(make_controller, memory):
    problem = Problem(id="m2", domain="math", prompt="What is 31 plus 31?", gold="62")
    _, res = _learn(make_controller, memory, model(helps=False), problem=problem)
    assert res.verdict.ok and memory.subroutines.count() == 1 and not _calls(res, "subroutine_trial")
