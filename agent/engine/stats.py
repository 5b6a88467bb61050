"""Engine counters (requests, tokens, prefix-cache hits) collected through vLLM's stat-logger hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field


class EngineStats(BaseModel):
    """Counters since the engine started, from vLLM's scheduler and iteration stats."""

    requests: int = Field(0, description="Requests finished.")
    prompt_tokens: int = 0
    generated_tokens: int = 0
    prefix_queries: int = Field(0, description="Prompt tokens looked up in the prefix cache.")
    prefix_hits: int = Field(0, description="Of those, tokens whose KV was already cached.")

    @property
    def prefix_hit_rate(self) -> float:
        return self.prefix_hits / self.prefix_queries if self.prefix_queries else 0.0

    def __sub__(self, other: EngineStats) -> EngineStats:
        """Counters over an interval: ``after - before``."""
        return EngineStats(**{k: getattr(self, k) - getattr(other, k) for k in EngineStats.model_fields})


def stats_logger_factory(stats: EngineStats) -> Callable[..., Any]:
    """A vLLM stat-logger factory that adds every step's counters into ``stats``.

    vLLM v1 reports prefix-cache queries/hits only through stat loggers (the
    scheduler sends them with each step's outputs); a custom ``StatLoggerBase``
    is the documented hook, so the figures need no Prometheus scrape.
    """
    from vllm.v1.metrics.loggers import StatLoggerBase

    class _Counter(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0):
            pass

        def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                   engine_idx: int = 0) -> None:
            if scheduler_stats is not None:
                pc = scheduler_stats.prefix_cache_stats
                stats.prefix_queries += pc.queries
                stats.prefix_hits += pc.hits
            if iteration_stats is not None:
                stats.generated_tokens += iteration_stats.num_generation_tokens
                stats.prompt_tokens += iteration_stats.num_prompt_tokens
                stats.requests += len(iteration_stats.finished_requests)

        def log_engine_initialized(self) -> None:
            pass

    return _Counter
