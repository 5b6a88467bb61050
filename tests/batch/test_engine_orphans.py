"""`kill -9` of a running `mnemos solve` leaves no engine process behind, and the caller's pipes close.

Without the engine guard (agent/engine_guard.py) vLLM's engine core and worker lived on under PID 1 and kept the
caller's stdout/stderr open, so this test's ``communicate`` would hang.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_sigkill_of_mnemos_leaves_no_engine_process(tmp_path: Path) -> None:
    env = {**os.environ, "MNEMOS_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "agent.cli", "--model", "smollm2-135m", "--memory-mode", "off", "solve", "math",
           "--generate", "64", "--run-id", "orphans", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        engine: list[psutil.Process] = []
        while not any("EngineCore" in " ".join(_cmdline(p)) for p in engine):
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the engine never started"
            time.sleep(0.5)
            engine = _descendants(proc.pid)
        time.sleep(3)  # let the engine core start its own worker
        engine = _descendants(proc.pid)
        assert engine
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        gone, alive = psutil.wait_procs(engine, timeout=5)
        assert not alive, f"engine processes outlived mnemos by 5 s: {[(p.pid, _cmdline(p)) for p in alive]}"
        out, err = proc.communicate(timeout=5)  # EOF on both pipes: no survivor holds them
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _descendants(proc.pid):
            p.kill()


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return [p.name(), *p.cmdline()]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def test_two_mnemos_started_at_once_both_answer_on_disjoint_or_unpinned_cores(tmp_path: Path) -> None:
    """Issue 18: the second engine finds both of this machine's cores claimed and floats, saying so, instead of
    pinning its threads onto the first one's cores (or hanging)."""
    procs = []
    for i in range(2):
        env = {**os.environ, "MNEMOS_HOME": str(tmp_path / f"home{i}")}
        env.pop("VLLM_CPU_OMP_THREADS_BIND", None)
        procs.append(subprocess.Popen([sys.executable, "-m", "agent.cli", "--model", "smollm2-135m", "chat", "--once",
                                       "Say hello."], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    try:
        results = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-3000:]
        assert out.strip(), err[-3000:]
    said = [err for _, err in results if "pinned by another engine" in err]
    assert len(said) == 1, [err[-2000:] for _, err in results]
