"""The engine's CPU choice: from the machine, overridable, and disjoint between engines (no engine started here)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.config import Settings
from agent.engine.cpu_plan import CoreClaims, CpuSettings, cpu_dtype, native_bf16, parse_cores, plan_cpu


@pytest.fixture
def claims_dir(tmp_path: Path) -> Path:
    return tmp_path / "cores"


def test_small_machine_reserves_no_core_and_binds_all(claims_dir: Path) -> None:
    claims = CoreClaims(claims_dir)
    plan = plan_cpu(CpuSettings(preload=[]), {}, cores=[0, 1], claims=claims)
    assert plan.reserved == 0 and plan.bound == [0, 1] and plan.bind == "0,1"
    assert plan.env() == {"VLLM_CPU_OMP_THREADS_BIND": "0,1", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    assert "2 usable cores <= 4" in plan.describe()
    claims.release()


def test_large_machine_keeps_vllms_scheduler_core(claims_dir: Path) -> None:
    plan = plan_cpu(CpuSettings(preload=[]), {}, cores=list(range(8)), claims=CoreClaims(claims_dir))
    assert plan.reserved is None and plan.bound == list(range(7))
    assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in plan.env()


def test_environment_overrides_the_choice_and_settings_override_the_environment() -> None:
    env = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1", "VLLM_CPU_OMP_THREADS_BIND": "nobind", "LD_PRELOAD": "/x/libfoo.so"}
    plan = plan_cpu(CpuSettings(), env, cores=[0, 1])
    assert (plan.reserved, plan.bind, plan.bound, plan.preload) == (1, "nobind", [], ["/x/libfoo.so"])
    assert any("from VLLM_CPU_NUM_OF_RESERVED_CPU in the environment" in r for r in plan.reasons)
    plan = plan_cpu(CpuSettings(reserved_cores=0, bind="1", preload=[]), env, cores=[0, 1])
    assert (plan.reserved, plan.bind, plan.bound, plan.preload) == (0, "1", [1], [])
    assert any("cpu.bind setting" in r for r in plan.reasons)


def test_settings_reach_the_plan_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNEMOS_CPU__BIND", "nobind")
    monkeypatch.setenv("MNEMOS_CPU__RESERVED_CORES", "1")
    cpu = Settings().cpu
    assert (cpu.bind, cpu.reserved_cores, cpu.tune) == ("nobind", 1, True)


def test_second_engine_gets_the_free_cores_then_floats(claims_dir: Path) -> None:
    first, second, third = CoreClaims(claims_dir), CoreClaims(claims_dir), CoreClaims(claims_dir)
    a = plan_cpu(CpuSettings(bind="0-1", preload=[]), {}, cores=[0, 1, 2, 3], claims=first)
    b = plan_cpu(CpuSettings(preload=[]), {}, cores=[0, 1, 2, 3], claims=second)
    assert a.bound == [0, 1] and b.bound == [2, 3]
    assert "pinned by another engine" in b.describe()
    c = plan_cpu(CpuSettings(preload=[]), {}, cores=[0, 1, 2, 3], claims=third)
    assert c.bind == "nobind" and c.bound == [] and "every usable core is pinned" in c.describe()
    first.release()
    second.release()
    again = plan_cpu(CpuSettings(preload=[]), {}, cores=[0, 1, 2, 3], claims=third)
    assert again.bound == [0, 1, 2, 3]
    third.release()


def test_a_killed_engine_holds_no_claim(claims_dir: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from agent.engine.cpu_plan import CoreClaims; "
         f"c = CoreClaims(Path({str(claims_dir)!r})); print(c.claim([0, 1])[0], flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "[0, 1]"
        got, taken = CoreClaims(claims_dir).claim([0, 1])
        assert got == [] and all(f"pid {holder.pid}" in who for who in taken.values())
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.1)
    claims = CoreClaims(claims_dir)
    assert claims.claim([0, 1])[0] == [0, 1]
    claims.release()


def test_missing_preload_library_is_named_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.engine.cpu_plan.find_preload", lambda lib: None)
    plan = plan_cpu(CpuSettings(preload=["tcmalloc", "iomp"]), {}, cores=[0, 1])
    assert plan.preload == [] and "LD_PRELOAD" not in plan.env()
    assert sum("not installed" in r for r in plan.reasons) == 2


def test_core_lists_parse_like_vllms() -> None:
    assert parse_cores("0-2,5") == [0, 1, 2, 5] and parse_cores("3") == [3]


def test_engine_guard_never_arms_in_the_owner_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM loads general plugins in the process that builds the engine too; armed there, an orphaned owner
    (a `nohup ... &` whose shell exited) would kill itself."""
    import threading

    from agent.engine import guard as engine_guard

    monkeypatch.setenv(engine_guard.OWNER_VAR, str(__import__("os").getpid()))
    monkeypatch.delenv("_MNEMOS_GUARD_PID", raising=False)
    engine_guard.install()
    assert not any(t.name == "mnemos-parent-watch" for t in threading.enumerate())


def test_engine_guard_ends_an_orphaned_engine_process_and_its_children() -> None:
    """Without vLLM: an 'owner' starts an 'engine' (guard armed) that starts a 'worker' (no guard); SIGKILL of the
    owner ends both within 5 s."""
    import psutil

    worker = "import time; time.sleep(120)"
    engine = ("import os, subprocess, sys, time; from agent.engine import guard as engine_guard; engine_guard.install(); "
              f"w = subprocess.Popen([sys.executable, '-c', {worker!r}]); print(os.getpid(), w.pid, flush=True); "
              "time.sleep(120)")
    owner = ("import os, subprocess, sys, time; os.environ['MNEMOS_ENGINE_OWNER'] = str(os.getpid()); "
             f"subprocess.Popen([sys.executable, '-c', {engine!r}]); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", owner], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pids = [int(x) for x in proc.stdout.readline().split()]
        assert len(pids) == 2
        procs = [psutil.Process(p) for p in pids]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _, alive = psutil.wait_procs(procs, timeout=5)
        assert not alive
    finally:
        if proc.poll() is None:
            proc.kill()


AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
WITH_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n"


def test_dtype_is_float32_where_the_cpu_has_no_native_bf16() -> None:
    assert not native_bf16(AVX2_ONLY) and native_bf16(WITH_BF16)
    assert cpu_dtype("auto", CpuSettings(), AVX2_ONLY)[0] == "float32"
    assert cpu_dtype("auto", CpuSettings(), WITH_BF16)[0] == "auto"
    assert cpu_dtype("bfloat16", CpuSettings(), AVX2_ONLY) == ("bfloat16", "dtype bfloat16: from the dtype setting")
    assert cpu_dtype("auto", CpuSettings(tune=False), AVX2_ONLY)[0] == "auto"


def test_engines_claiming_together_never_split_the_cores(claims_dir: Path) -> None:
    """Two engines started at once: one takes every wanted core and the other none, never half each (which left
    both reporting contention in CI)."""
    import threading

    for _ in range(40):
        pair = [CoreClaims(claims_dir), CoreClaims(claims_dir)]
        start = threading.Barrier(2)
        got: list[list[int]] = [[], []]

        def run(i: int) -> None:
            start.wait()
            got[i] = pair[i].claim(list(range(16)))[0]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(map(len, got)) == [0, 16], got
        for c in pair:
            c.release()
