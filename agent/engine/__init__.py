"""The engine: vLLM's ``AsyncLLM`` behind :class:`agent.llm.TextGenerator`, with everything that belongs to it.

``vllm_engine`` is the implementation; ``verbatim_logits``/``verbatim_span`` the
logits processor it loads for token-level copying; ``guard`` the vLLM general
plugin that ends orphaned engine processes; ``cpu_plan`` its choice of CPU cores
and threads; ``watch`` counts its processes; ``served`` is the same protocol over vLLM's OpenAI-compatible
servers. Callers build one with :func:`make_engine`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.engine.errors import EngineError
from agent.engine.plan import detect_device, kv_plugin_env, planned_memory
from agent.engine.stats import EngineStats
from agent.engine.vllm_engine import VERBATIM_PROCESSOR, Engine

if TYPE_CHECKING:
    from agent.config import Settings
    from agent.llm import TextGenerator


def make_engine(settings: Settings, **extra: Any) -> TextGenerator:
    """The engine the settings describe (the one place an engine is built; tests replace ``Engine.from_settings``).

    With ``engine_url`` set it is the client of those vLLM servers; otherwise vLLM in this process.
    """
    if settings.engine_url:
        from agent.engine.served import ServedEngine

        return ServedEngine.from_settings(settings)
    return Engine.from_settings(settings, **extra)


__all__ = ["VERBATIM_PROCESSOR", "Engine", "EngineError", "EngineStats", "detect_device", "kv_plugin_env",
           "make_engine", "planned_memory"]
