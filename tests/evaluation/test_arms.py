"""The plain arm: prompts, answer extraction, ARC grid parsing and the 2-attempt grid scoring."""

from __future__ import annotations

import asyncio
import json

import pytest

from agent.config import Settings
from agent.evaluation.arms import parse_arms, plain_problem, plain_solver
from tests.fakes import ScriptedGenerator
from tools.domains import get_domain
from tools.domains.arc_grid import ArcGridDomain, parse_arc_grids
from tools.domains.base import boxed_or_last_number as extract_math_answer
from tools.problem import Problem
from tools.tasks import arc

TASK = arc.ArcTask(id="t1", train=[arc.Pair(input=[[1, 0]], output=[[0, 1]])],
                   test=[arc.Pair(input=[[2, 0]], output=[[0, 2]]), arc.Pair(input=[[3, 0]], output=[[0, 3]])])


def test_parse_arms_keeps_the_order_given_and_checks():
    assert parse_arms("learning, plain,off") == ["learning", "plain", "off"]
    with pytest.raises(ValueError, match="unknown arm"):
        parse_arms("plain,magic")
    with pytest.raises(ValueError, match="twice"):
        parse_arms("off,off")
    with pytest.raises(ValueError, match="none given"):
        parse_arms(" , ")


@pytest.mark.parametrize(("text", "answer"), [
    ("So 3 + 4 = 7. The answer is \\boxed{7}.", "7"),
    ("First \\boxed{5}, no wait, \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("She has 1,250 coins left.", "1250"),
    ("It costs $12.50.", "12.50"),
    ("I am not sure.", None),
])
def test_math_answer_is_boxed_or_last_number(text, answer):
    assert extract_math_answer(text) == answer


def test_plain_math_solver_uses_the_chat_template_and_is_graded_by_the_math_verifier():
    llm = ScriptedGenerator(["Half of 48 is 24, and 48 + 24 = 72. So \\boxed{72} clips."])
    problem = Problem(id="q", domain="math", prompt="How many clips in total?", gold="72")
    result = asyncio.run(plain_solver(llm, Settings(max_tokens=300))(problem, None))
    assert llm.prompts[0].startswith("<|user|>How many clips in total?")
    assert "\\boxed{N}" in llm.prompts[0] and "<answer>" not in llm.prompts[0]
    assert llm.params[0].max_tokens == 300 and llm.params[0].stop == []
    assert result.answer == "72" and result.end_reason == "answer"
    assert result.trace["text"].startswith("Half of 48") and result.generated_tokens > 0
    assert get_domain("math").score(problem, result.attempts) == 1.0


def test_plain_math_solver_without_an_answer_says_why():
    llm = ScriptedGenerator(["Let me think about this carefully"])
    problem = Problem(id="q", domain="math", prompt="Q?", gold="1")
    result = asyncio.run(plain_solver(llm, Settings(max_tokens=3))(problem, None))
    assert result.answer is None and result.attempts == [] and result.end_reason == "length"


def test_arc_prompt_shows_pairs_and_every_test_input_as_json():
    problem = plain_problem(arc.to_problem(TASK))
    assert problem.domain == ArcGridDomain.name
    text = get_domain(problem.domain).plain_prompt(problem)
    assert "Example 1 input:\n[[1, 0]]" in text and "Example 1 output:\n[[0, 1]]" in text
    assert "Test input 2:\n[[3, 0]]" in text and "test inputs" in text
    assert "[[0, 2]]" not in text  # gold never shown


def test_parse_arc_grids_by_marker_in_order_and_missing():
    text = "Test output 2: [[0, 3]]\nTest output 1:\n[[0,\n 2]]"
    assert parse_arc_grids(text, 2) == [[[0, 2]], [[0, 3]]]
    assert parse_arc_grids("first [[1]] then [[2]]", 2) == [[[1]], [[2]]]
    assert parse_arc_grids("draft [[1]] final [[2]]", 1) == [[[2]]]
    assert parse_arc_grids("Test output 1: none", 2) == [None, None]
    assert parse_arc_grids("Test output 1: [[1, 12]]", 1) == [None]  # 12 is not a colour


def test_arc_grid_scoring_follows_the_two_attempt_rule_per_test_output():
    problem = plain_problem(arc.to_problem(TASK))
    domain = get_domain(ArcGridDomain.name)
    right, half = json.dumps([[[0, 2]], [[0, 3]]]), json.dumps([[[0, 2]], None])
    wrong = json.dumps([[[9]], [[9]]])
    assert domain.score(problem, [right]) == 1.0
    assert domain.score(problem, [half]) == 0.5
    assert domain.score(problem, [wrong, right]) == 1.0      # second attempt counts
    assert domain.score(problem, [wrong, wrong, right]) == 0.0  # a third does not
    assert domain.score(problem, []) == 0.0


def test_plain_arc_solver_end_to_end():
    problem = plain_problem(arc.to_problem(TASK))
    llm = ScriptedGenerator(["The colours move right.\nTest output 1: [[0, 2]]\nTest output 2: [[0, 3]]"])
    result = asyncio.run(plain_solver(llm, Settings())(problem, None))
    assert json.loads(result.answer) == [[[0, 2]], [[0, 3]]]
    assert get_domain(problem.domain).score(problem, result.attempts) == 1.0
