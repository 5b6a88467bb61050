"""benchmarks/throughput.py --small end to end on the real engine, so the published figure's script cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k_train.jsonl"
DATA = GSM8K if GSM8K.is_file() else ROOT / "examples" / "math_sample.jsonl"

pytestmark = pytest.mark.engine


def test_small_run_prints_and_writes_both_phases(tmp_path: Path) -> None:
    out = tmp_path / "throughput.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "throughput.py"), "--small", "--data", str(DATA),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio agent/raw" in proc.stdout and "raw vLLM" in proc.stdout
    fig = json.loads(out.read_text())
    for key in ("raw_tok_s", "agent_tok_s", "ratio", "problems", "model", "machine"):
        assert key in fig
    assert fig["problems"] == 4 and fig["model"] == "smollm2-135m" and fig["small"] is True
    assert fig["ratio"] == pytest.approx(fig["agent_tok_s"] / fig["raw_tok_s"], abs=1e-3)
    for phase in (fig["raw"], fig["agent"]):
        assert phase["generated_tokens"] > 0 and phase["tok_s"] > 0 and phase["problems_per_min"] > 0
        assert 0 < phase["latency_p50_s"] <= phase["latency_p95_s"] <= phase["wall_s"] + 0.05
        assert 0.0 <= phase["prefix_cache_hit_rate"] <= 1.0 and phase["prefix_cache_queries"] > 0
    # The agent re-sends its transcript with each segment, so its later segments find their prefix cached.
    assert fig["agent"]["prefix_cache_hits"] > 0
