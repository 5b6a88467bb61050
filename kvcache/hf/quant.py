"""Asymmetric min/max integer quantisation with bit packing, for KV tensors.

Each group of values shares a scale ``(max - min) / (2**bits - 1)`` and a zero
point ``min``; a value is stored as ``round((x - min) / scale)``, so the
round-trip error of any element is at most ``scale / 2`` (plus float rounding).
Codes narrower than a byte are packed several per ``uint8`` so the memory the
benchmark reports is the memory actually held.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

SUPPORTED_BITS = (2, 4, 8)


@dataclass(frozen=True)
class QuantizedTensor:
    """Packed codes plus the per-group scale and zero point needed to restore the tensor."""

    codes: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    bits: int
    shape: torch.Size
    dim: int

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.codes, self.scale, self.zero))


def quantize(x: torch.Tensor, bits: int, dim: int) -> QuantizedTensor:
    """Quantise ``x`` with one (scale, zero) pair per slice along ``dim`` (the reduced axis is the group)."""
    if bits not in SUPPORTED_BITS:
        raise ValueError(f"bits must be one of {SUPPORTED_BITS}, got {bits}")
    if x.numel() == 0:
        raise ValueError("cannot quantise an empty tensor")
    levels = 2**bits - 1
    lo = x.amin(dim=dim, keepdim=True)
    hi = x.amax(dim=dim, keepdim=True)
    scale = ((hi - lo) / levels).clamp_min(torch.finfo(x.dtype).tiny)
    codes = torch.round((x - lo) / scale).clamp_(0, levels).to(torch.uint8)
    return QuantizedTensor(_pack(codes, bits), scale, lo, bits, x.shape, dim)


def dequantize(q: QuantizedTensor) -> torch.Tensor:
    codes = _unpack(q.codes, q.bits, q.shape)
    return codes.to(q.scale.dtype) * q.scale + q.zero


def _pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    per_byte = 8 // bits
    flat = codes.reshape(-1)
    if per_byte == 1:
        return flat.clone()
    pad = (-flat.numel()) % per_byte
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    flat = flat.view(-1, per_byte)
    packed = torch.zeros(flat.shape[0], dtype=torch.uint8, device=codes.device)
    for i in range(per_byte):
        packed |= flat[:, i] << (i * bits)
    return packed


def _unpack(packed: torch.Tensor, bits: int, shape: torch.Size) -> torch.Tensor:
    per_byte = 8 // bits
    count = int(torch.Size(shape).numel())
    if per_byte == 1:
        return packed.view(shape)
    mask = 2**bits - 1
    parts = [(packed >> (i * bits)) & mask for i in range(per_byte)]
    return torch.stack(parts, dim=1).reshape(-1)[:count].view(shape)
