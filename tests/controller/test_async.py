"""The controller as coroutines: concurrent solves on one loop, learning off the loop, the sync wrapper."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.llm import GenParams
from tests.fakes import ConstraintViolation, ScriptedGenerator
from tools.problem import Problem, Verdict

DOCS = {
    "a": ("The blue vault holds 412 maps. Rain fell.", "How many maps are in the blue vault?", "412"),
    "b": ("The red vault holds 97 letters. Snow fell.", "How many letters are in the red vault?", "97"),
}


def test_concurrent_asolves_interleave_on_one_loop(make_controller):
    order: list[str] = []

    def model(prompt: str, p: GenParams) -> str:
        pid = "a" if "blue vault" in prompt else "b"
        order.append(pid)
        if "<evidence>" not in prompt.split("<|assistant|>", 1)[1]:
            return "<recall>vault</recall>"
        return f"<answer>{DOCS[pid][2]}</answer>"

    llm = ScriptedGenerator(model)
    problems = [Problem(id=k, prompt=q, context=d) for k, (d, q, _) in DOCS.items()]

    async def both():
        # one controller per problem in flight, as the batch session lends them
        return await asyncio.gather(*(make_controller(llm).asolve(p) for p in problems))

    ra, rb = asyncio.run(both())
    assert (ra.answer, rb.answer) == ("412", "97")
    assert ra.trace.evidence[0].text == "The blue vault holds 412 maps."
    assert rb.trace.evidence[0].text == "The red vault holds 97 letters."
    assert order[:2] == ["a", "b"], "the second problem's first segment did not wait for the first problem"


def test_learning_writes_run_off_the_event_loop_thread(make_controller, memory):
    write_threads: list[threading.Thread] = []
    add_many = memory.subroutines.add_many

    def recording_add_many(items):
        write_threads.append(threading.current_thread())
        return add_many(items)

    memory.subroutines.add_many = recording_add_many
    concept = ("concept: read a named count\nkind: routine\ndescription: read the vault number.\n"
               "cues: a vault.\nnotes: find the vault sentence.\n")

    def model(prompt: str, p: GenParams) -> str:
        if p.regex and p.regex.startswith("concept"):
            return concept
        if p.regex:
            return "Q: how many items does a named place keep\nP: find the sentence naming it and read its number\n"
        return "<answer>412</answer>"

    ctl = make_controller(ScriptedGenerator(model), memory, memory_mode="learning")
    loop_thread: list[threading.Thread] = []

    async def run():
        loop_thread.append(threading.current_thread())
        return await ctl.asolve(Problem(id="p", prompt="How many maps?", context=DOCS["a"][0]),
                                lambda a: Verdict(ok=a == "412"))

    res = asyncio.run(run())
    assert res.end_reason == "verified" and memory.subroutines.count() == 1
    assert write_threads and all(t is not loop_thread[0] for t in write_threads)


def test_sync_solve_refuses_to_block_a_running_loop(make_controller):
    ctl = make_controller(ScriptedGenerator(["<answer>1</answer>"]))

    async def inside():
        ctl.solve(Problem(id="x", prompt="Q?"))

    with pytest.raises(RuntimeError, match="await Controller.asolve"):
        asyncio.run(inside())


def test_sync_solve_works_from_worker_threads(make_controller):
    results = {}

    def work(name: str) -> None:
        ctl = make_controller(ScriptedGenerator([f"<answer>{name}</answer>"]))
        results[name] = ctl.solve(Problem(id=name, prompt="Q?")).answer

    threads = [threading.Thread(target=work, args=(n,)) for n in ("t1", "t2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"t1": "t1", "t2": "t2"}


def test_fake_model_enforces_structured_output_constraints():
    llm = ScriptedGenerator(["maybe", "free text"])
    with pytest.raises(ConstraintViolation, match="allowed choices"):
        llm.generate(["q"], GenParams(choice=["yes", "no"]))
    with pytest.raises(ConstraintViolation, match="regex"):
        llm.generate(["q"], GenParams(regex=r"Q: [^\n]+\n"))


def test_an_invalid_scripted_choice_fails_the_solve_instead_of_being_replaced(make_controller, memory):
    from memory.schemas import Concept

    memory.concepts.add_many([Concept(name="vault inventory", description="count items in a vault")])
    llm = ScriptedGenerator(lambda prompt, p: "sure" if p.choice else "<answer>412</answer>")
    with pytest.raises(ConstraintViolation):
        make_controller(llm, memory).solve(Problem(id="c", prompt="How many maps are in the vault?"))
