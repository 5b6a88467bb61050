"""The default named model can reason: the thing every accuracy figure in the project rests on.

Slow (starts vLLM on Qwen2.5-Coder-1.5B-Instruct, converting it on first use), so marked
``engine`` and ``slow``; it runs in CI because a default that cannot do arithmetic makes every
memory and controller measurement meaningless.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.embedded import DEFAULT_MODEL, resolve_model
from agent.llm import ChatMessage, GenParams
from tools.tasks.mathx import answers_equivalent, last_boxed

pytestmark = [pytest.mark.engine, pytest.mark.slow]

GSM8K_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "gsm8k_train.jsonl"
#: Five short, easy training problems (line numbers in gsm8k_train.jsonl), fixed so the test is repeatable.
EASY = (2348, 6469, 5645, 1646, 1214)
PLAIN = "{q}\nThink step by step, then give the final answer as \\boxed{{N}}."


@pytest.fixture(scope="module")
def default_engine() -> Iterator[object]:
    from agent.config import default_cache
    from agent.engine import Engine

    # The session's SmolLM2 engine may still be up with its worker pinned to core 0; a second pinned
    # worker would starve on a 2-core machine, so this one floats.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLLM_CPU_OMP_THREADS_BIND", "nobind")
        eng = Engine(resolve_model(DEFAULT_MODEL, default_cache()), max_model_len=4096, kv_cache_gib=2, max_num_seqs=8)
    yield eng
    eng.close()


def test_default_model_multiplies(default_engine) -> None:
    out = default_engine.generate([default_engine.render_chat([ChatMessage(role="user", content="What is 12*7?")])],
                                  GenParams(max_tokens=64))[0]
    assert "84" in out.text, out.text


@pytest.mark.skipif(not GSM8K_TRAIN.is_file(), reason=f"needs {GSM8K_TRAIN} (the shared data folder beside the repo)")
def test_default_model_solves_easy_gsm8k(default_engine) -> None:
    lines = GSM8K_TRAIN.read_text().splitlines()
    rows = [json.loads(lines[i]) for i in EASY]
    prompts = [default_engine.render_chat([ChatMessage(role="user", content=PLAIN.format(q=r["question"]))]) for r in rows]
    outs = default_engine.generate(prompts, GenParams(max_tokens=384))
    golds = [r["answer"].split("####")[-1].strip() for r in rows]
    solved = [answers_equivalent(g, last_boxed(o.text)) for g, o in zip(golds, outs, strict=True)]
    assert sum(solved) >= 3, [(g, last_boxed(o.text)) for g, o in zip(golds, outs, strict=True)]


def test_defaults_are_sized_by_the_model() -> None:
    """No fixed 4096: the 1.5B gets the 16k context ARC prompts need, the 135M model its own 8k."""
    from agent.config import Settings, default_cache
    from agent.engine import planned_memory

    qwen = planned_memory(Settings(), resolve_model(DEFAULT_MODEL, default_cache()))
    smol = planned_memory(Settings(model="smollm2-135m"), resolve_model("smollm2-135m", default_cache()))
    assert qwen == (16384, 2.0)  # 4 x 16384 tokens x 28 KiB/token = 1.75 GiB, floored at 2
    assert smol[0] == 8192
    assert planned_memory(Settings(max_model_len=4096, kv_cache_gib=3), resolve_model(DEFAULT_MODEL, default_cache())) \
        == (4096, 3)
