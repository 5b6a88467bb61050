"""A stand-in for vLLM's OpenAI-compatible server, for the client's routing, retry and failure tests.

It speaks the same endpoints and error shapes (``/v1/models``, ``/v1/completions`` with SSE
streaming, ``/tokenize``, ``/detokenize``, ``/version``, ``/metrics``, 401 from the API-key
middleware). Tokens are characters, so counts are checkable. It honours a ``choice`` constraint
and the verbatim-copy spec as vLLM with mnemos' processor would: the reply is then the first
choice, or the first ``max_tokens`` tokens of the copy source.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from agent.engine.verbatim_span import read_spec


@dataclass
class StubState:
    name: str = "stub"
    model: str = "stub-model"
    api_key: str | None = None
    fail_next: int = 0
    hang: bool = False
    verbatim: bool = True
    delay_s: float = 0.0
    max_stops: int = 4
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _reply(state: StubState, body: dict[str, Any]) -> str:
    structured = body.get("structured_outputs") or {}
    if structured.get("choice"):
        return structured["choice"][0]
    spec = read_spec(body.get("vllm_xargs"))
    if spec and state.verbatim:
        source = [i for i in spec["source_ids"] if i >= 0]
        return "".join(chr(i) for i in source[: body.get("max_tokens", 16)])
    return f"{state.name} says {body['prompt'][-12:]}"[: body.get("max_tokens", 16)]


def build_app(state: StubState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Any:
        state.headers.append(dict(request.headers))
        if state.api_key and request.url.path.startswith("/v1") and \
                request.headers.get("authorization") != f"Bearer {state.api_key}":
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return await call_next(request)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": state.model, "root": None, "max_model_len": 2048}]}

    @app.get("/version")
    async def version() -> dict:
        return {"version": "stub-0"}

    @app.get("/health")
    async def health() -> PlainTextResponse:
        return PlainTextResponse("")

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse('vllm:cache_config_info{block_size="16",num_gpu_blocks="100"} 1.0\n')

    @app.post("/tokenize")
    async def tokenize(request: Request) -> dict:
        body = await request.json()
        text = body.get("prompt")
        if text is None:
            text = "".join(f"<{m['role']}>{m['content']}" for m in body["messages"]) + "<assistant>"
        return {"count": len(text), "max_model_len": 2048, "tokens": [ord(c) for c in text]}

    @app.post("/detokenize")
    async def detokenize(request: Request) -> dict:
        return {"prompt": "".join(chr(i) for i in (await request.json())["tokens"])}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        state.requests.append(body)
        if body.get("model") != state.model:
            return JSONResponse({"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                           "type": "NotFoundError", "code": 404}}, status_code=404)
        if len(body.get("stop") or []) > state.max_stops:
            msg = (f"1 validation error: {{'type': 'too_long', 'loc': 'body.stop', 'msg': 'List should have at most "
                   f"{state.max_stops} items after validation, not {len(body['stop'])}'}}")
            return JSONResponse({"error": {"message": msg, "type": "BadRequestError", "code": 400}}, status_code=400)
        if state.fail_next > 0:
            state.fail_next -= 1
            return JSONResponse({"error": {"message": "engine dead", "code": 503}}, status_code=503)
        if state.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep(state.delay_s)
        text = _reply(state, body)
        usage = {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(text)}
        if not body.get("stream"):
            return {"choices": [{"index": 0, "text": text, "finish_reason": "stop", "stop_reason": None}],
                    "usage": usage}

        async def events() -> Any:
            for i in range(0, len(text), 4):
                yield f"data: {json.dumps({'choices': [{'index': 0, 'text': text[i:i + 4]}]})}\n\n"
            yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


class StubServer:
    """The stub on 127.0.0.1 in a thread; ``stop()`` and ``start()`` again on the same port (a server that dies)."""

    def __init__(self, state: StubState | None = None, port: int | None = None):
        self.state = state or StubState()
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> StubServer:
        config = uvicorn.Config(build_app(self.state), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("stub server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers: a hung server."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self._conns:
            c.close()
