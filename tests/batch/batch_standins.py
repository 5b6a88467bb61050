"""Stand-ins for the controller in batch tests."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from tools.problem import Problem, Verifier


class FakeResult(BaseModel):
    """Same fields as agent.controller.state.SolveResult that the runner reads."""

    problem_id: str
    answer: str | None
    attempts: list[str] = Field(default_factory=list)
    end_reason: str = "answer"
    prompt_tokens: int = 10
    generated_tokens: int = 5
    seconds: float = 0.01
    trace: dict = Field(default_factory=dict)


def answer_gold(problem: Problem, verifier: Verifier | None, delay: float = 0.0) -> FakeResult:
    """Answers the gold for problems whose id ends in an even digit, '0' otherwise."""
    time.sleep(delay)
    right = problem.id[-1] in "02468"
    return FakeResult(problem_id=problem.id, answer=f"<answer>{problem.gold if right else 'nope'}</answer>")
