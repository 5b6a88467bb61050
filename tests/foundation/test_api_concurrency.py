"""The Agent under concurrent use, on scripted models: one start however many first calls, and closing mid-flight.

The same behaviour on the real engine (counting its processes) is in test_api_concurrency_engine.py.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.api import Agent, AgentClosedError, CallCancelledError
from agent.controller.prompts import CONCEPT_REGEX, DECOMPOSE_REGEX
from agent.engine import Engine
from agent.once import Once
from tests.fakes import ScriptedGenerator
from tools.domains.text import TextDomain
from tools.problem import Problem, Verdict

VAULTS = "The red vault holds 97 maps. The blue vault holds 412 maps."
README = Path(__file__).resolve().parents[2] / "README.md"


def _reply(prompt: str, params) -> str:
    """Answers 412 when the blue vault is in the prompt, and any vault's count when shown the concept or the
    sub-question it writes when learning (so both pass their trials)."""
    if params.regex == CONCEPT_REGEX:
        return ("concept: read the named count\nkind: routine\ndescription: read the count named for the vault.\n"
                "cues: a vault and a number.\nnotes: from the vault problems.\n")
    if params.regex == DECOMPOSE_REGEX:
        return "Q: how many items does a named place keep\nP: find the sentence naming it and read its number\n"
    if params.choice:
        return "no" if "no" in params.choice else params.choice[0]
    shown = "read the named count" in prompt or "how many items does a named place keep" in prompt
    if shown and (count := re.search(r"holds (\d+) maps", prompt)):
        return f"<answer>{count.group(1)}</answer>"
    return "<answer>412</answer>" if "blue vault holds 412" in prompt else "<answer>0</answer>"


class FakeEngine(ScriptedGenerator):
    """A scripted model that knows whether it was closed; ``park`` makes every request wait until cancelled."""

    def __init__(self, script, park: bool = False):
        super().__init__(script)
        self.park = park
        self.closed = 0
        self.waiting = 0
        self.all_waiting = threading.Event()
        self.expect_waiting = 0

    async def agenerate(self, prompts, params):
        if self.park:
            self.waiting += 1
            if self.waiting >= self.expect_waiting:
                self.all_waiting.set()
            await asyncio.Event().wait()
        return await super().agenerate(prompts, params)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def starts(monkeypatch) -> list[FakeEngine]:
    """Engine.from_settings replaced by a 0.3 s start of a FakeEngine; the list holds every engine started."""
    started: list[FakeEngine] = []

    def start(settings, **_):
        time.sleep(0.3)  # long enough for every first call to arrive while it runs
        engine = FakeEngine(_reply)
        started.append(engine)
        return engine

    monkeypatch.setattr(Engine, "from_settings", staticmethod(start))
    return started


@pytest.fixture
def quiet(settings):
    return settings.model_copy(update={"prime_recall": False, "memory_mode": "off"})


# -- Once: the single-flight primitive ------------------------------------------------------------

def _slow_build(calls: list[int], gate: threading.Event, fail: bool = False) -> Callable[[], object]:
    def build() -> object:
        calls.append(1)
        gate.wait(5)
        if fail:
            raise OSError("no space left for the KV cache")
        return object()
    return build


def test_once_builds_one_value_for_coroutines_and_threads_asking_together() -> None:
    calls: list[int] = []
    gate = threading.Event()
    once = Once("engine", _slow_build(calls, gate))
    from_threads: list[object] = []
    threads = [threading.Thread(target=lambda: from_threads.append(once.get())) for _ in range(8)]

    async def many() -> list[object]:
        pending = asyncio.gather(*(once.aget() for _ in range(32)))
        await asyncio.sleep(0.05)
        for t in threads:
            t.start()
        await asyncio.sleep(0.05)
        gate.set()
        return await pending

    values = asyncio.run(many())
    for t in threads:
        t.join(5)
    assert len(calls) == 1
    assert len({id(v) for v in values + from_threads}) == 1


def test_a_failed_start_gives_every_waiter_the_same_error_and_the_next_call_retries() -> None:
    calls: list[int] = []
    gate = threading.Event()
    once = Once("engine", _slow_build(calls, gate, fail=True))

    async def many() -> list[BaseException]:
        pending = asyncio.gather(*(once.aget() for _ in range(16)), return_exceptions=True)
        await asyncio.sleep(0.05)
        gate.set()
        return await pending

    errors = asyncio.run(many())
    assert len(calls) == 1 and len({id(e) for e in errors}) == 1
    assert isinstance(errors[0], OSError) and "KV cache" in str(errors[0])
    assert once.peek() is None
    with pytest.raises(OSError):
        once.get()
    assert len(calls) == 2


def test_closing_while_a_start_runs_closes_what_it_started() -> None:
    gate = threading.Event()
    engine = FakeEngine(["x"])

    def build() -> FakeEngine:
        gate.wait(5)
        return engine

    once = Once("engine", build)
    waiter: list[BaseException] = []
    t = threading.Thread(target=lambda: waiter.append(pytest.raises(AgentClosedError, once.get).value))
    t.start()
    time.sleep(0.05)
    threading.Timer(0.1, gate.set).start()
    once.close()  # waits for the start, then closes its result
    t.join(5)
    assert engine.closed == 1 and "while its engine was starting" in str(waiter[0])
    with pytest.raises(AgentClosedError, match="closed"):
        once.get()


# -- the Agent ------------------------------------------------------------------------------------

def test_32_concurrent_first_asolves_start_one_engine(quiet, starts) -> None:
    async def run() -> list:
        async with Agent(quiet) as agent:
            return await asyncio.gather(*(agent.asolve("How many maps are in the blue vault?", context=VAULTS,
                                                       run_id=f"r{i}") for i in range(32)))

    results = asyncio.run(run())
    assert len(starts) == 1 and starts[0].closed == 1
    assert [r.answer for r in results] == ["412"] * 32


def test_8_threads_calling_solve_at_once_start_one_engine(quiet, starts) -> None:
    agent = Agent(quiet)
    barrier = threading.Barrier(8)
    answers: list[str | None] = []

    def worker(i: int) -> None:
        barrier.wait()
        answers.append(agent.solve("How many maps are in the blue vault?", context=VAULTS, run_id=f"t{i}").answer)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    agent.close()
    assert len(starts) == 1 and answers == ["412"] * 8
    assert starts[0].closed == 1


def test_aclose_cancels_running_solves_keeps_episodes_and_refuses_new_calls(quiet) -> None:
    engine = FakeEngine(_reply)
    agent = Agent(quiet, llm=engine)

    async def run() -> tuple[list, list[BaseException | object]]:
        done = [await agent.asolve("How many maps are in the blue vault?", context=VAULTS, run_id="before")]
        engine.park, engine.expect_waiting = True, 16
        running = asyncio.gather(*(agent.asolve(f"Problem {i}?", context=VAULTS, run_id="mid") for i in range(16)),
                                 return_exceptions=True)
        while not engine.all_waiting.is_set():
            await asyncio.sleep(0.01)
        await agent.aclose()
        return done, await running

    (before,), outcomes = asyncio.run(run())
    assert all(isinstance(o, CallCancelledError) and "closed while solve was running" in str(o) for o in outcomes)
    assert engine.closed == 1
    with pytest.raises(AgentClosedError, match="solve was refused"):
        agent.solve("again?")
    with pytest.raises(AgentClosedError):
        agent.memory  # noqa: B018 - the stores are not reopened either
    with Agent(quiet, llm=FakeEngine(["unused"])) as fresh:
        kept = fresh.memory.episodes.get(before.episode_id)
        assert kept.answer == "412" and kept.run_id == "before"
        assert fresh.memory.episodes.count() == 1  # the cancelled solves wrote nothing half-done


def test_close_from_another_thread_cancels_sync_solves_in_threads(quiet) -> None:
    engine = FakeEngine(_reply, park=True)
    engine.expect_waiting = 4
    agent = Agent(quiet, llm=engine)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            agent.solve(f"Problem {i}?", context=VAULTS)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    assert engine.all_waiting.wait(10)
    agent.close()
    for t in threads:
        t.join(10)
    assert len(errors) == 4 and all(isinstance(e, CallCancelledError) for e in errors)


def test_cancelling_ones_own_call_is_a_plain_cancellation(quiet) -> None:
    engine = FakeEngine(_reply, park=True)
    engine.expect_waiting = 1
    agent = Agent(quiet, llm=engine)

    async def run() -> None:
        task = asyncio.ensure_future(agent.asolve("Problem?", context=VAULTS))
        while not engine.all_waiting.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        engine.park = False
        assert (await agent.asolve("How many maps are in the blue vault?", context=VAULTS)).answer == "412"

    asyncio.run(run())
    agent.close()


def test_a_stream_is_cancelled_by_close_and_a_closed_agent_refuses_streams(settings) -> None:
    engine = FakeEngine(["unused"], park=True)
    engine.expect_waiting = 1
    agent = Agent(settings, llm=engine)

    async def run() -> None:
        async def consume() -> list[str]:
            return [piece async for piece in agent.achat_stream("hi")]

        task = asyncio.ensure_future(consume())
        while not engine.all_waiting.is_set():
            await asyncio.sleep(0.01)
        await agent.aclose()
        with pytest.raises(CallCancelledError, match="chat_stream"):
            await task

    asyncio.run(run())
    with pytest.raises(AgentClosedError, match="chat_stream was refused"):
        list(agent.chat_stream("hi"))


def test_concurrent_learning_solves_write_no_duplicate_memory(settings, monkeypatch) -> None:
    # Held problems for the concept's trial, which it passes (the model reads a count only when shown it).
    monkeypatch.setattr(TextDomain, "check_problems", lambda self, n, problem=None: [
        Problem(id=f"green{i}", prompt="How many maps are in the green vault?", context=f"The green vault holds {i} maps.",
                gold=str(i)) for i in range(1, n + 1)])
    learning = settings.model_copy(update={"prime_recall": False, "memory_mode": "learning"})
    with Agent(learning, llm=ScriptedGenerator(_reply)) as agent:
        async def run() -> list:
            return await asyncio.gather(*(agent.asolve("How many maps are in the blue vault?", context=VAULTS,
                                                       verifier=lambda a: Verdict(ok=a == "412"), run_id=f"l{i}")
                                          for i in range(8)))

        results = asyncio.run(run())
        assert all(r.verdict is not None and r.verdict.ok for r in results)
        memory = agent.memory
        concepts, subs = memory.concepts.list(limit=1000), memory.subroutines.list(limit=1000)
        assert [(c.name, c.trial_with, c.trial_without) for c in concepts] == [("read the named count", 8, 0)]
        assert len({(s.question.lower(), s.domain) for s in subs}) == len(subs) >= 1
        assert memory.concepts.index.count == len(concepts) and memory.subroutines.index.count == len(subs)


def readme_example(name: str) -> str:
    """The code block after ``<!-- example:NAME -->`` in the README, exactly as a reader copies it."""
    found = re.search(rf"<!-- example:{name} -->\n```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert found, f"README has no example {name!r}"
    return found.group(1)


def test_the_readme_concurrent_example_runs_as_written_on_one_engine(starts, capsys) -> None:
    code = compile(readme_example("concurrent"), "README.md:example:concurrent", "exec")
    exec(code, {"__name__": "__main__"})  # noqa: S102 - the README's own code, run as a reader would
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(" -> " in line for line in lines)
    assert len(starts) == 1 and starts[0].closed == 1
