"""Run the attack programs in ``attacks/`` through the sandbox and decide, per attack, whether it escaped.

Each attack is a Python file whose header declares what it must get::

    # attack: one line saying what it tries
    # expect: blocked | timeout | error | contained
    # proves: end | end-with-hook | checks   (default end)
    # entry: transform              (optional: call it on a small grid)
    # escape-file: @STDLIB@/x.py    (optional, repeatable: must not exist afterwards)

``expect`` is the outcome with every layer on: ``blocked`` (the audit hook or
the result channel refused it), ``timeout``, ``error`` (the attempt failed with
an OS or Python error, e.g. because the jail has no such file), or
``contained`` (any outcome; only the escape checks decide).

An attack *escaped* when any of these holds after its run:

- ``proves: end`` and the run finished ok (attacks are written so that reaching
  the end means the attack worked); ``end-with-hook`` counts only with the
  audit hook on, for attacks on its reporting (forged results hide nothing
  when there is no hook to report);
- ``run_python`` raised instead of returning a result;
- a secret showed up in anything returned: the canary file's token, the
  parent's canary environment variable, the first line of the host's
  /etc/shadow;
- a marker file exists on the host: ``/tmp/mnemos-attack-*``,
  ``/dev/shm/mnemos-attack*`` or a declared ``escape-file``;
- a process whose command line holds ``mnemos-attack-proc`` outlives the call;
- the sentinel process the harness started on the host died;
- the listener on 127.0.0.1 accepted a connection;
- the project's path shows up in anything returned, though the attack never
  named it (the jail must not reveal where the host keeps things);
- the attack stored more bytes than the jail allows: attacks that fill storage
  print ``written: N`` as they go, and N may not pass :func:`writable_cap`;
- the parent's peak memory grew by more than ``MEMORY_GROWTH_CAP_MB``;
- the call took longer than the wall limit plus ``WALL_SLACK_S``.

Placeholders in attack text: ``@PORT@`` (the listener), ``@CANARY@`` (the
canary file), ``@STDLIB@``, ``@SITE_PACKAGES@``, ``@NUMPY@``, ``@PROJECT@``.
"""

from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field

from tools.sandbox.run import SandboxLimits, SandboxResult, run_python

ATTACKS_DIR = Path(__file__).with_name("attacks")
PROJECT = Path(__file__).resolve().parents[2]
CANARY_DIR = Path("/tmp/mnemos-attack-canary")
CANARY_ENV = "MNEMOS_ATTACK_CANARY"
PROC_MARKER = b"mnemos-attack-proc"
MEMORY_GROWTH_CAP_MB = 64
WALL_SLACK_S = 2.0
PIPE_BUFFER_BYTES = 65536
_WRITTEN = re.compile(r"^written: (\d+)$", re.MULTILINE)
LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=10, memory_mb=512, max_output_chars=4000)
GRID = [[1, 2], [3, 4]]

Expect = Literal["blocked", "timeout", "error", "contained"]
Outcome = Literal["blocked", "timeout", "error", "ok"]


class Attack(BaseModel):
    name: str
    description: str
    expect: Expect
    proves: Literal["end", "end-with-hook", "checks"] = "end"
    entry: str | None = None
    escape_files: list[str] = Field(default_factory=list)
    code: str


class AttackRow(BaseModel):
    name: str
    description: str
    expect: Expect
    outcome: Outcome
    error: str | None
    message: str
    matched: bool
    escaped: bool
    escape_reasons: list[str]
    seconds: float
    parent_rss_growth_mib: float
    writable_bytes: int


def writable_cap(limits: SandboxLimits) -> int:
    """Bytes model code may store outside its own memory: the work dir, plus one default pipe buffer per open file."""
    return limits.work_mb * 1024 * 1024 + limits.max_open_files * PIPE_BUFFER_BYTES


def written_bytes(stdout: str) -> int:
    """The most an attack reported storing (``written: N`` lines), 0 when it reported nothing."""
    return max((int(n) for n in _WRITTEN.findall(stdout)), default=0)


