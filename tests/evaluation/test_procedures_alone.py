"""benchmarks/procedures_alone.py: a snapshot's procedures alone on the Game of 24 dev split, in the jail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.controller.procedures import extract_function
from agent.evaluation.snapshot import create_snapshot, store_paths
from benchmarks.procedures_alone import main
from memory import open_memory
from memory.schemas import Procedure
from tests.controller.conftest import HashEncoder
from tests.controller.programs24 import CORRECT, LEFT_TO_RIGHT
from tools.sandbox.run import sandbox_problem

needs_jail = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no jail here: {sandbox_problem()}")
SIG = "solve(numbers: list[int]) -> str | None"


def _snapshot(tmp_path: Path, home: Path, name: str, procedures: list[tuple[str, int]]) -> None:
    """A store holding ``procedures`` (code, check passes of 24), snapshotted as ``name``."""
    store = tmp_path / name
    memory = open_memory(*store_paths(store), HashEncoder())
    for code, passed in procedures:
        memory.procedures.add(Procedure(name="solve", signature=SIG, code=code, domain="game24", checked=24,
                                        passed=passed, baseline=0.0))
    memory.close()
    create_snapshot(store, home, name)


@needs_jail
def test_procedures_alone_count_what_the_offerable_ones_solve_on_dev(tmp_path: Path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MNEMOS_HOME", str(home))
    _snapshot(tmp_path, home, "partial", [(extract_function(LEFT_TO_RIGHT, "solve") or "", 6),
                                          ("def solve(numbers):\n    return None\n", 0)])  # the second: not offerable
    _snapshot(tmp_path, home, "general", [(extract_function(CORRECT, "solve") or "", 24)])
    out = tmp_path / "alone.json"

    assert main(["--snapshot", "partial", "--out", str(out)]) == 0
    partial = json.loads(out.read_text())
    assert partial["dev"] == 200 and len(partial["procedures"]) == 1 and partial["procedures"][0]["tried"] == 200
    assert 0 < partial["solved"] < 200

    assert main(["--snapshot", "general", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["solved"] == 200
