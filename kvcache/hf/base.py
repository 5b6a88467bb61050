"""The shared machinery of every budgeted KV cache on the transformers path.

A :class:`BudgetCache` is a transformers ``Cache`` whose layers are one
:class:`BudgetLayer` subclass per policy, so it plugs straight into
``model.generate(..., past_key_values=cache)`` and into plain forward calls.

Position handling: keys are cached after RoPE, so a kept key already carries
its original position and never needs re-rotation. What must stay right is the
position of *new* tokens. Each layer therefore reports ``get_seq_length()`` as
the number of tokens it has *seen*, not stored; transformers derives the next
positions from it (or ``generate`` continues its own position ids), so
positions keep increasing after eviction. The mask is sized to the stored keys
(``kv_length``) with ``kv_offset = seen - stored``, which makes every kept key
visible to the new queries and keeps causality among the new queries
themselves. Padded batches are not supported (their 2D mask would index
evicted slots); single sequences and unpadded batches are.

Budget semantics: after every ``update`` a layer stores at most ``budget``
tokens. The step's own attention sees the stored tokens plus the new ones
(one when decoding; the whole prompt at prefill), as in SnapKV/R-KV, which
compress after the prompt has been read. Caches that cannot evict (full,
quantised) instead stop: :class:`BudgetStop` ends ``generate`` before the
next token would overflow and records why; an overflow that cannot be
stopped (a prompt bigger than the budget) raises :class:`KVBudgetExceeded`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import torch
from transformers import PreTrainedConfig, StoppingCriteria
from transformers.cache_utils import Cache, DynamicLayer

from kvcache.budget import check_token_budget
from kvcache.errors import KVBudgetExceeded


class BudgetLayer(DynamicLayer):
    """One layer's cache; subclasses decide what to keep. Tracks seen tokens and each kept token's position."""

    policy: ClassVar[str] = "base"
    evicts: ClassVar[bool] = False
    needs_queries: ClassVar[bool] = False
    is_croppable = False

    def __init__(self, budget: int | None = None) -> None:
        super().__init__()
        self.budget = budget
        self.seen = 0
        self.positions: torch.Tensor | None = None

    @property
    def protected(self) -> int:
        """Tokens the policy always keeps (sinks + recent window); the budget must cover them."""
        return 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        b, h = key_states.shape[:2]
        self.positions = torch.empty((b, h, 0), dtype=torch.long, device=key_states.device)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        new_pos = torch.arange(self.seen, self.seen + n, device=key_states.device)
        self.seen += n
        keys, values = self.store(key_states, value_states, new_pos.expand(*key_states.shape[:2], n))
        return keys, values

    def store(
        self, key_states: torch.Tensor, value_states: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new tokens; return the keys/values this step attends to. Subclasses compress here."""
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
        self.positions = torch.cat([self.positions, positions], dim=-1)
        return self.keys, self.values

    def stored_tokens(self) -> int:
        return 0 if self.positions is None else self.positions.shape[-1]

    def nbytes(self) -> int:
        if not self.is_initialized:
            return 0
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()

    def full_token_bytes(self) -> int:
        """Bytes one more full-precision token costs in this layer (all batch rows)."""
        if not self.is_initialized:
            return 0
        b, h, _, d = self.keys.shape
        return 2 * b * h * d * self.keys.element_size()

    def get_seq_length(self) -> int:
        return self.seen

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        stored = self.stored_tokens()
        return stored + query_length, self.seen - stored

    def reset(self) -> None:
        super().reset()
        self.seen = 0
        self.positions = None

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError(f"{self.policy}: a budgeted KV cache cannot be rolled back (assisted decoding is unsupported)")

    def _batch_tensors(self) -> list[str]:
        return ["keys", "values", "positions"]

    def _apply_batch(self, fn: Any) -> None:
        if self.stored_tokens() == 0:
            return
        for name in self._batch_tensors():
            value = getattr(self, name)
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                setattr(self, name, fn(value))

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._apply_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._apply_batch(lambda t: t[indices, ...])

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._apply_batch(lambda t: t.repeat_interleave(repeats, dim=0))


class FullLayer(BudgetLayer):
    """The baseline: keep everything (what ``DynamicCache`` does), within an optional budget."""

    policy = "full"


class BudgetCache(Cache):
    """A model-wide cache made of one policy's layers, with memory accounting and budget enforcement."""

    def __init__(self, config: PreTrainedConfig, layer_cls: type[BudgetLayer], budget: int | None = None, **layer_kwargs: Any):
        text = config.get_text_config(decoder=True)
        self.max_context: int | None = getattr(text, "max_position_embeddings", None)
        layers = [layer_cls(budget=budget, **layer_kwargs) for _ in range(text.num_hidden_layers)]
        if budget is not None or layer_cls.evicts:
            check_token_budget(budget, protected=layers[0].protected, max_context=self.max_context, policy=layer_cls.policy)
        super().__init__(layers=layers)
        self.policy = layer_cls.policy
        self.budget = budget
        self.peak_bytes = 0
        self.peak_tokens = 0
        self.stop_reason: str | None = None
        self._hooks: list[Any] = []

    @property
    def evicts(self) -> bool:
        return self.layers[0].evicts

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        out = super().update(key_states, value_states, layer_idx, *args, **kwargs)
        if layer_idx == len(self.layers) - 1:
            self._account()
        return out

    def _account(self) -> None:
        used = self.nbytes()
        self.peak_bytes = max(self.peak_bytes, used)
        self.peak_tokens = max(self.peak_tokens, self.stored_tokens())
        limit = self.budget_bytes()
        if limit is not None and not self.evicts and used > limit:
            self.stop_reason = f"kv budget exhausted at {self.get_seq_length()} tokens"
            raise KVBudgetExceeded(self.policy, self.budget, self.get_seq_length(), f"{used} B held, limit {limit} B")

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)

    def stored_tokens(self) -> int:
        """Largest number of tokens any layer holds (for evicting caches, always <= budget after an update)."""
        return max(layer.stored_tokens() for layer in self.layers)

    def budget_bytes(self) -> int | None:
        """The budget as memory: that many tokens of full-precision KV."""
        if self.budget is None:
            return None
        return self.budget * sum(layer.full_token_bytes() for layer in self.layers)

    def would_overflow(self, new_tokens: int = 1) -> bool:
        """Whether feeding ``new_tokens`` more (at full precision) could break a non-evicting cache's budget."""
        limit = self.budget_bytes()
        if limit is None or self.evicts or not self.is_initialized:
            return False
        extra = new_tokens * sum(layer.full_token_bytes() for layer in self.layers)
        return self.nbytes() + extra > limit

    def attach(self, model: torch.nn.Module) -> BudgetCache:
        """Let score-based policies see the queries: installs pre-hooks on the model's attention modules."""
        if self.layers[0].needs_queries and not self._hooks:
            from kvcache.hf.scoring import install_query_hooks

            self._hooks = install_query_hooks(model, self)
        return self

    def detach(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()


class BudgetStop(StoppingCriteria):
    """Ends ``generate`` before a non-evicting cache would pass its budget, and records the reason on the cache."""

    def __init__(self, cache: BudgetCache) -> None:
        self.cache = cache

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        stop = self.cache.would_overflow(1)
        if stop and self.cache.stop_reason is None:
            self.cache.stop_reason = (
                f"kv budget: {self.cache.policy} cache holds {self.cache.nbytes()} B of a "
                f"{self.cache.budget_bytes()} B budget after {self.cache.get_seq_length()} tokens"
            )
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)
