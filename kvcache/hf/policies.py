"""Policy names and the one constructor callers need: ``make_cache(name, model, budget)``."""

from __future__ import annotations

from typing import Any

import torch

from kvcache.hf.base import BudgetCache, BudgetLayer, FullLayer
from kvcache.errors import KVBudgetError
from kvcache.hf.eviction import RKVLayer, SinkWindowLayer, SnapKVLayer
from kvcache.hf.quantized import KIVILayer

POLICIES: dict[str, tuple[type[BudgetLayer], dict[str, Any]]] = {
    "full": (FullLayer, {}),
    "sink_window": (SinkWindowLayer, {}),
    "snapkv": (SnapKVLayer, {}),
    "rkv": (RKVLayer, {}),
    "kivi8": (KIVILayer, {"bits": 8}),
    "kivi4": (KIVILayer, {"bits": 4}),
}


def make_cache(policy: str, model: torch.nn.Module, budget: int | None = None, **params: Any) -> BudgetCache:
    """A fresh cache for one generation, already attached to ``model`` when the policy reads queries.

    Use it as a context manager (or call ``detach()``) so score-based policies remove their hooks.
    """
    if policy not in POLICIES:
        raise KVBudgetError(f"unknown KV policy {policy!r}; choose one of {', '.join(POLICIES)}")
    layer_cls, defaults = POLICIES[policy]
    cache = BudgetCache(model.config, layer_cls, budget, **{**defaults, **params})
    return cache.attach(model)
