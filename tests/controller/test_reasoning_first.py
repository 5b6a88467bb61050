"""Reasoning first: the controller never stands between the model and a problem it can solve alone.

Each test pins one of the failure modes measured on Qwen2.5-Coder-1.5B (controller 47.5% vs the
model alone 65% on GSM8K): a tool menu and priming nobody asked for, answers cut from their
number, irrelevant memory injected, ARC programs lost when written before the end.
"""

from __future__ import annotations

from agent.controller.prompts import TOOLS_INTRO
from agent.llm import ChatMessage
from memory.schemas import Subroutine
from tests.fakes import ScriptedGenerator
from tools.domains import get_domain
from tools.domains.arc import ArcDomain
from tools.problem import Problem

ARC_TASK_INTRO = ArcDomain.intro

MATH = Problem(id="m1", domain="math", prompt="Tom has 3 boxes of 4 pens. How many pens?")


def test_plain_math_gets_exactly_the_model_alone_prompt(make_controller, memory):
    llm = ScriptedGenerator(["3 boxes of 4 pens is 12 pens. \\boxed{12}"])
    res = make_controller(llm, memory, prime=True).solve(MATH)
    alone = llm.render_chat([ChatMessage(role="user", content=get_domain("math").plain_prompt(MATH))])
    assert llm.prompts[0] == alone  # no system menu, no priming, no empty <options> block
    assert TOOLS_INTRO not in llm.prompts[0] and "<options>" not in llm.prompts[0]
    assert res.answer == "12" and res.end_reason == "answer"


def test_an_answer_sentence_is_read_as_its_number(make_controller):
    llm = ScriptedGenerator(["It takes 448 minutes. <answer>448 minutes</answer>"])
    assert make_controller(llm).solve(MATH).answer == "448"


def test_math_without_a_committed_answer_is_forced_in_boxed_form(make_controller):
    llm = ScriptedGenerator(["I think it is twelve pens in total.", "12"])
    res = make_controller(llm).solve(MATH)
    assert llm.prompts[-1].endswith("Final answer: \\boxed{") and llm.params[-1].stop == ["}"]
    assert res.answer == "12"


def test_only_relevant_procedures_are_offered(make_controller, memory):
    memory.subroutines.add_many([Subroutine(question="how to count pens in boxes",
                                            procedure="multiply boxes by pens per box")])
    strict = make_controller(ScriptedGenerator(["\\boxed{12}"]), memory, prime=True, budgets={"min_relevance": 0.99})
    res = strict.solve(MATH)
    assert res.subroutines_offered == [] and "<options>" not in strict.llm.prompts[0]
    assert "<subq>" not in strict.llm.prompts[0]  # subq is not even mentioned without procedures to show

    loose = make_controller(ScriptedGenerator(["\\boxed{12}"]), memory, prime=True, budgets={"min_relevance": 0.1})
    res = loose.solve(MATH)
    assert len(res.subroutines_offered) == 1
    assert "<options>" in loose.llm.prompts[0] and "<subq>" in loose.llm.prompts[0]


def test_a_procedure_is_used_only_when_its_own_tag_is_cited(make_controller, memory):
    subs = memory.subroutines.add_many([Subroutine(question=f"how to count pens, variant {i}", procedure="multiply")
                                        for i in range(12)])
    last = subs[-1].id
    cited = f"S{last}1"  # a longer tag that merely starts with the id's digits
    llm = ScriptedGenerator([f"Using {cited}. \\boxed{{12}}"])
    res = make_controller(llm, memory, prime=True, budgets={"subroutine_top_k": 12}).solve(MATH)
    assert last in res.subroutines_offered and last not in res.subroutines_used


def test_arc_program_written_before_the_end_is_the_answer(make_controller):
    program = "def transform(grid):\n    return [row[::-1] for row in grid]"
    llm = ScriptedGenerator([f"Mirror each row.\n```python\n{program}\n```\nThat should work for all examples."])
    res = make_controller(llm).solve(Problem(id="a1", domain="arc", prompt="Example 1 input (1x1):\n1"))
    assert ARC_TASK_INTRO in llm.prompts[0]
    assert res.answer == f"```python\n{program}\n```" and res.end_reason == "answer"


def test_document_problems_get_no_tool_menu_unless_recall_is_offered_and_then_after_the_document(make_controller):
    """Off by default (the 1.5B model used <recall> to answer without reasoning); offered, the menu follows the
    document in the user turn, so every arm's prompt still opens with the document."""
    problem = Problem(id="d", prompt="How many maps?", context="The vault holds 412 maps.")
    llm = ScriptedGenerator(["<answer>412</answer>"])
    make_controller(llm).solve(problem)
    assert TOOLS_INTRO not in llm.prompts[0] and "<recall>" not in llm.prompts[0]
    offered = ScriptedGenerator(["<answer>412</answer>"])
    make_controller(offered, offer_tools=["recall", "subq"]).solve(problem)
    prompt = offered.prompts[0]
    assert "<python>" not in prompt and "<|system|>" not in prompt
    assert prompt.index("Document:") < prompt.index(TOOLS_INTRO) < prompt.index("<recall>") < prompt.index("Question:")
