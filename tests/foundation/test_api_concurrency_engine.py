"""The Agent under concurrent use on the real engine (SmolLM2-135M): engine processes counted, not assumed.

One Agent serves the whole module, so the engine starts once (about 100 s on a busy 2-core box):
its first calls are 32 gathered ``asolve`` calls and 8 threads calling ``solve``, all at once; the
learning check reads what those calls wrote; the last test closes the Agent mid-flight.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agent.api import Agent, AgentClosedError, CallCancelledError
from agent.config import Settings
from agent.controller.checkpoint import sqlite_path
from agent.engine import Engine
from agent.engine.watch import EngineWatch
from agent.memory_access import open_memory
from memory.models import text_key
from tests.conftest import ENGINE_TEST_MODEL, MODEL_CACHE
from tools.problem import Problem, Verdict

pytestmark = pytest.mark.engine

VAULTS = "The red vault holds 97 maps. The blue vault holds 412 maps. Rain fell all week."
LEARN = Problem(id="p-blue-vault", prompt="How many maps are in the blue vault?", context=VAULTS)
LEARNERS = 4  # of the 32 gathered calls, these solve LEARN and learn from it at once
LEARN_AGAIN = ("Blue vault: how many maps? Answer with a number.", "Give the number of maps in the blue vault.",
               "Count the maps in the blue vault.", "The blue vault holds how many maps?")


def accept(answer: str) -> Verdict:
    """Every answer verified, so every solve learns (what the 135M model says does not matter here)."""
    return Verdict(ok=True, score=1.0)


@dataclass
class FirstCalls:
    agent: Agent
    settings: Settings
    watch: EngineWatch
    starts: int
    gathered: list = field(default_factory=list)
    threaded: list = field(default_factory=list)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstCalls]:
    home = tmp_path_factory.mktemp("concurrent") / "mnemos-home"
    settings = Settings(home=home, cache_dir=MODEL_CACHE, model=ENGINE_TEST_MODEL, memory_mode="learning",
                        prime_recall=False, max_model_len=2048, kv_cache_gib=1, max_num_seqs=16,
                        budgets={"segments": 1, "segment_tokens": 32, "tokens": 32, "retries": 0})
    agent = Agent(settings)
    starts: list[int] = []
    real_start = Engine.from_settings
    barrier = threading.Barrier(9)

    def thread_solve(i: int):
        barrier.wait()
        return agent.solve(f"Which vault holds {i} letters?", context=VAULTS, run_id="threads")

    async def gathered():
        barrier.wait()  # the 8 threads and this loop ask in the same instant
        return await asyncio.gather(
            *(agent.asolve(LEARN, verifier=accept, run_id=f"learn-{i}") for i in range(LEARNERS)),
            *(agent.asolve(f"How many maps are in vault {i}?", context=VAULTS, run_id="gathered")
              for i in range(32 - LEARNERS)))

    with pytest.MonkeyPatch.context() as mp, EngineWatch() as watch:
        mp.setattr(Engine, "from_settings", staticmethod(lambda s, **kw: starts.append(1) or real_start(s, **kw)))
        threads_out: list = [None] * 8
        threads = [threading.Thread(target=lambda i=i: threads_out.__setitem__(i, thread_solve(i))) for i in range(8)]
        for t in threads:
            t.start()
        results = asyncio.run(gathered())
        for t in threads:
            t.join(600)
        yield FirstCalls(agent, settings, watch, len(starts), results, threads_out)
        agent.close()


def test_32_gathered_and_8_threaded_first_calls_start_one_engine(first: FirstCalls) -> None:
    assert first.starts == 1
    assert len(first.watch.cores) == 1, f"engine core processes seen: {sorted(first.watch.cores)}"
    assert len(first.gathered) == 32 and all(r.episode_id for r in first.gathered)
    assert len(first.threaded) == 8 and all(r is not None and r.episode_id for r in first.threaded)
    assert first.agent.memory.episodes.count() == 40


def _wrote(results: list) -> bool:
    return any(c.ok for r in results for c in r.trace.tool_calls if c.kind in ("write_concepts", "write_subroutines"))


def test_concurrent_learning_solves_write_no_duplicate_memory(first: FirstCalls) -> None:
    learned = first.gathered[:LEARNERS]
    # Only a verified answer teaches, and with 32 tokens the 135M model sometimes gives none (which CPU
    # decides: bf16 and float32 differ). Then the same problem is asked again, worded otherwise, by
    # LEARNERS concurrent solves, so concurrent writes still happen; each wording is a fresh chance.
    for wording in LEARN_AGAIN:
        if _wrote(learned):
            break
        again = LEARN.model_copy(update={"prompt": wording})

        async def learners(problem: Problem = again) -> list:
            return await asyncio.gather(*(first.agent.asolve(problem, verifier=accept, run_id=f"again-{i}")
                                          for i in range(LEARNERS)))

        learned = asyncio.run(learners())
    assert _wrote(learned), "no solve wrote memory, so duplicates were never possible"
    memory = first.agent.memory
    concepts, subs = memory.concepts.list(limit=10_000), memory.subroutines.list(limit=10_000)
    assert len({c.name for c in concepts}) == len(concepts)
    assert len({(text_key(s.question), s.domain) for s in subs}) == len(subs)
    assert all(len(set(c.problems)) == len(c.problems) for c in concepts)
    assert memory.concepts.index.count == len(concepts) and memory.subroutines.index.count == len(subs)


def test_aclose_during_16_running_solves_kills_the_engine_and_keeps_the_database(first: FirstCalls) -> None:
    agent, settings = first.agent, first.settings
    written = agent.memory.episodes.count()

    finished: list[float] = []

    async def close_mid_flight() -> tuple[list, float]:
        running = [asyncio.ensure_future(agent.asolve(f"How many maps are in the blue vault? ({i})", context=VAULTS,
                                                      verifier=accept, run_id="closing")) for i in range(16)]
        for task in running:
            task.add_done_callback(lambda _: finished.append(time.monotonic()))
        await asyncio.sleep(1.0)  # every solve is in the engine by now; none can have learned yet
        assert not all(t.done() for t in running), "the solves finished before close; nothing was cancelled"
        start = time.monotonic()
        await agent.aclose()
        return await asyncio.gather(*running, return_exceptions=True), start

    outcomes, start = asyncio.run(close_mid_flight())
    while first.watch.alive() and time.monotonic() - start < 5:
        time.sleep(0.05)
    left = first.watch.alive()
    print(f"solves ended {max(finished) - start:.2f} s, engine processes checked {time.monotonic() - start:.2f} s "
          f"after aclose() began; alive: {left}")
    assert max(finished) - start < 2, "the solves were not cancelled promptly"
    cancelled = [o for o in outcomes if isinstance(o, CallCancelledError)]
    assert cancelled and all(isinstance(o, CallCancelledError) or o.episode_id for o in outcomes), outcomes
    with pytest.raises(AgentClosedError):
        agent.solve("Anything?")

    db = sqlite_path(settings.db_url)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with open_memory(settings) as memory:
        assert memory.episodes.count() == written + len(outcomes) - len(cancelled)
        assert len(memory.episodes.list(limit=1000)) == memory.episodes.count()
        assert memory.concepts.index.count == memory.concepts.count()
        assert memory.subroutines.index.count == memory.subroutines.count()
    assert not left, (f"engine processes left 5 s after aclose(): {left}; Engine.close() must shut vLLM down with "
                      "a short timeout (AsyncLLM.shutdown(timeout=1.0)): its default waits 5 s before killing a CPU "
                      "worker that ignores the shutdown")
