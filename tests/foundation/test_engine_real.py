"""The real vLLM engine on the embedded model (one engine for the session)."""

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from agent.engine import Engine, EngineError
from agent.llm import ChatMessage, GenParams
from tests.conftest import ENGINE_TEST_MODEL

pytestmark = pytest.mark.engine


def chat_prompt(engine: Engine, text: str) -> str:
    return engine.render_chat([ChatMessage(role="user", content=text)])


def first_number(text: str) -> str | None:
    found = re.search(r"\d+", text)
    return found.group() if found else None


def test_batch_returns_one_completion_each_with_counts(engine: Engine) -> None:
    prompts = [chat_prompt(engine, q) for q in ("Name a color.", "Name an animal please.", "Say hi.", "Count to three, slowly and carefully.")]
    outs = engine.generate(prompts, GenParams(max_tokens=12))
    assert len(outs) == 4
    for prompt, out in zip(prompts, outs):
        assert out.prompt_tokens == engine.count_tokens(prompt)
        assert 0 < out.generated_tokens <= 12
        assert out.text and out.seconds > 0
    assert len({o.prompt_tokens for o in outs}) > 1


def test_max_tokens_ends_with_length(engine: Engine) -> None:
    out = engine.generate(["Once upon a time"], GenParams(max_tokens=5))[0]
    assert out.generated_tokens == 5 and out.finish_reason == "length"


def test_stop_strings_stop(engine: Engine) -> None:
    out = engine.generate(["1, 2, 3, 4,"], GenParams(max_tokens=40, stop=[" 7"]))[0]
    assert out.stop_reason == " 7" and out.text.endswith(" 7")
    assert " 8" not in out.text
    dropped = engine.generate(["1, 2, 3, 4,"], GenParams(max_tokens=40, stop=[" 7"], include_stop=False))[0]
    assert not dropped.text.endswith(" 7") and dropped.stop_reason == " 7"


def test_choice_constraint_returns_a_member(engine: Engine) -> None:
    choices = ["The cat sat on the mat.", "Rain fell all night.", "Gold is heavy."]
    out = engine.generate([chat_prompt(engine, "Which sentence is about weather?")], GenParams(max_tokens=30, choice=choices))[0]
    assert out.text in choices


def test_stream_matches_generate(engine: Engine) -> None:
    prompt = chat_prompt(engine, "What is the capital of France?")
    params = GenParams(max_tokens=20)
    pieces = list(engine.stream(prompt, params))
    assert len(pieces) > 1
    assert "".join(pieces) == engine.generate([prompt], params)[0].text


def test_prompt_over_context_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="context"):
        engine.generate(["word " * 5000], GenParams(max_tokens=4))


def test_short_request_finishes_before_a_long_one_submitted_earlier(engine: Engine) -> None:
    """Continuous batching: a request returns when it ends, not when its batch's longest one does."""
    prompt = chat_prompt(engine, "Count from 1 to 200, one number per line.")
    done: dict[str, float] = {}

    async def one(name: str, max_tokens: int) -> int:
        out = (await engine.agenerate([prompt], GenParams(max_tokens=max_tokens)))[0]
        done[name] = time.perf_counter()
        return out.generated_tokens

    async def race() -> tuple[int, int]:
        long = asyncio.create_task(one("long", 160))
        await asyncio.sleep(0.05)
        short = asyncio.create_task(one("short", 4))
        return await long, await short

    long_tokens, short_tokens = asyncio.run(race())
    assert short_tokens == 4 and long_tokens > 40, "the long request must really be long"
    assert done["short"] < done["long"]


def test_agenerate_and_generate_from_many_threads_share_the_engine(engine: Engine) -> None:
    """Plain threads (generate) and foreign event loops (agenerate) are served at once, each with its own answer.

    Each prompt is a counting sequence with a different start, so a mixed-up reply shows; only the first number is
    compared, because batching changes float sums and a greedy tail may differ from run to run."""
    starts = (3, 17, 40, 71, 102, 250)
    prompts = [", ".join(str(s + j) for j in range(6)) + "," for s in starts]
    expected = [str(s + 6) for s in starts]
    assert [first_number(c.text) for c in engine.generate(prompts, GenParams(max_tokens=6))] == expected
    got: dict[int, str] = {}

    def work(i: int) -> None:
        if i % 2:
            got[i] = engine.generate([prompts[i]], GenParams(max_tokens=6))[0].text
        else:
            got[i] = asyncio.run(engine.agenerate([prompts[i]], GenParams(max_tokens=6)))[0].text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [first_number(got[i]) for i in range(6)] == expected


def test_cancelled_request_is_aborted_and_engine_goes_on(engine: Engine) -> None:
    prompt = chat_prompt(engine, "Count from 1 to 500.")

    async def cancel_one() -> None:
        task = asyncio.create_task(engine.agenerate([prompt], GenParams(max_tokens=400)))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = engine.stats()
    t0 = time.perf_counter()
    asyncio.run(cancel_one())
    assert engine.generate(["Hello"], GenParams(max_tokens=3))[0].generated_tokens == 3
    assert time.perf_counter() - t0 < 10  # the 400-token request did not run to its end
    assert (engine.stats() - before).generated_tokens < 400


def test_astream_from_a_foreign_loop_matches_generate(engine: Engine) -> None:
    prompt = chat_prompt(engine, "What is the capital of Italy?")
    params = GenParams(max_tokens=16)

    async def collect() -> list[str]:
        return [piece async for piece in engine.astream(prompt, params)]

    pieces = asyncio.run(collect())
    assert len(pieces) > 1 and "".join(pieces) == engine.generate([prompt], params)[0].text


