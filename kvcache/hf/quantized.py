"""KV quantisation during decoding (KIVI layout) as a budgeted cache layer."""

from __future__ import annotations

import torch

from kvcache.hf.base import BudgetLayer
from kvcache.errors import KVBudgetError
from kvcache.hf.quant import SUPPORTED_BITS, QuantizedTensor, dequantize, quantize


class KIVILayer(BudgetLayer):
    """Asymmetric low-bit KV cache with a full-precision residual.

    Follows Liu et al., "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache" (ICML 2024,
    arXiv:2402.02750): keys are quantised per channel (a scale/zero per channel over each group of
    ``group_size`` tokens, because key outliers live in fixed channels), values per token (a
    scale/zero per ``group_size`` channels of one token). Recent tokens wait in a full-precision
    residual; whenever it reaches ``residual`` tokens, its whole groups are quantised. Nothing is
    evicted, so the budget (in full-precision token-equivalents of memory) ends decoding when reached.
    """

    policy = "kivi"

    def __init__(self, budget: int | None = None, bits: int = 4, group_size: int = 32, residual: int = 128) -> None:
        super().__init__(budget)
        if bits not in SUPPORTED_BITS:
            raise KVBudgetError(f"kivi: bits must be one of {SUPPORTED_BITS}, got {bits}")
        if group_size < 1 or residual < group_size or residual % group_size:
            raise KVBudgetError(
                f"kivi: residual ({residual}) must be a positive multiple of group_size ({group_size})"
            )
        self.bits = bits
        self.group_size = group_size
        self.residual = residual
        self.qkeys: list[QuantizedTensor] = []
        self.qvalues: list[QuantizedTensor] = []

    def store(
        self, key_states: torch.Tensor, value_states: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        old_keys = [self._restore_keys(q) for q in self.qkeys]
        old_values = [self._restore_values(q) for q in self.qvalues]
        super().store(key_states, value_states, positions)
        keys = torch.cat([*old_keys, self.keys], dim=-2)
        values = torch.cat([*old_values, self.values], dim=-2)
        if self.keys.shape[-2] >= self.residual:
            self._flush()
        return keys, values

    def _flush(self) -> None:
        g = self.group_size
        m = (self.keys.shape[-2] // g) * g
        b, h, _, d = self.keys.shape
        k, v = self.keys[..., :m, :], self.values[..., :m, :]
        self.qkeys.append(quantize(k.reshape(b, h, m // g, g, d), self.bits, dim=3))
        if d % g == 0:
            self.qvalues.append(quantize(v.reshape(b, h, m, d // g, g), self.bits, dim=4))
        else:
            self.qvalues.append(quantize(v, self.bits, dim=3))
        self.keys, self.values = self.keys[..., m:, :], self.values[..., m:, :]

    def _restore_keys(self, q: QuantizedTensor) -> torch.Tensor:
        b, h, groups, g, d = q.shape
        return dequantize(q).reshape(b, h, groups * g, d)

    def _restore_values(self, q: QuantizedTensor) -> torch.Tensor:
        b, h, m = q.shape[:3]
        return dequantize(q).reshape(b, h, m, -1)

    def stored_tokens(self) -> int:
        return self.seen

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seen + query_length, 0

    def nbytes(self) -> int:
        quantised = sum(q.nbytes for q in (*self.qkeys, *self.qvalues))
        return quantised + super().nbytes()

    def reset(self) -> None:
        super().reset()
        self.qkeys, self.qvalues = [], []

    def _apply_batch(self, fn: object) -> None:
        raise NotImplementedError("kivi: reordering or expanding the batch of a quantised cache is unsupported (no beam search)")
