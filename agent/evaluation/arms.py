"""The arms of an ablation and the one that has no controller: the model alone.

``plain`` is the baseline every other arm is compared with, so it is built to be
what a user would do without mnemos: the chat template, a standard
chain-of-thought prompt, one generation, the answer taken from ``\\boxed{}`` (or
the last number) and graded by the same math verifier the batch runner uses.
For ARC the model is asked for the output grid(s) directly and scored by the
official rule (:func:`tools.tasks.arc.score_predictions`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.config import MemoryMode, Settings
from agent.controller.prompts import PLAIN_ARC_USER, PLAIN_COT_USER
from agent.llm import ChatMessage, GenParams, TextGenerator
from tools.tasks import arc
from tools.domains import register_domain
from tools.tasks.mathx import last_boxed
from tools.problem import Problem, Verifier

Arm = Literal["plain", "off", "frozen", "learning"]
ARMS: tuple[Arm, ...] = ("plain", "off", "frozen", "learning")
#: Arms that read the memory learned on the training part.
SNAPSHOT_ARMS: frozenset[str] = frozenset({"frozen", "learning"})

#: The domain plain ARC answers are scored in: a JSON list of predicted grids, one per test input.
ARC_GRID_DOMAIN = "arc-grid"


def parse_arms(text: str) -> list[Arm]:
    """``plain,off,frozen`` -> arms in the canonical order; unknown or repeated names are an error."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in names if a not in ARMS]
    if unknown or not names:
        raise ValueError(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(ARMS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"arm listed twice in {text!r}")
    return [a for a in ARMS if a in names]


def memory_mode(arm: Arm) -> MemoryMode:
    """The controller's memory mode for an arm (``plain`` runs no controller; its episodes say ``off``)."""
    return "off" if arm == "plain" else arm


class PlainResult(BaseModel):
    """What the batch runner reads from a solve (the fields :class:`agent.controller.SolveResult` shares)."""

    problem_id: str
    answer: str | None
    attempts: list[str] = Field(default_factory=list)
    end_reason: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    trace: dict[str, Any] = Field(default_factory=dict)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_math_answer(text: str) -> str | None:
    """The last ``\\boxed{}`` content, else the last number in the text (commas dropped), else None."""
    boxed = last_boxed(text)
    if boxed:
        return boxed
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


def _grid_json(g: arc.Grid) -> str:
    return "[" + ",\n ".join(json.dumps(row) for row in g) + "]"


def arc_plain_prompt(problem: Problem) -> str:
    """Training pairs and test inputs from the problem's metadata, as JSON grids."""
    train, tests = problem.meta.get("train"), problem.meta.get("test_inputs")
    if not train or not tests:
        raise ValueError(f"ARC problem {problem.id} lacks training pairs or test inputs in its metadata")
    parts = []
    for i, pair in enumerate(train, 1):
        parts.append(f"Example {i} input:\n{_grid_json(pair['input'])}\n"
                     f"Example {i} output:\n{_grid_json(pair['output'])}")
    for i, grid in enumerate(tests, 1):
        parts.append(f"Test input {i}:\n{_grid_json(grid)}")
    return PLAIN_ARC_USER.format(examples="\n\n".join(parts), plural="s" if len(tests) > 1 else "")


_JSON_GRID = re.compile(r"\[\s*\[[\d,\s\[\]]*\]\s*\]")
_TEST_MARK = re.compile(r"test\s+output\s*(\d+)\s*:?", re.IGNORECASE)


def _grids_in(text: str) -> list[arc.Grid]:
    found = []
    for match in _JSON_GRID.finditer(text):
        try:
            g = json.loads(match.group(0))
            arc.check_grid(g)
        except ValueError:
            continue
        found.append(g)
    return found


def parse_arc_grids(text: str, n_tests: int) -> list[arc.Grid | None]:
    """One predicted grid per test input: the first grid after "Test output N:", else grids in order.

    A missing prediction is None (it scores zero; it never borrows another test's grid).
    """
    marks = list(_TEST_MARK.finditer(text))
    preds: list[arc.Grid | None] = [None] * n_tests
    if marks:
        for j, m in enumerate(marks):
            k = int(m.group(1)) - 1
            end = marks[j + 1].start() if j + 1 < len(marks) else len(text)
            grids = _grids_in(text[m.end():end])
            if 0 <= k < n_tests and grids and preds[k] is None:
                preds[k] = grids[0]
    if not any(p is not None for p in preds):
        grids = _grids_in(text)
        if n_tests == 1 and grids:
            preds[0] = grids[-1]  # one test: the final grid written is the answer
        else:
            for k, g in enumerate(grids[:n_tests]):
                preds[k] = g
    return preds


class ArcGridDomain:
    """ARC answered with grids instead of a program; the 2-attempt rule applies per test output."""

    name = ARC_GRID_DOMAIN

    def verifier(self, problem: Problem) -> Verifier | None:
        return None

    def score(self, problem: Problem, attempts: list[str]) -> float:
        n_tests = len(problem.gold or [])
        per_test: list[list[arc.Grid | None]] = [[] for _ in range(n_tests)]
        for answer in attempts[: arc.MAX_ATTEMPTS]:
            try:
                grids = json.loads(answer)
            except (TypeError, json.JSONDecodeError):
                grids = parse_arc_grids(answer or "", n_tests)
            if not isinstance(grids, list):
                continue
            for k in range(min(n_tests, len(grids))):
                per_test[k].append(grids[k])
        return arc.score_predictions(problem.gold or [], per_test)


register_domain(ArcGridDomain())


def plain_problem(problem: Problem) -> Problem:
    """The problem as the plain arm sees it: ARC tasks are scored as grids, math as is."""
    return problem.model_copy(update={"domain": ARC_GRID_DOMAIN}) if problem.domain == "arc" else problem


def plain_prompt(problem: Problem) -> str:
    if problem.domain in ("arc", ARC_GRID_DOMAIN):
        return arc_plain_prompt(problem)
    question = f"{problem.context}\n\n{problem.prompt}" if problem.context else problem.prompt
    return PLAIN_COT_USER.format(question=question)


PlainSolver = Callable[[Problem, Verifier | None], Awaitable[PlainResult]]


def plain_solver(llm: TextGenerator, settings: Settings) -> PlainSolver:
    """An async batch :data:`~agent.batch.runner.Solver` that asks the model once, with no controller and no tags.

    Async, so every problem's request joins the engine's continuous batch as soon as it is made.
    """
    params = GenParams(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                       seed=settings.seed if settings.temperature > 0 else None)

    async def solve(problem: Problem, verifier: Verifier | None) -> PlainResult:
        t0 = time.perf_counter()
        prompt = llm.render_chat([ChatMessage(role="user", content=plain_prompt(problem))])
        out = (await llm.agenerate([prompt], params))[0]
        if problem.domain == ARC_GRID_DOMAIN:
            grids = parse_arc_grids(out.text, len(problem.meta.get("test_inputs") or []))
            answer = json.dumps(grids) if any(g is not None for g in grids) else None
        else:
            answer = extract_math_answer(out.text)
        end = "answer" if answer is not None else ("length" if out.finish_reason == "length" else "no_answer")
        return PlainResult(
            problem_id=problem.id, answer=answer, attempts=[answer] if answer is not None else [], end_reason=end,
            prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens, seconds=time.perf_counter() - t0,
            trace={"arm": "plain", "text": out.text, "finish_reason": out.finish_reason},
        )

    return solve
