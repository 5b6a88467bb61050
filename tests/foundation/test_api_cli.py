import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.api import Agent
from agent.cli import build_parser, main
from tests.fakes import ScriptedGenerator


def test_every_command_is_registered_with_its_own_help(capsys) -> None:
    for cmd in ("chat", "doctor", "memory", "solve", "report", "trace"):
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([cmd, "--help"])
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: mnemos {cmd}")
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["no-such-command"])
    assert done.value.code == 2


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "agent.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mnemos ")


def test_missing_model_dir_is_a_clear_cli_error(tmp_path: Path, capsys) -> None:
    rc = main(["--model", str(tmp_path / "nope"), "chat", "--once", "hi"])
    assert rc == 1
    assert "model directory does not exist" in capsys.readouterr().err


def test_agent_chat_keeps_history_and_saves(settings, tmp_path: Path) -> None:
    llm = ScriptedGenerator(["Hello there.", "Paris."])
    agent = Agent(settings, llm=llm)
    assert agent.chat("hi") == "Hello there."
    assert agent.chat("capital of France?") == "Paris."
    assert "hi" in llm.prompts[1] and "Hello there." in llm.prompts[1]  # earlier turns are in the prompt
    saved = json.loads(agent.save(tmp_path / "conv.json").read_text())
    assert [m["role"] for m in saved] == ["user", "assistant", "user", "assistant"]
    agent.reset()
    assert agent.history == []
