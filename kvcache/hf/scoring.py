"""Attention scores for score-based eviction, computed from real queries.

A transformers cache only receives keys and values, but SnapKV- and R-KV-style
importance is the attention the most recent queries pay to each cached key.
Rather than approximating it from key norms, we capture the true post-RoPE
queries: a forward pre-hook on each attention module recomputes
``q_proj(hidden_states)`` (plus ``q_norm`` where the architecture has one),
applies the rotary embedding the module is about to use, and hands the result
to that layer's cache before ``update`` runs. The extra projection costs one
``hidden x hidden`` matmul per layer and token.

This covers Llama-family attention (Llama, Mistral, Qwen2/3, SmolLM): modules
with ``q_proj``, ``head_dim``, ``layer_idx`` and ``position_embeddings=(cos, sin)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.hooks import RemovableHandle

if TYPE_CHECKING:
    from kvcache.hf.base import BudgetCache


def window_attention(
    queries: torch.Tensor, query_positions: torch.Tensor, keys: torch.Tensor, key_positions: torch.Tensor
) -> torch.Tensor:
    """Attention mass each cached key receives from the observation-window queries, per KV head.

    queries ``[B, Hq, w, D]`` at ``query_positions [w]``; keys ``[B, Hkv, n, D]`` at ``key_positions [B, Hkv, n]``.
    Returns ``[B, Hkv, n]``: softmax over the cached keys (causal by position), summed over the window and
    averaged over the query heads sharing each KV head (GQA).
    """
    b, hq, w, d = queries.shape
    hkv, _n = keys.shape[1], keys.shape[2]
    group = hq // hkv
    q = queries.view(b, hkv, group, w, d).float()
    logits = torch.einsum("bhgwd,bhnd->bhgwn", q, keys.float()) / d**0.5
    future = key_positions[:, :, None, None, :] > query_positions.view(1, 1, 1, w, 1)
    logits = logits.masked_fill(future, float("-inf"))
    probs = torch.softmax(logits, dim=-1).nan_to_num(0.0)
    return probs.sum(dim=3).mean(dim=2)


def install_query_hooks(model: torch.nn.Module, cache: BudgetCache) -> list[RemovableHandle]:
    """Register a pre-hook per attention module that feeds its rotated queries to ``cache.layers[layer_idx]``."""
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    def hook(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
        cos, sin = kwargs["position_embeddings"]
        q = module.q_proj(hidden).view(*hidden.shape[:-1], -1, module.head_dim)
        if getattr(module, "q_norm", None) is not None:
            q = module.q_norm(q)
        q = q.transpose(1, 2)
        q, _ = apply_rotary_pos_emb(q, q, cos, sin)
        cache.layers[module.layer_idx].observe(q.detach())

    handles = []
    for module in model.modules():
        is_attention = all(hasattr(module, a) for a in ("q_proj", "layer_idx", "head_dim"))
        if is_attention and module.layer_idx < len(cache.layers):
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
    if not handles:
        raise ValueError(
            f"{cache.policy}: found no Llama-style attention modules (q_proj/head_dim/layer_idx) to read queries from; "
            "score-based policies support Llama-family models only"
        )
    return handles
