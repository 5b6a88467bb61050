"""The engine on the other side of HTTP: one or more vLLM OpenAI-compatible servers behind :class:`TextGenerator`.

Where vLLM already scales (a GPU box, tensor/pipeline parallel, Ray across nodes)
it speaks the same API, so mnemos only needs a client for it. Prompts are rendered
here with the model's own chat template and sent to ``/v1/completions``, exactly
the text the in-process engine would see.

Token counts and chat rendering use the model's tokenizer loaded locally when
its files are on this machine (the server's model path, or the ``--model``
checkpoint): no round trip per count, and token-level verbatim copying needs the
token ids anyway. Otherwise they go to the server's ``/tokenize`` and
``/detokenize``, so any model the server holds works.

Several URLs share one batch: each request goes to the server with the fewest
requests in flight; a server that refuses connections, drops them, answers 5xx
or hangs past the timeout is set aside with exponential backoff and the request
is retried on another (or on it once it is back) until ``engine_retry_s`` runs out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agent.engine.errors import EngineError
from agent.engine.loop import LoopEngine, LoopThread
from agent.engine.verbatim_span import EXTRA_KEY, copy_spec
from agent.llm import ChatMessage, Completion, GenParams

if TYPE_CHECKING:
    import httpx

    from agent.config import Settings

log = logging.getLogger(__name__)

#: Longest a server is set aside after repeated failures.
MAX_BACKOFF_S = 30.0
PROBE_SOURCE = "purple elephants dance slowly"
PROBE_PROMPT = "Question: What is 2 + 2?\nAnswer:"


class ServerInfo(BaseModel):
    """What one server says about itself: shown by ``mnemos doctor``, used for planning."""

    url: str
    model: str
    root: str | None = Field(None, description="The model's path on the server.")
    version: str | None = None
    max_model_len: int
    kv_tokens: int | None = Field(None, description="KV cache tokens the server allocated (from /metrics).")
    verbatim: bool | None = Field(None, description="Whether mnemos' verbatim-copy logits processor is loaded; "
                                  "None when it could not be probed (no tokenizer here).")


class _Server:
    """One URL's load and health, as the request router sees them."""

    def __init__(self, url: str):
        self.url = url
        self.base = url.removesuffix("/v1")
        self.in_flight = 0
        self.completed = 0
        self.failures = 0
        self.down_until = 0.0
        self.last_error = ""
        self.max_stops: int | None = None

    def set_aside(self, why: str) -> None:
        self.failures += 1
        self.last_error = why
        self.down_until = time.monotonic() + min(MAX_BACKOFF_S, 0.5 * 2 ** (self.failures - 1))

    def ok(self) -> None:
        self.failures = 0
        self.completed += 1


def normalize_url(url: str) -> str:
    """``http://host:8000`` or ``http://host:8000/v1/`` -> ``http://host:8000/v1``."""
    url = url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"engine URL {url!r} is not an http(s) URL like http://127.0.0.1:8000/v1")
    return url if url.endswith("/v1") else url + "/v1"


def _refused(where: str) -> EngineError:
    return EngineError(f"the engine server at {where} refused the API key (HTTP 401): "
                       "set MNEMOS_API_KEY to the key it was started with")