def test_regex_constraint_and_token_counts(engine: Engine) -> None:
    out = engine.generate([chat_prompt(engine, "Give a number.")], GenParams(max_tokens=12, regex=r"[0-9]{3}"))[0]
    assert len(out.text) == 3 and out.text.isdigit()
    assert out.generated_tokens >= 1 and out.finish_reason == "stop"


def test_seeded_sampling_survives_chunked_prefill_on_cpu(engine: Engine) -> None:
    """vLLM 0.32's CPU worker died on a seeded request whose prefill was split ('CPU Generator does not use
    offset'); 16 seeded, sampled requests of ~600 tokens each are more than one step's batch."""
    long = " ".join(f"item {i} is a small red box." for i in range(90))
    prompts = [chat_prompt(engine, f"{long} Which item is number {i}?") for i in range(16)]
    outs = engine.generate(prompts, [GenParams(max_tokens=4, temperature=0.8, seed=i) for i in range(16)])
    assert len(outs) == 16 and all(o.generated_tokens > 0 for o in outs)
    assert sum(o.prompt_tokens for o in outs) > 8192
    assert engine.generate(["Say hi."], GenParams(max_tokens=3))[0].generated_tokens > 0  # still alive


def test_prefix_cache_hits_are_counted(engine: Engine) -> None:
    """A second request with the same long prefix reuses the first one's KV (the benchmark reports this rate)."""
    head = chat_prompt(engine, "Here is a long shared context. " + "The archive holds many maps and letters. " * 60)
    before = engine.stats()
    engine.generate([head + "First:"], GenParams(max_tokens=2))
    engine.generate([head + "Second:"], GenParams(max_tokens=2))
    delta = engine.stats() - before
    assert delta.prefix_queries >= 2 * engine.count_tokens(head)
    assert delta.prefix_hits >= engine.count_tokens(head) // 2
    assert 0 < delta.prefix_hit_rate < 1


def test_verbatim_logits_processor_copies_the_source(embedded_model_dir: Path) -> None:
    """The engine-level processor constrains only requests whose extra_args ask for a copy."""
    from agent.engine import VERBATIM_PROCESSOR
    from agent.engine.verbatim_span import EXTRA_KEY, copy_spec

    eng = Engine(embedded_model_dir, max_model_len=1024, kv_cache_gib=1, max_num_seqs=4,
                 logits_processors=[VERBATIM_PROCESSOR])
    try:
        source = "The blue vault holds 412 maps."
        ids = eng.tokenizer.encode(source, add_special_tokens=False)
        spec = copy_spec([ids], [eng.tokenizer.eos_token_id])
        prompt = chat_prompt(eng, "Tell me a story about dragons.")
        copied, free = eng.generate([prompt, prompt], [GenParams(max_tokens=len(ids) + 2, extra_args={EXTRA_KEY: spec}),
                                                       GenParams(max_tokens=len(ids) + 2)])
        assert copied.text and copied.text.strip() in source
        assert free.text.strip() not in source
    finally:
        eng.close()


def test_engine_start_failure_shows_root_cause(tmp_path: Path, embedded_model_dir: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg = json.loads((embedded_model_dir / "config.json").read_text())
    cfg["architectures"] = ["NoSuchModelForCausalLM"]
    (bad / "config.json").write_text(json.dumps(cfg))
    (bad / "model.safetensors").symlink_to(embedded_model_dir / "model.safetensors")
    for f in embedded_model_dir.glob("tokenizer*"):
        (bad / f.name).symlink_to(f)
    with pytest.raises(EngineError, match="failed to start") as err:
        Engine(bad, max_model_len=512)
    assert "NoSuchModelForCausalLM" in str(err.value)


def run_cli(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "agent.cli", "--model", ENGINE_TEST_MODEL, "--max-model-len", "2048",
                           "--max-tokens", "24", *args],
                          input=stdin, capture_output=True, text=True, timeout=600, env=env, cwd=cwd, check=False)


def test_chat_cli_end_to_end(tmp_path: Path) -> None:
    """A real subprocess: two turns, /save, /reset, /exit."""
    out = run_cli("chat", stdin="What is the capital of France?\nAnd of Italy?\n/save conv.json\n/reset\n/exit\n", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    saved = json.loads((tmp_path / "conv.json").read_text())
    assert [m["role"] for m in saved] == ["user", "assistant", "user", "assistant"]
    assert saved[1]["content"].strip() and saved[1]["content"].strip()[:20] in out.stdout  # the reply was shown
    assert saved[2]["content"] == "And of Italy?" and saved[3]["content"]
    assert "(conversation cleared)" in out.stdout
    assert "WARNING" not in out.stdout, "engine logs belong on stderr"


def test_chat_cli_solve_shows_live_trace(tmp_path: Path) -> None:
    """`chat --once --show-trace`: the controller graph runs on the real engine and its nodes are shown."""
    home = tmp_path / "home"
    out = run_cli("--home", str(home), "chat", "--once", "What is 2 + 3?", "--show-trace", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    for node in ("[select_concepts]", "[prime]", "[think]", "[learn]"):
        assert node in out.stderr
    assert "path: " in out.stderr and "episode " in out.stderr
    assert (home / "mnemos.db").is_file()
