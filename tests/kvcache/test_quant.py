from __future__ import annotations

import pytest
import torch

from kvcache.hf.quant import dequantize, quantize


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("dim", [0, 1])
def test_roundtrip_error_is_within_half_a_step(bits: int, dim: int) -> None:
    g = torch.Generator().manual_seed(bits)
    x = torch.randn(33, 64, generator=g) * 3 + torch.linspace(-5, 5, 64)
    q = quantize(x, bits, dim=dim)
    err = (dequantize(q) - x).abs()
    step = (x.amax(dim=dim, keepdim=True) - x.amin(dim=dim, keepdim=True)) / (2**bits - 1)
    assert dequantize(q).shape == x.shape
    assert (err <= step / 2 + 1e-5).all()
    assert err.max() > 0


def test_more_bits_less_error_and_packed_storage() -> None:
    x = torch.randn(8, 4, 128, 64, generator=torch.Generator().manual_seed(0))
    errs = {b: (dequantize(quantize(x, b, dim=2)) - x).abs().mean().item() for b in (2, 4, 8)}
    assert errs[8] < errs[4] < errs[2]
    sizes = {b: quantize(x, b, dim=2).codes.numel() for b in (2, 4, 8)}
    assert sizes[8] == x.numel() and sizes[4] == x.numel() // 2 and sizes[2] == x.numel() // 4


def test_constant_groups_and_odd_sizes_roundtrip() -> None:
    x = torch.full((3, 5), 2.5)
    assert torch.equal(dequantize(quantize(x, 4, dim=1)), x)
    y = torch.randn(7, 3)
    assert dequantize(quantize(y, 4, dim=0)).shape == (7, 3)


def test_bad_quantisation_requests() -> None:
    with pytest.raises(ValueError, match="bits"):
        quantize(torch.randn(4), 3, dim=0)
    with pytest.raises(ValueError, match="empty"):
        quantize(torch.empty(0), 4, dim=0)
