"""How many problems to solve at once: as many traces as the KV cache holds, capped by the engine.

Too few problems in flight leave the engine's batch half empty; too many make
vLLM preempt sequences whose KV no longer fits and recompute them later. The
right number is the KV space divided by one problem's expected live context,
which the KV budget planner (``kvcache.budget``) computes from the model's
attention geometry and the configured KV memory.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.config import Settings
from agent.llm import TextGenerator
from kvcache.budget import engine_bytes_per_token, kv_spec


class ConcurrencyPlan(BaseModel):
    concurrency: int = Field(gt=0)
    kv_tokens: int | None = Field(None, description="Tokens of KV the engine can hold; None = unknown (fake model).")
    tokens_per_problem: int = Field(gt=0, description="Expected live context of one problem's trace.")
    max_num_seqs: int = Field(gt=0)

    def describe(self) -> str:
        if self.kv_tokens is None:
            return f"concurrency {self.concurrency} (engine max_num_seqs; KV size unknown)"
        return (f"concurrency {self.concurrency} (KV {self.kv_tokens:,} tokens / {self.tokens_per_problem:,} per problem, "
                f"max_num_seqs {self.max_num_seqs})")


def tokens_per_problem(settings: Settings, max_model_len: int | None = None) -> int:
    """A trace's live context at its longest: an attempt's token budget plus one segment (room for the prompt),
    within the KV budget and the engine's context (``max_model_len``, else the settings')."""
    b = settings.budgets
    live = b.tokens + b.segment_tokens
    if settings.kv_budget is not None:
        live = min(live, settings.kv_budget + b.segment_tokens)
    return max(1, min(live, max_model_len or settings.max_model_len or live))


def kv_tokens(settings: Settings, llm: TextGenerator) -> int | None:
    """KV capacity in tokens: what the engine allocated if it says, else the planner's figure for ``kv_cache_gib``."""
    measured = llm.kv_capacity_tokens
    if isinstance(measured, int) and measured > 0:
        return measured
    model_dir = llm.model_dir
    if model_dir is None:
        return None
    spec = kv_spec(model_dir, None if settings.dtype == "auto" else settings.dtype)
    gib = llm.kv_cache_gib or settings.kv_cache_gib
    if gib is None:
        return None
    memory = int(float(gib) * 2**30)
    return memory // engine_bytes_per_token(spec, settings.kv_policy)


def planned_concurrency(settings: Settings, llm: TextGenerator) -> ConcurrencyPlan:
    """The default number of problems in flight for ``llm`` under ``settings``."""
    cap = int(llm.max_num_seqs or settings.max_num_seqs)
    per = tokens_per_problem(settings, llm.max_model_len)
    tokens = kv_tokens(settings, llm)
    n = cap if tokens is None else max(1, min(cap, tokens // per))
    return ConcurrencyPlan(concurrency=n, kv_tokens=tokens, tokens_per_problem=per, max_num_seqs=cap)