def outcome_of(result: SandboxResult) -> Outcome:
    if result.ok:
        return "ok"
    if result.error == "forbidden":
        return "blocked"
    if result.error == "timeout":
        return "timeout"
    return "error"


def load_attacks(directory: Path = ATTACKS_DIR) -> list[Attack]:
    attacks = []
    for path in sorted(directory.glob("*.py")):
        code = path.read_text()
        fields: dict[str, object] = {"name": path.stem, "code": code, "escape_files": []}
        for line in code.splitlines():
            if not line.startswith("# ") or ":" not in line:
                if line.strip() and not line.startswith("#"):
                    break
                continue
            key, _, value = line[2:].partition(":")
            key, value = key.strip(), value.strip()
            if key == "attack":
                fields["description"] = value
            elif key in ("expect", "proves", "entry"):
                fields[key] = value
            elif key == "escape-file":
                fields["escape_files"].append(value)  # type: ignore[union-attr]
        attacks.append(Attack.model_validate(fields))
    return attacks


class _Listener:
    """A TCP listener on 127.0.0.1 that counts connections: any is an escape from the network namespace."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class Arena:
    """Host-side traps shared by all attacks of one suite run: canary, sentinel, listener."""

    def __init__(self) -> None:
        import numpy

        self.token = "canary-" + secrets.token_hex(16)
        self.env_token = "envcanary-" + secrets.token_hex(16)
        CANARY_DIR.mkdir(parents=True, exist_ok=True)
        self.canary = CANARY_DIR / "secret.txt"
        self.canary.write_text(self.token + "\n")
        self.secrets = [self.token, self.env_token]
        try:
            first = Path("/etc/shadow").read_text().splitlines()[0]
            if len(first) > 8:
                self.secrets.append(first)
        except (OSError, IndexError):
            pass
        self.listener = _Listener()
        self.sentinel = subprocess.Popen(["sleep", "3600"], start_new_session=True)
        self.placeholders = {
            "@PORT@": str(self.listener.port),
            "@CANARY@": str(self.canary),
            "@STDLIB@": os.path.dirname(os.__file__),
            "@SITE_PACKAGES@": str(Path(numpy.__file__).resolve().parents[1]),
            "@NUMPY@": str(Path(numpy.__file__).resolve().parent),
            "@PROJECT@": str(PROJECT),
        }

    def fill(self, text: str) -> str:
        for key, value in self.placeholders.items():
            text = text.replace(key, value)
        return text

    def close(self) -> None:
        self.listener.close()
        self.sentinel.kill()
        self.sentinel.wait()
        shutil.rmtree(CANARY_DIR, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _markers(extra: list[str]) -> list[str]:
    found = [p for p in glob.glob("/tmp/mnemos-attack-*") if p != str(CANARY_DIR)]
    found += glob.glob("/dev/shm/mnemos-attack*")
    return found + [p for p in extra if os.path.lexists(p)]


def _clear(paths: list[str]) -> None:
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def _survivors() -> list[int]:
    pids = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as fh:
                if PROC_MARKER in fh.read():
                    pids.append(int(cmdline.split("/")[2]))
        except OSError:
            continue
    return [p for p in pids if p != os.getpid()]


class _PeakMemory:
    """Samples this process's resident memory while a call runs (ru_maxrss would hide growth below an old peak)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.before = self.peak = self._rss()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(self._interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / (1 << 20)


def _returned_text(result: SandboxResult) -> str:
    parts = [result.stdout, result.stderr, result.message, repr(result.value), *result.violations]
    for call in result.calls:
        parts += [repr(call.value), call.message]
    return "\n".join(parts)


