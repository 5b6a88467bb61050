"""Decoding-time eviction policies: which cached tokens to drop when a layer passes its budget.

All share :class:`EvictionLayer`: when a layer stores more than ``budget`` tokens it keeps
``budget - chunk + 1`` of them, chosen by the policy's ``select``. ``chunk`` > 1 compresses in
bursts (as R-KV does with its decoding buffer), amortising the scoring cost; the stored size still
never exceeds the budget. Kept tokens stay in position order per head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kvcache.hf.base import BudgetLayer
from kvcache.budget import check_token_budget
from kvcache.errors import KVBudgetError
from kvcache.hf.scoring import window_attention


class EvictionLayer(BudgetLayer):
    """Base for evicting layers: enforces the budget, delegates the choice of survivors to ``select``."""

    evicts = True

    def __init__(self, budget: int | None = None, sinks: int = 0, chunk: int = 1) -> None:
        super().__init__(budget)
        if sinks < 0 or chunk < 1:
            raise KVBudgetError(f"{self.policy}: sinks must be >= 0 and chunk >= 1 (got sinks={sinks}, chunk={chunk})")
        self.sinks = sinks
        self.chunk = chunk
        if budget is not None:
            check_token_budget(budget, protected=self.protected, policy=self.policy)
        if budget is not None and budget - chunk + 1 < self.protected:
            raise KVBudgetError(
                f"{self.policy}: budget {budget} with chunk {chunk} leaves {budget - chunk + 1} tokens after eviction, "
                f"fewer than the {self.protected} it must keep; lower chunk or raise the budget"
            )

    @property
    def protected(self) -> int:
        return self.sinks

    def store(
        self, key_states: torch.Tensor, value_states: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values = super().store(key_states, value_states, positions)
        if self.budget is not None and self.stored_tokens() > self.budget:
            keep = self.select(self.budget - self.chunk + 1)
            self._keep(keep)
        return keys, values

    def _keep(self, index: torch.Tensor) -> None:
        """Gather the kept token indices ``[B, H, k]`` from every per-token tensor."""
        d = self.keys.shape[-1]
        full = index.unsqueeze(-1).expand(*index.shape, d)
        self.keys = self.keys.gather(2, full)
        self.values = self.values.gather(2, full)
        self.positions = self.positions.gather(2, index)

    def select(self, keep: int) -> torch.Tensor:
        """Indices ``[B, H, keep]`` (ascending) of the stored tokens to keep."""
        raise NotImplementedError


class SinkWindowLayer(EvictionLayer):
    """Attention sinks + recent window (StreamingLLM).

    Follows Xiao et al., "Efficient Streaming Language Models with Attention Sinks" (ICLR 2024,
    arXiv:2309.17453): the first ``sinks`` tokens absorb surplus attention and must stay; beyond
    them only the most recent tokens are kept. Unlike the paper we keep RoPE positions as
    originally assigned (keys are cached rotated), rather than re-indexing positions inside the cache.
    """

    policy = "sink_window"

    def __init__(self, budget: int | None = None, sinks: int = 4, chunk: int = 1) -> None:
        super().__init__(budget, sinks=sinks, chunk=chunk)

    def select(self, keep: int) -> torch.Tensor:
        b, h, n = self.positions.shape
        recent = keep - self.sinks
        idx = torch.cat([torch.arange(self.sinks), torch.arange(n - recent, n)]).to(self.positions.device)
        return idx.expand(b, h, keep)


class ScoredLayer(EvictionLayer):
    """Base for policies that rank tokens by the attention of an observation window of recent queries.

    The last ``window`` queries (captured by :func:`kvcache.hf.scoring.install_query_hooks`) are the
    observation window; the ``window`` most recent tokens and the ``sinks`` first ones are always kept.
    """

    needs_queries = True

    def __init__(self, budget: int | None = None, window: int = 32, sinks: int = 0, chunk: int = 1, kernel: int = 7) -> None:
        if window < 1 or kernel < 1 or kernel % 2 == 0:
            raise KVBudgetError(f"window must be >= 1 and kernel a positive odd number (got {window}, {kernel})")
        self.window = window
        self.kernel = kernel
        super().__init__(budget, sinks=sinks, chunk=chunk)
        self.queries: torch.Tensor | None = None
        self.query_positions: torch.Tensor | None = None

    @property
    def protected(self) -> int:
        return self.sinks + self.window

    def observe(self, queries: torch.Tensor) -> None:
        """Append this step's rotated queries ``[B, Hq, q, D]`` (positions continue from ``seen``)."""
        pos = torch.arange(self.seen, self.seen + queries.shape[-2], device=queries.device)
        if self.queries is None:
            self.queries, self.query_positions = queries, pos
        else:
            self.queries = torch.cat([self.queries, queries], dim=-2)
            self.query_positions = torch.cat([self.query_positions, pos])
        self.queries = self.queries[..., -self.window :, :]
        self.query_positions = self.query_positions[-self.window :]

    def reset(self) -> None:
        super().reset()
        self.queries = self.query_positions = None

    def _batch_tensors(self) -> list[str]:
        return [*super()._batch_tensors(), "queries"]

    def importance(self) -> torch.Tensor:
        """Pooled window attention per stored token, ``[B, Hkv, n]`` (SnapKV's clustering by pooling)."""
        if self.queries is None:
            raise RuntimeError(
                f"{self.policy}: no queries observed; call cache.attach(model) before generating with a score-based policy"
            )
        scores = window_attention(self.queries, self.query_positions, self.keys, self.positions)
        b, h, n = scores.shape
        pooled = F.avg_pool1d(scores.view(b * h, 1, n), self.kernel, stride=1, padding=self.kernel // 2, count_include_pad=False)
        return pooled.view(b, h, n)

    def score(self) -> torch.Tensor:
        """Higher = keep. Subclasses define it; protected tokens are handled by :meth:`select`."""
        raise NotImplementedError

    def select(self, keep: int) -> torch.Tensor:
        scores = self.score().clone()
        n = scores.shape[-1]
        scores[..., n - self.window :] = float("inf")
        scores[..., : self.sinks] = float("inf")
        return scores.topk(keep, dim=-1).indices.sort(dim=-1).values


class SnapKVLayer(ScoredLayer):
    """Attention-score importance over an observation window (SnapKV; H2O family).

    Follows Li et al., "SnapKV: LLM Knows What You are Looking for Before Generation" (2024,
    arXiv:2404.14469): each KV head keeps the tokens the last ``window`` queries attend to most,
    after 1-D average pooling so neighbouring tokens survive together, plus the window itself.
    SnapKV compresses once after the prompt; like kvpress's ``DecodingPress`` we reapply it during
    decoding whenever the budget is passed, which makes it a windowed relative of H2O
    (Zhang et al., arXiv:2306.14048). Scores are exact softmax attention from captured queries.
    """

    policy = "snapkv"

    def score(self) -> torch.Tensor:
        return self.importance()


class RKVLayer(ScoredLayer):
    """Redundancy-aware importance for reasoning traces (R-KV).

    Follows Cai et al., "R-KV: Redundancy-aware KV Cache Compression for Reasoning Models" (2025,
    arXiv:2505.24133): score = ``lam * importance - (1 - lam) * redundancy``. Importance is the
    SnapKV-style pooled window attention, normalised per head. Redundancy is, per head, the softmax
    over tokens of each key's mean cosine similarity to the other candidate keys, raised to the
    top when a *later* key is a near-duplicate (cosine >= ``tau``), so of repeated content the
    most recent copy survives and older copies go first.
    """

    policy = "rkv"

    def __init__(
        self, budget: int | None = None, window: int = 32, sinks: int = 0, chunk: int = 1, kernel: int = 7,
        lam: float = 0.1, tau: float = 0.9,
    ) -> None:
        if not 0 <= lam <= 1:
            raise KVBudgetError(f"rkv: lam must be in [0, 1], got {lam}")
        self.lam = lam
        self.tau = tau
        super().__init__(budget, window=window, sinks=sinks, chunk=chunk, kernel=kernel)

    def score(self) -> torch.Tensor:
        imp = self.importance()
        imp = imp / imp.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.lam * imp - (1 - self.lam) * redundancy(self.keys, self.tau)


def redundancy(keys: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-token redundancy ``[B, H, n]`` from key cosine similarity (see :class:`RKVLayer`)."""
    unit = F.normalize(keys.float(), dim=-1)
    sim = unit @ unit.transpose(-1, -2)
    n = sim.shape[-1]
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    sim = sim.masked_fill(eye, 0.0)
    mean_sim = sim.sum(dim=-1) / max(n - 1, 1)
    red = torch.softmax(mean_sim, dim=-1)
    later_copy = (torch.triu(sim, diagonal=1) >= tau).any(dim=-1)
    return red + later_copy.to(red.dtype)
