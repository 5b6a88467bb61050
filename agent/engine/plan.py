"""What an engine is started with: its device, KV plugin environment, context and KV space, and process env."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from agent.embedded import model_max_context

if TYPE_CHECKING:
    from agent.config import Settings

log = logging.getLogger(__name__)


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


def planned_memory(settings: Settings, model_dir: Path) -> tuple[int, float]:
    """Context and KV space: the settings' values, else the model's context (capped) and the planner's KV space.

    The defaults are sized by the model, not fixed numbers, so the 1.5B default model gets the
    16k context ARC prompts need while a 135M test model keeps its own 8k.
    """
    from kvcache.budget import default_context, kv_spec, planned_kv_bytes

    max_len = settings.max_model_len or default_context(model_max_context(model_dir))
    if settings.kv_cache_gib is not None:
        return max_len, settings.kv_cache_gib
    spec = kv_spec(model_dir, None if settings.dtype == "auto" else settings.dtype)
    return max_len, round(planned_kv_bytes(spec, max_len, settings.kv_policy) / 2**30, 2)


def engine_start(settings: Settings, model: str | None = None) -> tuple[Path, Settings, int, float]:
    """What an engine starts from, in-process or under ``mnemos serve``: the checkpoint (an embedded model is
    converted on first use), the settings with the dtype it loads in (on CPU, chosen for this CPU; the KV
    planner sizes tokens in it), its context and its KV space in GiB."""
    from agent.embedded import resolve_model
    from agent.engine.cpu_plan import cpu_dtype

    model_dir = resolve_model(model or settings.model, settings.cache_dir)
    if detect_device(settings.device) == "cpu":
        dtype, why = cpu_dtype(settings.dtype, settings.cpu)
        log.info("CPU engine dtype: %s", why)
        settings = settings.model_copy(update={"dtype": dtype})
    max_model_len, kv_cache_gib = planned_memory(settings, model_dir)
    return model_dir, settings, max_model_len, kv_cache_gib


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block, then put back what was there.

    vLLM reads its CPU variables when it spawns the engine's processes; restoring them afterwards lets a second
    engine in the same process plan its own cores instead of inheriting the first one's.
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