def _one_line(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        msg = body.get("error", body.get("message", body)) if isinstance(body, dict) else body
        if isinstance(msg, dict):
            msg = msg.get("message", msg)
    except ValueError:
        msg = resp.text
    return " ".join(str(msg).split())[:300]


class _StopLimit(Exception):
    """The server takes at most ``limit`` stop strings (vLLM's VLLM_MAX_STOP_STRINGS, 4 by default)."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def _cut_at_stops(text: str, stops: list[str], include: bool) -> tuple[str, str | None]:
    """``text`` ended at the first of ``stops`` it holds, as the server would have ended it."""
    hits = [(text.find(s), s) for s in stops if s and s in text]
    if not hits:
        return text, None
    at, stop = min(hits)
    return text[: at + len(stop) if include else at], stop


def _xargs(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """``extra_args`` as ``vllm_xargs`` takes them: scalars or lists of scalars, so a nested spec travels as JSON."""
    if not extra:
        return None
    return {k: json.dumps(v) if isinstance(v, dict) else v for k, v in extra.items()}


class ServedEngine(LoopEngine):
    """vLLM servers (``vllm serve`` / ``mnemos serve``) as a :class:`agent.llm.TextGenerator`."""

    device = "served"
    kv_cache_gib: float | None = None

    def __init__(self, urls: Sequence[str], *, model: str | None = None, api_key: str | None = None,
                 max_in_flight: int = 64, timeout_s: float = 600.0, retry_s: float = 120.0,
                 connect_timeout_s: float = 10.0, tokenizer_dirs: Sequence[Path] = (),
                 defaults: GenParams | None = None):
        import httpx

        if not urls:
            raise ValueError("no engine URL given")
        self._servers = [_Server(normalize_url(u)) for u in urls]
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.max_num_seqs = max_in_flight
        self.retry_s = retry_s
        self.defaults = defaults or GenParams()
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._sync = httpx.Client(headers=self._headers, timeout=self._timeout)
        self._runner = LoopThread("mnemos-served")
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tok_lock = threading.Lock()
        try:
            self.infos = self._discover(model)
            self.model = self.infos[0].model
            self.max_model_len: int | None = min(i.max_model_len for i in self.infos)
            self.tokenizer, self.model_dir = self._local_tokenizer([*(Path(i.root) for i in self.infos if i.root),
                                                                    *tokenizer_dirs])
            self._runner.run(self._open(max_in_flight))
            for info in self.infos:
                info.verbatim = self._probe_verbatim(info.url)
                if info.verbatim is False:
                    log.warning("the engine server at %s has no mnemos verbatim-copy processor: model-copied evidence "
                                "is not constrained there (it is still checked verbatim afterwards); start it with "
                                "`mnemos serve`", info.url)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_settings(cls, settings: Settings) -> ServedEngine:
        """The servers ``settings.engine_url`` names; the model name is checked against what they serve."""
        from agent.embedded import is_named

        explicit = "model" in settings.model_fields_set
        dirs = [Path(settings.model).expanduser()] if not is_named(settings.model) else []
        if is_named(settings.model):
            from agent.embedded import converted_dir, is_converted, record

            target = converted_dir(settings.cache_dir, record(settings.model).name)
            dirs += [target] if is_converted(target) else []
        return cls(settings.engine_url, model=settings.model if explicit else None,
                   api_key=settings.api_key.get_secret_value() if settings.api_key else None,
                   max_in_flight=settings.engine_max_in_flight, timeout_s=settings.engine_timeout_s,
                   retry_s=settings.engine_retry_s, tokenizer_dirs=dirs,
                   defaults=GenParams(max_tokens=settings.max_tokens, temperature=settings.temperature,
                                      top_p=settings.top_p))

    # -- discovery (blocking, at construction) ---------------------------------------------------

    def _get(self, url: str) -> httpx.Response:
        import httpx

        try:
            resp = self._sync.get(url)
        except httpx.TimeoutException as exc:
            raise EngineError(f"the engine server at {url.rsplit('/', 1)[0]} did not answer within "
                              f"{self._timeout.read:g} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise EngineError(f"cannot reach the engine server at {url.rsplit('/', 1)[0]}: "
                              f"{type(exc).__name__}: {exc or 'connection failed'} (is `mnemos serve` running "
                              "there?)") from exc
        if resp.status_code == 401:
            raise _refused(url.rsplit("/", 1)[0])
        return resp

    def _discover(self, wanted: str | None) -> list[ServerInfo]:
        infos = []
        for server in self._servers:
            resp = self._get(server.url + "/models")
            if resp.status_code != 200:
                raise EngineError(f"the engine server at {server.url} answered /models with HTTP "
                                  f"{resp.status_code}: {_one_line(resp)}")
            models = resp.json().get("data", [])
            names = [m["id"] for m in models]
            if wanted is not None and wanted not in names:
                raise EngineError(f"the engine server at {server.url} serves {', '.join(names) or 'no model'}, "
                                  f"not {wanted!r}: pass --model with one of those names")
            if wanted is None and len(names) != 1:
                raise EngineError(f"the engine server at {server.url} serves {len(names)} models "
                                  f"({', '.join(names)}): pass --model with one of them")
            entry = next(m for m in models if m["id"] == (wanted or names[0]))
            version = self._sync.get(server.base + "/version")
            infos.append(ServerInfo(url=server.url, model=entry["id"], root=entry.get("root"),
                                    version=version.json().get("version") if version.status_code == 200 else None,
                                    max_model_len=int(entry.get("max_model_len") or 0) or 2048,
                                    kv_tokens=self._kv_tokens(server)))
        if len({i.model for i in infos}) > 1:
            raise EngineError("the engine servers serve different models: "
                              + ", ".join(f"{i.url} {i.model}" for i in infos))
        return infos

    def _kv_tokens(self, server: _Server) -> int | None:
        resp = self._sync.get(server.base + "/metrics")
        if resp.status_code != 200:
            return None
        m = re.search(r"^vllm:cache_config_info\{([^}]*)\}", resp.text, re.MULTILINE)
        if not m:
            return None
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        try:
            return int(labels["num_gpu_blocks"]) * int(labels["block_size"])
        except (KeyError, ValueError):
            return None

    @staticmethod
    def _local_tokenizer(dirs: Sequence[Path]) -> tuple[Any, Path | None]:
        from transformers import AutoTokenizer

        for d in dirs:
            if (d / "tokenizer_config.json").is_file():
                try:
                    return AutoTokenizer.from_pretrained(str(d)), d
                except (OSError, ValueError) as exc:
                    log.info("tokenizer in %s not loadable here (%s); using the server's /tokenize", d, exc)
        return None, None

    def _probe_verbatim(self, url: str) -> bool | None:
        """Ask for a copy of a span the answer would never be: constrained, the output lies inside it.

        The span may end only at a period (not EOS, which a constrained model may pick at once and which would
        look like an empty answer), so a loaded processor answers with source words and periods only.
        """
        if self.tokenizer is None:
            return None
        period = self.tokenizer.encode(".", add_special_tokens=False)
        spec = copy_spec([self.tokenizer.encode(PROBE_SOURCE, add_special_tokens=False)], period[-1:], max_span=8)
        out = self._runner.run(self._complete(PROBE_PROMPT, GenParams(max_tokens=4, extra_args={EXTRA_KEY: spec}),
                                              only=url))
        text = out.text.strip()
        return bool(text) and all(part.strip() in PROBE_SOURCE for part in text.split("."))

    # -- requests ----------------------------------------------------------------------------------

    async def _open(self, max_in_flight: int) -> None:
        import httpx

        self._client = httpx.AsyncClient(headers=self._headers, timeout=self._timeout,
                                         limits=httpx.Limits(max_connections=max_in_flight + 8))
        self._slots = asyncio.Semaphore(max_in_flight)

    def _body(self, prompt: str, params: GenParams, stream: bool, max_stops: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "max_tokens": params.max_tokens,
            "temperature": params.temperature, "top_p": params.top_p, "stop": list(params.stop)[:max_stops],
            "include_stop_str_in_output": params.include_stop, "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if params.choice is not None or params.regex is not None:
            body["structured_outputs"] = {k: v for k, v in (("choice", params.choice), ("regex", params.regex))
                                          if v is not None}
        if (xargs := _xargs(params.extra_args)) is not None:
            body["vllm_xargs"] = xargs
        return body

    async def _pick(self, deadline: float, only: str | None) -> _Server:
        """The least-loaded server that is not set aside; waits for one to come back until ``deadline``."""
        while True:
            now = time.monotonic()
            pool = [s for s in self._servers if only is None or s.url == only]
            up = [s for s in pool if s.down_until <= now]
            if up:
                return min(up, key=lambda s: (s.in_flight, s.completed))
            soonest = min(s.down_until for s in pool)
            if soonest > deadline:
                raise EngineError("no engine server answered: " + "; ".join(
                    f"{s.url}: {s.last_error}" for s in pool) + f" (gave up after {self.retry_s:g} s)")
            await asyncio.sleep(max(0.0, soonest - now))

    def _check(self, server: _Server, resp: httpx.Response) -> bool:
        """True if the answer is usable; False if the server should be set aside and the request retried."""
        if resp.status_code == 200:
            return True
        if resp.status_code >= 500:
            server.set_aside(f"HTTP {resp.status_code}: {_one_line(resp)}")
            return False
        if resp.status_code == 401:
            raise _refused(server.url)
        if resp.status_code == 400 and (m := re.search(r"body\.stop.*?at most (\d+) items", resp.text)):
            raise _StopLimit(int(m.group(1)))
        if resp.status_code == 404:
            raise EngineError(f"the engine server at {server.url} does not serve {self.model!r}: {_one_line(resp)}")
        raise ValueError(f"the engine server at {server.url} rejected the request (HTTP {resp.status_code}): "
                         f"{_one_line(resp)}")

    async def _complete(self, prompt: str, params: GenParams, only: str | None = None) -> Completion:
        import httpx

        assert self._client is not None and self._slots is not None
        deadline = time.monotonic() + self.retry_s
        async with self._slots:
            while True:
                server = await self._pick(deadline, only)
                body = self._body(prompt, params, stream=False, max_stops=server.max_stops)
                server.in_flight += 1
                start = time.perf_counter()
                try:
                    resp = await self._client.post(server.url + "/completions", json=body)
                except httpx.TransportError as exc:
                    server.set_aside(f"{type(exc).__name__}: {exc}".rstrip(": "))
                    log.info("engine server %s failed (%s); retrying", server.url, server.last_error)
                    continue
                finally:
                    server.in_flight -= 1
                try:
                    if not self._check(server, resp):
                        continue
                except _StopLimit as limit:
                    log.warning("the engine server at %s takes at most %d stop strings; the rest are applied here "
                                "after generation (`mnemos serve` lifts the limit)", server.url, limit.limit)
                    server.max_stops = limit.limit
                    continue
                server.ok()
                data = resp.json()
                choice, usage = data["choices"][0], data.get("usage") or {}
                stop = choice.get("stop_reason")
                text, finish = choice["text"], choice.get("finish_reason") or "stop"
                if server.max_stops is not None and len(params.stop) > server.max_stops:
                    text, late = _cut_at_stops(text, params.stop[server.max_stops:], params.include_stop)
                    if late is not None:
                        stop, finish = late, "stop"
                return Completion(text=text, prompt_tokens=usage.get("prompt_tokens", 0),
                                  generated_tokens=usage.get("completion_tokens", 0),
                                  finish_reason=finish,
                                  stop_reason=stop if isinstance(stop, str) else None,
                                  cached_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens")
                                                    or 0),
                                  seconds=time.perf_counter() - start)

    async def _stream_here(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        import httpx

        assert self._client is not None and self._slots is not None
        body = self._body(prompt, params, stream=True, max_stops=4)
        deadline = time.monotonic() + self.retry_s
        async with self._slots:
            while True:
                server = await self._pick(deadline, None)
                server.in_flight += 1
                sent = False
                try:
                    async with self._client.stream("POST", server.url + "/completions", json=body) as resp:
                        if resp.status_code != 200:
                            await resp.aread()
                        if not self._check(server, resp):
                            continue
                        async for line in resp.aiter_lines():
                            if not line.startswith("data: ") or line == "data: [DONE]":
                                continue
                            for choice in json.loads(line[6:]).get("choices", []):
                                if choice.get("text"):
                                    sent = True
                                    yield choice["text"]
                    server.ok()
                    return
                except httpx.TransportError as exc:
                    server.set_aside(f"{type(exc).__name__}: {exc}".rstrip(": "))
                    if sent:  # the reader has seen part of the reply: a retry would repeat it
                        raise EngineError(f"the engine server at {server.url} failed mid-stream: "
                                          f"{server.last_error}") from exc
                finally:
                    server.in_flight -= 1

    # -- text helpers ------------------------------------------------------------------------------

    def _post_sync(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        server = min(self._servers, key=lambda s: s.down_until)
        resp = self._sync.post(server.base + path, json={"model": self.model, **body})
        if resp.status_code != 200:
            raise EngineError(f"the engine server at {server.url} answered {path} with HTTP {resp.status_code}: "
                              f"{_one_line(resp)}")
        return resp.json()

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The model's chat template applied to ``messages`` (locally, or by the server's tokenizer)."""
        dumped = [m.model_dump() for m in messages]
        if self.tokenizer is not None:
            with self._tok_lock:
                return self.tokenizer.apply_chat_template(dumped, tokenize=False,
                                                          add_generation_prompt=add_generation_prompt)
        return self._render_remote(json.dumps(dumped), add_generation_prompt)

    @lru_cache(maxsize=1024)  # noqa: B019 - one engine per process; the cache dies with it
    def _render_remote(self, messages_json: str, add_generation_prompt: bool) -> str:
        ids = self._post_sync("/tokenize", {"messages": json.loads(messages_json),
                                            "add_generation_prompt": add_generation_prompt})["tokens"]
        return self._post_sync("/detokenize", {"tokens": ids})["prompt"]

    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            with self._tok_lock:
                return len(self.tokenizer.encode(text, add_special_tokens=False))
        return self._count_remote(text)

    @lru_cache(maxsize=4096)  # noqa: B019 - as above
    def _count_remote(self, text: str) -> int:
        return int(self._post_sync("/tokenize", {"prompt": text, "add_special_tokens": False})["count"])

    # -- facts and lifecycle -----------------------------------------------------------------------

    @property
    def kv_capacity_tokens(self) -> int | None:
        """KV tokens over every server, as their /metrics report them (None if any does not say)."""
        counts = [i.kv_tokens for i in self.infos] if hasattr(self, "infos") else [None]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def load(self) -> dict[str, int]:
        """Requests each server has completed so far (to see how a batch was shared)."""
        return {s.url: s.completed for s in self._servers}

    def close(self) -> None:
        client = self._client
        self._client = None
        if client is not None and not self._runner.loop.is_closed():
            try:
                self._runner.run(client.aclose())
            except Exception as exc:  # noqa: BLE001 - closing must not raise over the caller's own error
                log.warning("engine client close: %s", exc)
        self._runner.stop()
        self._sync.close()
