"""Run model-written Python in a separate, limited, throw-away process.

Layers, from the outside in: a fresh session (so the whole process group is
killed on the wall-clock timeout), a temporary working directory that is
deleted afterwards, a scrubbed environment and ``python -I``; inside, the
bootstrap (``tools/_sandbox_child.py``) sets CPU, address-space, file-size and
process limits, leaves the network namespace when the kernel allows, and
installs an audit hook that refuses process creation, sockets, ctypes, and any
file access outside the work dir (reads of the Python installation excepted).
No single layer is trusted alone; the audit hook is a speed bump for
in-process tricks, the process boundary and limits are what contain damage.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

ErrorKind = Literal["timeout", "memory", "forbidden", "exception", "syntax", "crash"]

_CHILD = Path(__file__).with_name("_sandbox_child.py")


class SandboxLimits(BaseModel):
    cpu_seconds: int = Field(5, gt=0, description="RLIMIT_CPU for the child.")
    wall_seconds: float = Field(10.0, gt=0, description="Kill the process group after this long.")
    memory_mb: int = Field(1024, gt=0, description="RLIMIT_AS (address space).")
    file_mb: int = Field(16, gt=0, description="RLIMIT_FSIZE: largest file the code may write.")
    max_processes: int = Field(32, gt=0, description="Extra processes/threads allowed over the user's current count.")
    max_output_chars: int = Field(20_000, gt=0)
    unshare_network: bool = True


class CallResult(BaseModel):
    """The outcome of one call of the entry function."""

    ok: bool
    value: Any = None
    error: ErrorKind | None = None
    message: str = ""


class SandboxResult(BaseModel):
    """What happened. ``ok`` means the code loaded, ran to the end and broke no rule.

    In script mode ``value`` is the value of a trailing expression (like a REPL);
    in entry mode ``calls`` holds one result per argument list, in order, as far
    as the run got before it was stopped.
    """

    ok: bool
    error: ErrorKind | None = None
    message: str = ""
    value: Any = None
    calls: list[CallResult] = Field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    violations: list[str] = Field(default_factory=list)
    network_isolated: bool = False
    seconds: float = 0.0


def _read_roots() -> list[str]:
    """The Python installation (stdlib + installed packages) is readable; nothing else outside the work dir."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {p for p in sys.path if p and os.path.isabs(p)}
    project = str(Path(__file__).resolve().parents[1])
    return sorted(r for r in roots if not (r == project or r.startswith(project + os.sep)) or "site-packages" in r)


def _scrubbed_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def run_python(
    code: str,
    *,
    entry: str | None = None,
    calls: list[list[Any]] | None = None,
    limits: SandboxLimits | None = None,
) -> SandboxResult:
    """Run ``code``; with ``entry``, then call that function once per argument list in ``calls``.

    Never raises for anything the code does: every failure comes back as a
    :class:`SandboxResult` with ``ok=False`` and an ``error`` kind.
    """
    limits = limits or SandboxLimits()
    workdir = tempfile.mkdtemp(prefix="mnemos-sandbox-")
    payload = {
        "code": code,
        "entry": entry,
        "calls": calls or [],
        "read_roots": _read_roots(),
        "memory_mb": limits.memory_mb,
        "cpu_seconds": limits.cpu_seconds,
        "file_mb": limits.file_mb,
        "max_processes": limits.max_processes,
        "unshare_network": limits.unshare_network,
    }
    start = time.monotonic()
    timed_out = False
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(_CHILD)],
            cwd=workdir,
            env=_scrubbed_env(workdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        try:
            out, err = proc.communicate(json.dumps(payload).encode("utf-8"), timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            out, err = proc.communicate()
        records = _parse_records(out)
        user_out = _read_capped(Path(workdir, "stdout.txt"), limits.max_output_chars)
        user_err = _read_capped(Path(workdir, "stderr.txt"), limits.max_output_chars)
        boot_err = err.decode("utf-8", "replace")[-limits.max_output_chars :]
        return _interpret(
            records, proc.returncode, timed_out, user_out, user_err or boot_err, limits, time.monotonic() - start
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _parse_records(out: bytes) -> list[dict]:
    records = []
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "kind" in rec:
            records.append(rec)
    return records


def _read_capped(path: Path, limit: int) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit * 4 + 4)
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "\n[... output truncated]"


def _interpret(
    records: list[dict],
    returncode: int | None,
    timed_out: bool,
    stdout: str,
    stderr: str,
    limits: SandboxLimits,
    seconds: float,
) -> SandboxResult:
    by_kind: dict[str, dict] = {}
    calls: list[CallResult] = []
    for rec in records:
        if rec["kind"] == "call":
            calls.append(CallResult(ok=rec["ok"], value=rec.get("value"), error=rec.get("error"), message=rec.get("message", "")))
        else:
            by_kind[rec["kind"]] = rec
    load, end = by_kind.get("load"), by_kind.get("end")
    violations = list((end or load or {}).get("violations", []))
    common: dict[str, Any] = {
        "calls": calls,
        "stdout": stdout,
        "stderr": stderr,
        "violations": violations,
        "network_isolated": bool(by_kind.get("start", {}).get("network_isolated")),
        "seconds": seconds,
    }
    value = load.get("value") if load else None

    def failed(kind: ErrorKind, message: str) -> SandboxResult:
        return SandboxResult(ok=False, error=kind, message=message, value=value, **common)

    cpu_signals = {-signal.SIGXCPU, -signal.SIGKILL}
    if timed_out:
        return failed("timeout", f"stopped after the {limits.wall_seconds:g} s wall-clock limit")
    cpu_killed = returncode == -signal.SIGXCPU or "MemoryError" not in stderr
    if end is None and returncode in cpu_signals and seconds < limits.wall_seconds and cpu_killed:
        return failed("timeout", f"stopped at the {limits.cpu_seconds} s CPU-time limit")
    if violations:
        return failed("forbidden", "blocked: " + "; ".join(violations[:3]))
    if load is not None and not load["ok"]:
        return failed(load.get("error") or "exception", load.get("message", ""))
    if end is None:
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return failed("memory", f"ran out of the {limits.memory_mb} MiB memory limit")
        return failed("crash", f"the process ended without a result (exit status {returncode}); {stderr[-500:]}")
    bad = next((c for c in calls if not c.ok), None)
    if bad is not None:
        return SandboxResult(ok=False, error=bad.error, message=bad.message, value=value, **common)
    return SandboxResult(ok=True, value=value, **common)
