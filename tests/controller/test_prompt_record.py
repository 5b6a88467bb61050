"""Every prompt the engine is sent, for a fixed set of math, ARC and text problems, stays byte-identical.

The scripted model answers through the real controller (and the plain arm), and
each prompt with its generation parameters is compared with the recording in
``fixtures/prompts.json``. A refactor that changes one byte of what the model
reads fails here. To re-record on purpose: ``MNEMOS_RECORD_PROMPTS=1 pytest`` this file.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from agent.config import Budgets, Settings
from agent.controller.state import Trace
from agent.controller.trials import ConceptTrials
from agent.evaluation.arms import plain_problem, plain_solver
from agent.llm import GenParams
from memory.schemas import Concept, Subroutine
from tests.fakes import ScriptedGenerator
from tools.domains import verifier_for
from tools.problem import Problem
from tools.tasks import arc

RECORDING = Path(__file__).parent / "fixtures" / "prompts.json"

DOC = ("The archive opened in 1931. Mira Okafor was the first curator of the archive. "
       "The blue vault holds 412 maps. The red vault holds 97 letters. Rain fell all week.")
TEXT = Problem(id="text1", domain="text", prompt="Who was the first curator of the archive?", context=DOC,
               gold="Mira Okafor")
MATH = Problem(id="math1", domain="math", prompt="Tom has 5 apples and buys 7 more. How many apples does he have?",
               gold="12")
TASK = arc.ArcTask(id="arc1", train=[arc.Pair(input=[[1, 0]], output=[[0, 1]]),
                                     arc.Pair(input=[[2, 3]], output=[[3, 2]])],
                   test=[arc.Pair(input=[[4, 0]], output=[[0, 4]])])
ARC = arc.to_problem(TASK)
HELD = Problem(id="math2", domain="math", prompt="Ann has 3 pens and buys 4 more. How many pens does she have?",
               gold="7")

CONCEPT = ("concept: adding counts\nkind: routine\ndescription: add the counts.\n"
           "cues: how many in total.\nnotes: add the numbers.\n")
DECOMPOSE = "Q: how many in total\nP: add the two counts\n"


def _scripted(queue: list[str]) -> ScriptedGenerator:
    """Constrained requests (choices, concept and sub-question formats) answer themselves; the rest come in order."""

    def answer(prompt: str, params: GenParams) -> str:
        if params.choice is not None:
            return params.choice[0]
        if params.regex is not None:
            return CONCEPT if params.regex.startswith("concept") else DECOMPOSE
        if not queue:
            raise AssertionError("scripted model ran out of outputs")
        return queue.pop(0)

    return ScriptedGenerator(answer)


def _calls(llm: ScriptedGenerator) -> list[dict[str, Any]]:
    return [{"prompt": p, "params": params.model_dump(mode="json")} for p, params in zip(llm.prompts, llm.params,
                                                                                          strict=True)]


def _seed(memory: Any) -> None:
    memory.concepts.add(Concept(name="adding counts", description="add the counts of items",
                                cues=["how many apples in total"], notes=["add the numbers"]))
    memory.subroutines.add_many([Subroutine(question="how many apples in total",
                                            procedure="add the counts of apples")])


def _record(make_controller: Any, memory: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    _seed(memory)

    llm = _scripted(["<subq>how many apples in total</subq>", "five " * 80, "11",
                     "Tom had 5 and 7 more, 5 + 7 = 12. \\boxed{12}"])
    make_controller(llm, memory, memory_mode="learning", budgets={"segments": 2},
                    offer_tools=["recall", "subq", "python"]).solve(MATH, verifier_for(MATH, "gold"))
    out["math_subq_forced_retry_learn"] = _calls(llm)

    llm = _scripted(["The rule swaps the two cells. " + "hmm " * 80, "def transform(grid):\n    return grid"])
    make_controller(llm, memory, memory_mode="frozen", budgets={"segments": 1}).solve(ARC, None)
    out["arc_forced_program"] = _calls(llm)

    llm = _scripted(["I need the curator. <recall>first curator of the archive</recall>",
                     "<answer>Mira Okafor</answer>"])
    make_controller(llm, None, prime=True, memory_mode="off").solve(TEXT, None)
    out["text_prime_recall_answer"] = _calls(llm)

    llm = _scripted(["word " * 30, "word " * 30, "summary of words", "more " * 30, "summary again",
                     "<answer>412</answer>"])
    make_controller(llm, None, memory_mode="off", kv_policy="fold", kv_budget=150,
                    budgets={"segment_tokens": 30, "fold_keep_parts": 1}).solve(TEXT, None)
    out["text_fold"] = _calls(llm)

    async def held(problem: Problem) -> list[Problem]:
        return [HELD]

    llm = _scripted(["3 + 4 = 7. \\boxed{7}", "\\boxed{7}"])
    trial = Concept(name="adding counts", description="add the counts", cues=["how many in total"], notes=["add"])
    asyncio.run(ConceptTrials(held, Budgets()).run(llm, MATH, [trial], Trace(problem_id=MATH.id)))
    out["concept_trial"] = _calls(llm)

    for problem in (MATH, ARC, TEXT):
        llm = _scripted(["The answer is \\boxed{12}. Test output 1: [[0, 4]]"])
        asyncio.run(plain_solver(llm, Settings(max_tokens=300))(plain_problem(problem), None))
        out[f"plain_{problem.domain}"] = _calls(llm)
    return out


def test_prompts_are_byte_identical_to_the_recording(make_controller, memory):
    got = _record(make_controller, memory)
    if os.environ.get("MNEMOS_RECORD_PROMPTS") == "1" or not RECORDING.exists():
        RECORDING.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    want = json.loads(RECORDING.read_text(encoding="utf-8"))
    assert sorted(got) == sorted(want)
    for name in want:
        assert len(got[name]) == len(want[name]), name
        for i, (g, w) in enumerate(zip(got[name], want[name], strict=True)):
            assert g == w, f"{name} call {i} differs"