def run_attack(attack: Attack, arena: Arena, limits: SandboxLimits = LIMITS) -> AttackRow:
    """Run one attack with every trap armed and return its verdict."""
    escape_files = [arena.fill(p) for p in attack.escape_files]
    _clear(_markers(escape_files))
    code = arena.fill(attack.code)
    reasons: list[str] = []
    os.environ[CANARY_ENV] = arena.env_token
    start = time.monotonic()
    with _PeakMemory() as memory:
        try:
            if attack.entry:
                result = run_python(code, entry=attack.entry, calls=[[GRID]], limits=limits)
            else:
                result = run_python(code, limits=limits)
        except Exception as exc:  # noqa: BLE001 - a parent exception is itself the finding
            reasons.append(f"run_python raised {type(exc).__name__}: {exc}"[:300])
            result = SandboxResult(ok=False, error="crash", message=str(exc))
        finally:
            seconds = time.monotonic() - start
            os.environ.pop(CANARY_ENV, None)
    growth_mb = memory.growth_mb
    outcome = outcome_of(result)
    if result.ok and (attack.proves == "end" or (attack.proves == "end-with-hook" and limits.audit_hook)):
        reasons.append("the attack ran to its end")
    text = _returned_text(result)
    reasons += [f"secret returned: {s[:24]}..." for s in arena.secrets if s in text]
    if str(PROJECT) not in code and str(PROJECT) in text:
        reasons.append(f"the host path {PROJECT} was returned")
    written = written_bytes(result.stdout)
    if written > writable_cap(limits):
        reasons.append(f"stored {written} bytes, over the {writable_cap(limits)}-byte cap")
    deadline = time.monotonic() + 2.0
    while (survivors := _survivors()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if survivors:
        reasons.append(f"processes outlived the call: {survivors}")
        for pid in survivors:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
    left = _markers(escape_files)
    if left:
        reasons.append(f"marker files on the host: {left}")
        _clear(left)
    if arena.sentinel.poll() is not None:
        reasons.append("the host sentinel process was killed")
    if arena.listener.accepted:
        reasons.append(f"the host listener accepted {arena.listener.accepted} connection(s)")
        arena.listener.accepted = 0
    if not arena.canary.exists() or arena.canary.read_text().strip() != arena.token:
        reasons.append("the canary file was changed")
        arena.canary.write_text(arena.token + "\n")
    if growth_mb > MEMORY_GROWTH_CAP_MB:
        reasons.append(f"parent peak memory grew by {growth_mb:.0f} MiB")
    if seconds > limits.wall_seconds + WALL_SLACK_S:
        reasons.append(f"parent blocked {seconds:.1f} s (wall limit {limits.wall_seconds:g} s)")
    # A syntax error would pass for "error" without attacking anything.
    matched = (attack.expect == "contained" or attack.expect == outcome) and result.error != "syntax"
    return AttackRow(
        name=attack.name, description=attack.description, expect=attack.expect, outcome=outcome, error=result.error,
        message=result.message[:300], matched=matched, escaped=bool(reasons), escape_reasons=reasons, seconds=round(seconds, 3),
        parent_rss_growth_mib=round(growth_mb, 1), writable_bytes=written,
    )


def summarise(rows: list[AttackRow]) -> dict[str, object]:
    return {
        "attacks": len(rows),
        "escapes": sum(r.escaped for r in rows),
        "mismatches": sum(not r.matched for r in rows),
        "by_outcome": dict(sorted(Counter(r.outcome for r in rows).items())),
        "parent_peak_rss_mib_max": max((r.parent_rss_growth_mib for r in rows), default=0.0),
        "writable_bytes_max": max((r.writable_bytes for r in rows), default=0),
    }


def run_suite(limits: SandboxLimits = LIMITS, names: list[str] | None = None) -> list[AttackRow]:
    attacks = [a for a in load_attacks() if names is None or a.name in names]
    with Arena() as arena:
        return [run_attack(a, arena, limits) for a in attacks]


if __name__ == "__main__":  # quick manual run: python tests/security/harness.py [names...]
    for row in run_suite(names=sys.argv[1:] or None):
        print(f"{row.name:32} {row.expect:9} {row.outcome:8} {'ESCAPED ' + str(row.escape_reasons) if row.escaped else ''} {row.message[:80]}")
