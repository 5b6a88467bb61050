"""benchmarks/kvcache.py at toy sizes, so the figures' script cannot rot between hand runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "kvcache.py"
POLICIES = ("full", "sink_window", "snapkv", "rkv", "kivi8", "kivi4")

pytestmark = pytest.mark.slow


def _run(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def test_side_by_side_rows_for_every_policy(embedded_model_dir: Path) -> None:
    lines = _run("--model", str(embedded_model_dir), "--new-tokens", "12", "--budgets", "0.5")
    rows = [line.split() for line in lines if line.split()[:1] == ["0"]]
    assert [r[1] for r in rows] == ["full", "kivi8", "kivi4", "sink_window", "snapkv", "rkv", "kivi8", "kivi4"]
    full = rows[0]
    assert full[2] == "100%" and full[3] == "12" and float(full[4]) == 1.0


def test_math_mode_reports_accuracy_per_policy(embedded_model_dir: Path) -> None:
    lines = _run("--model", str(embedded_model_dir), "--math", str(ROOT / "examples" / "math_sample.jsonl"),
                 "--limit", "2", "--new-tokens", "8", "--budgets", "0.5")
    assert "2 problems from math_sample.jsonl" in lines[0]
    table = [line.split() for line in lines[2:]]
    assert tuple(r[0] for r in table) == POLICIES
    for row in table:
        assert row[2].endswith("%") and row[3].endswith("/2")
