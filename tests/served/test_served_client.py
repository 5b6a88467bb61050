"""The served engine's client against a stand-in server: routing, retries, failure lines, secrets.

The real ``vllm serve`` checks are in test_served_real.py (engine-marked); these pin the
client's own logic in seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from agent.config import Settings
from agent.engine import EngineError, make_engine
from agent.engine.served import ServedEngine, normalize_url
from agent.engine.verbatim_span import EXTRA_KEY, copy_spec
from agent.llm import ChatMessage, GenParams
from tests.served.stub_server import SilentServer, StubServer, StubState, free_port


@pytest.fixture
def stub() -> Iterator[StubServer]:
    server = StubServer().start()
    yield server
    server.stop()


def client(*urls: str, **kw: object) -> ServedEngine:
    kw.setdefault("retry_s", 5.0)
    return ServedEngine(list(urls), **kw)  # type: ignore[arg-type]


def test_urls_are_normalized_and_settings_split_a_list() -> None:
    assert normalize_url("http://h:8000") == "http://h:8000/v1"
    assert normalize_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(ValueError, match="not an http"):
        normalize_url("h:8000")
    s = Settings(engine_url="http://a:1, http://b:2/v1")
    assert s.engine_url == ["http://a:1/v1", "http://b:2/v1"]


def test_completion_usage_constraints_and_xargs(stub: StubServer) -> None:
    eng = client(stub.url)
    try:
        assert eng.model == "stub-model" and eng.max_model_len == 2048 and eng.kv_capacity_tokens == 1600
        [out] = eng.generate(["hello there"], GenParams(max_tokens=40))
        assert out.text == "stub says hello there" and out.generated_tokens == len(out.text)
        assert out.prompt_tokens == len("hello there") and out.finish_reason == "stop"
        [pick] = eng.generate(["q"], GenParams(choice=["yes", "no"]))
        assert pick.text == "yes"
        spec = copy_spec([[ord(c) for c in "abc"]], [0], max_span=8)
        eng.generate(["q"], GenParams(max_tokens=3, extra_args={EXTRA_KEY: spec}))
        sent = stub.state.requests[-1]["vllm_xargs"][EXTRA_KEY]
        assert isinstance(sent, str) and json.loads(sent) == spec  # vllm_xargs holds no nested dicts
        assert eng.infos[0].verbatim is None  # no local tokenizer: the processor cannot be probed
    finally:
        eng.close()


def test_without_a_local_tokenizer_counts_and_chat_come_from_the_server(stub: StubServer) -> None:
    eng = client(stub.url)
    try:
        assert eng.tokenizer is None
        assert eng.count_tokens("twelve chars") == 12
        assert eng.render_chat([ChatMessage(role="user", content="hi")]) == "<user>hi<assistant>"
    finally:
        eng.close()


def test_stream_yields_pieces(stub: StubServer) -> None:
    eng = client(stub.url)
    try:
        pieces = list(eng.stream("abc", GenParams(max_tokens=40)))
        assert len(pieces) > 1 and "".join(pieces) == "stub says abc"
    finally:
        eng.close()


def test_requests_go_to_the_least_loaded_of_two_servers() -> None:
    a = StubServer(StubState(name="a", delay_s=0.2)).start()
    b = StubServer(StubState(name="b", delay_s=0.2)).start()
    eng = client(a.url, b.url)
    try:
        outs = eng.generate([f"p{i}" for i in range(12)], GenParams(max_tokens=40))
        assert len(outs) == 12
        assert len(a.state.requests) == 6 and len(b.state.requests) == 6
        assert sum(eng.load().values()) == 12
    finally:
        eng.close()
        a.stop()
        b.stop()


def test_a_dead_server_is_set_aside_and_its_requests_retried_on_the_other() -> None:
    a, b = StubServer(StubState(name="a")).start(), StubServer(StubState(name="b")).start()
    eng = client(a.url, b.url)
    try:
        a.stop()
        outs = eng.generate([f"p{i}" for i in range(8)], GenParams(max_tokens=40))
        assert all(o.text.startswith("b says") for o in outs)
        assert eng.load()[a.url] == 0 and eng.load()[b.url] == 8
    finally:
        eng.close()
        b.stop()


def test_a_server_that_comes_back_gets_the_retry(stub: StubServer) -> None:
    stub.state.fail_next = 2  # HTTP 503 twice, then answers
    eng = client(stub.url)
    try:
        [out] = eng.generate(["x"], GenParams(max_tokens=40))
        assert out.text == "stub says x" and len(stub.state.requests) == 3
    finally:
        eng.close()


def test_a_server_killed_and_restarted_on_its_port_is_used_again() -> None:
    port = free_port()
    server = StubServer(port=port).start()
    eng = client(server.url, retry_s=15.0)
    try:
        server.stop()
        restarted = StubServer(port=port)
        threading.Timer(1.0, restarted.start).start()
        [out] = eng.generate(["back"], GenParams(max_tokens=40))
        assert out.text == "stub says back"
        restarted.stop()
    finally:
        eng.close()


def test_failures_are_one_clear_line(stub: StubServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineError, match=r"cannot reach the engine server at .*is `mnemos serve` running"):
        client(dead)
    with pytest.raises(EngineError, match=r"serves stub-model, not 'other'"):
        client(stub.url, model="other")
    stub.state.api_key = "right"
    with pytest.raises(EngineError, match=r"refused the API key \(HTTP 401\).*MNEMOS_API_KEY"):
        client(stub.url, api_key="wrong")
    client(stub.url, api_key="right").close()
    silent = SilentServer()
    try:
        with pytest.raises(EngineError, match="did not answer within 1 s"):
            client(silent.url, timeout_s=1.0)
    finally:
        silent.close()


def test_a_hung_server_fails_the_request_after_the_timeout(stub: StubServer) -> None:
    eng = client(stub.url, timeout_s=1.0, retry_s=0.5)
    try:
        stub.state.hang = True
        start = time.monotonic()
        with pytest.raises(EngineError, match="no engine server answered.*ReadTimeout"):
            eng.generate(["x"], GenParams(max_tokens=4))
        assert time.monotonic() - start < 10
    finally:
        eng.close()


def test_the_api_key_is_sent_but_never_logged(stub: StubServer, caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    stub.state.api_key = "s3cret-key"
    monkeypatch.setenv("MNEMOS_ENGINE_URL", stub.url)
    monkeypatch.setenv("MNEMOS_API_KEY", "s3cret-key")
    monkeypatch.setenv("MNEMOS_MODEL", "stub-model")
    settings = Settings()
    assert "s3cret" not in repr(settings) and "s3cret" not in settings.model_dump_json()
    with caplog.at_level(logging.DEBUG):
        eng = make_engine(settings)
        try:
            assert isinstance(eng, ServedEngine)
            eng.generate(["x"], GenParams(max_tokens=8))
        finally:
            eng.close()
    assert stub.state.headers[-1]["authorization"] == "Bearer s3cret-key"
    assert "s3cret" not in caplog.text


def test_cli_failure_is_one_line_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    dead = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["--engine-url", dead, "solve", "math", "--generate", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"mnemos: error: cannot reach the engine server at {dead}")


def test_serve_prints_the_vllm_command_with_mnemos_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """Options written after MODEL still reach mnemos serve; the rest go to vLLM unchanged."""
    from agent.cli import main

    assert main(["--max-model-len", "2048", "serve", "smollm2-135m", "--port", "8791", "--print-command",
                 "--tensor-parallel-size", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("--port") == 1 and "--port 8791" in out and "--tensor-parallel-size 1" in out
    assert "-m agent.engine.vllm_cli serve" in out and "--served-model-name smollm2-135m" in out
    assert "--logits-processors agent.engine.verbatim_logits:VerbatimCopyLogitsProcessor" in out
    assert "--max-model-len 2048" in out and "--enable-prefix-caching" in out


def test_stop_strings_beyond_the_servers_limit_are_applied_here(stub: StubServer) -> None:
    """vLLM takes 4 stop strings unless started with VLLM_MAX_STOP_STRINGS (mnemos serve sets it); past that the
    client sends the first four and cuts the text at the others, as the server would have."""
    eng = client(stub.url)
    try:
        stops = ["<a>", "<b>", "<c>", "<d>", " says", "<f>"]
        [out] = eng.generate(["hello"], GenParams(max_tokens=40, stop=stops, include_stop=True))
        assert out.text == "stub says" and out.stop_reason == " says" and out.finish_reason == "stop"
        assert all(len(r.get("stop") or []) <= 4 for r in stub.state.requests[1:])
    finally:
        eng.close()
