import threading

import pytest

from agent.batching import BatchingGenerator
from agent.llm import GenParams
from tests.fakes import ScriptedGenerator


def test_concurrent_callers_share_one_batch() -> None:
    inner = ScriptedGenerator(lambda prompt, p: f"echo {prompt}")
    batcher = BatchingGenerator(inner, window=5.0)  # only "everyone is waiting" can dispatch early
    results: dict[int, str] = {}
    barrier = threading.Barrier(4)

    def work(i: int) -> None:
        with batcher.worker():
            barrier.wait()
            results[i] = batcher.generate([f"p{i}"], GenParams())[0].text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    batcher.close()
    assert results == {i: f"echo p{i}" for i in range(4)}
    assert batcher.batch_sizes == [4]


def test_errors_reach_every_caller_and_batcher_survives() -> None:
    def boom(prompt: str, p: GenParams) -> str:
        if prompt == "bad":
            raise RuntimeError("engine broke")
        return "fine"

    batcher = BatchingGenerator(ScriptedGenerator(boom), window=0.01)
    with pytest.raises(RuntimeError, match="engine broke"):
        batcher.generate(["bad"], GenParams())
    assert batcher.generate(["ok"], GenParams())[0].text == "fine"
    batcher.close()
