"""ARC through the procedure store: a verified program is kept as the family's procedure, and every stored program
is tried on a new task's training pairs (gold-free) before the model is asked anything.

The model is scripted; every program really runs in the jail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.config import Settings
from agent.controller import Controller
from agent.llm import GenParams
from memory.schemas import Procedure
from tests.fakes import ScriptedGenerator
from tools.domains import GoldVerifier, get_domain
from tools.problem import Problem
from tools.sandbox.run import sandbox_problem
from tools.tasks import arc

needs_jail = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no jail here: {sandbox_problem()}")

FLIP = "def transform(grid):\n    return [row[::-1] for row in grid]"
TRANSPOSE = "def transform(grid):\n    return [list(r) for r in zip(*grid)]"
MIRROR = "def transform(grid):\n    return [list(reversed(row)) for row in grid]"


def _problem(tid: str, pairs: list[tuple[list[list[int]], list[list[int]]]], test: tuple) -> Problem:
    task = arc.ArcTask(id=tid, train=[{"input": i, "output": o} for i, o in pairs],
                       test=[{"input": test[0], "output": test[1]}])
    return arc.to_problem(task, "test")


def _flips(tid: str, seed: int) -> Problem:
    grids = [[[seed, 1, 2], [3, 4, 5]], [[6, seed, 0, 1]], [[2, 2, seed]]]
    flip = [[row[::-1] for row in g] for g in grids]
    return _problem(tid, list(zip(grids[:2], flip[:2], strict=True)), (grids[2], flip[2]))


def _controller(llm: ScriptedGenerator, memory: object, tmp_path: Path, mode: str, samples: int = 0,
                **settings_kw: object) -> Controller:
    settings = Settings(home=tmp_path / "home", memory_mode=mode,  # type: ignore[arg-type]
                        budgets={"segments": 1, "segment_tokens": 64, "retries": 0, "procedure_samples": samples},
                        **settings_kw)
    return Controller(llm, memory, settings, InMemorySaver())


CONCEPT = ("concept: Mirror each row\nkind: routine\ndescription: Reverse every row of the grid.\n"
           "cues: The output is the input seen in a mirror.\nnotes: Reverse each row; keep the row order.\n")


def _writes(code: str) -> ScriptedGenerator:
    """Writes ``code`` when asked to solve, and a concept when learning asks for one or for subroutines (their regexes enforced)."""
    def reply(prompt: str, params: GenParams) -> str:
        if params.regex and params.regex.startswith("Q:"):
            return "Q: How is each row changed?\nP: Reverse its order.\n"
        return CONCEPT if params.regex else f"```python\n{code}\n```"

    return ScriptedGenerator(reply)


@needs_jail
def test_a_verified_training_program_is_kept_and_answers_a_new_task_of_its_rule_without_the_model(memory, tmp_path):
    train = _flips("train-flip", 7)
    learned = _controller(_writes(FLIP), memory, tmp_path, "learning").solve(train, verifier=GoldVerifier(train))
    assert learned.verdict is not None and learned.verdict.ok and "keep_program" in learned.trace.path
    [kept] = memory.procedures.list()
    assert (kept.domain, kept.name, kept.checked, kept.passed) == ("arc", "transform", 2, 2)
    assert kept.evidence == ["train-flip"] and "def transform" in kept.code

    dev = _flips("dev-flip", 9)
    quiet = ScriptedGenerator(lambda prompt, params: "I do not know.")
    solved = _controller(quiet, memory, tmp_path, "frozen").solve(dev)
    assert solved.end_reason == "procedure" and not quiet.prompts  # no model call at all
    assert get_domain("arc").score(dev, solved.attempts) == 1.0
    [call] = [c for c in solved.trace.tool_calls if c.kind == "apply_procedure"]
    assert call.ok and call.ids == [kept.id]


@needs_jail
def test_learning_samples_programs_and_keeps_only_those_right_on_the_pairs_and_the_test(memory, tmp_path):
    """Two samples, one right: it is kept and is the answer, and the graph never runs."""
    train = _flips("train-flip", 4)

    def reply(prompt: str, params: GenParams) -> str:
        assert params.temperature > 0 and params.seed is not None
        return f"```python\n{FLIP if params.seed % 2 else TRANSPOSE}\n```"

    llm = ScriptedGenerator(reply)
    result = _controller(llm, memory, tmp_path, "learning", samples=2).solve(train, reference=str(train.gold))
    assert result.end_reason == "learned_procedure" and len(llm.prompts) == 2
    assert get_domain("arc").score(train, result.attempts) == 1.0
    [kept] = memory.procedures.list()
    assert "row[::-1]" in kept.code
    samples = [c for c in result.trace.tool_calls if c.kind == "procedure_sample"]
    assert sorted(c.ok for c in samples) == [False, True] and [c.ids for c in samples if c.ok] == [[kept.id]]


@needs_jail
def test_a_training_sample_right_on_the_pairs_but_wrong_on_the_test_output_is_not_kept(memory, tmp_path):
    wrong_test = _problem("t2", [([[1, 2]], [[2, 1]]), ([[3, 4, 5]], [[5, 4, 3]])], ([[1, 2]], [[1, 2]]))
    flips = ScriptedGenerator(lambda p, q: f"```python\n{FLIP}\n```")
    result = _controller(flips, memory, tmp_path, "learning", samples=2).solve(wrong_test,
                                                                              reference=str(wrong_test.gold))
    # and a training task learns by sampling only: the graph is not run after the samples failed
    assert not memory.procedures.list() and result.end_reason == "no_procedure" and len(flips.prompts) == 2


@needs_jail
def test_a_stored_program_that_fails_a_tasks_training_pairs_is_never_its_answer(memory, tmp_path):
    memory.procedures.add(Procedure(name="transform", signature=get_domain("arc").procedure_signature or "",
                                    code=TRANSPOSE, domain="arc", checked=2, passed=2))
    dev = _flips("dev-flip", 3)
    llm = ScriptedGenerator(lambda prompt, params: "```python\ndef transform(grid):\n    return grid\n```")
    result = _controller(llm, memory, tmp_path, "frozen").solve(dev)
    assert result.end_reason != "procedure" and llm.prompts  # the model was asked after the stored one failed
    [call] = [c for c in result.trace.tool_calls if c.kind == "apply_procedure"]
    assert not call.ok and "reproduced" in call.output
    assert get_domain("arc").score(dev, result.attempts) == 0.0


@needs_jail
def test_two_stored_programs_that_pass_are_the_two_official_attempts(memory, tmp_path):
    sig = get_domain("arc").procedure_signature or ""
    for code in (FLIP, MIRROR, TRANSPOSE):
        memory.procedures.add(Procedure(name="transform", signature=sig, code=code, domain="arc", checked=2, passed=2))
    dev = _flips("dev-flip", 5)
    result = _controller(ScriptedGenerator(lambda p, q: ""), memory, tmp_path, "frozen").solve(dev)
    assert result.end_reason == "procedure" and len(result.attempts) == 2
    ran = [c for c in result.trace.tool_calls if c.kind == "apply_procedure"]
    assert [c.ok for c in ran] == [True, True]  # stops at two: the third is never run


def test_smallest_tasks_are_chosen_by_grid_cells():
    small, big = _flips("a", 1), _problem("b", [([[1] * 5] * 5, [[1] * 5] * 5)], ([[1]], [[1]]))
    assert arc.grid_cells(small) == 6 + 6 + 4 + 4 + 3 and arc.grid_cells(big) == 51
    assert [p.id for p in arc.smallest([big, small], 1)] == ["a"]
