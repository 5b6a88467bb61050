"""The real vLLM engine on the embedded model (one engine for the session)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.batching import BatchingGenerator
from agent.engine import Engine, EngineError
from agent.llm import ChatMessage, GenParams

pytestmark = pytest.mark.engine


def chat_prompt(engine: Engine, text: str) -> str:
    return engine.render_chat([ChatMessage(role="user", content=text)])


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


def test_batching_generator_over_real_engine(engine: Engine) -> None:
    batcher = BatchingGenerator(engine, window=0.2)
    outs = batcher.generate(["Hello", "Goodbye"], GenParams(max_tokens=3))
    batcher.close()
    assert [o.generated_tokens for o in outs] == [3, 3]


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
    return subprocess.run([sys.executable, "-m", "agent.cli", "--max-model-len", "2048", "--max-tokens", "24", *args],
                          input=stdin, capture_output=True, text=True, timeout=600, env=env, cwd=cwd)


def test_chat_cli_end_to_end(tmp_path: Path) -> None:
    """A real subprocess: two turns, /save, /reset, /exit."""
    out = run_cli("chat", stdin="What is the capital of France?\nAnd of Italy?\n/save conv.json\n/reset\n/exit\n", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Paris" in out.stdout
    saved = json.loads((tmp_path / "conv.json").read_text())
    assert [m["role"] for m in saved] == ["user", "assistant", "user", "assistant"]
    assert saved[2]["content"] == "And of Italy?" and saved[3]["content"]
    assert "(conversation cleared)" in out.stdout


def test_chat_cli_solve_shows_live_trace(tmp_path: Path) -> None:
    """`chat --once --show-trace`: the controller graph runs on the real engine and its nodes are shown."""
    home = tmp_path / "home"
    out = run_cli("--home", str(home), "chat", "--once", "What is 2 + 3?", "--show-trace", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    for node in ("[select_concepts]", "[prime]", "[think]", "[learn]"):
        assert node in out.stderr
    assert "path: " in out.stderr and "episode " in out.stderr
    assert (home / "mnemos.db").is_file()
