"""Policy choices on hand-made tensors: which tokens each scored policy evicts and why."""

from __future__ import annotations

import torch

from kvcache.hf.eviction import RKVLayer, SnapKVLayer


def _fill(layer: SnapKVLayer, keys: torch.Tensor, queries: torch.Tensor) -> None:
    """Load ``keys [n, D]`` as one head's cache and ``queries [w, D]`` as its observation window."""
    n = keys.shape[0]
    layer.lazy_initialization(keys[None, None], keys[None, None])
    layer.seen = n - queries.shape[0]
    layer.observe(queries[None, None])
    layer.seen = n
    layer.keys = keys[None, None].clone()
    layer.values = keys[None, None].clone()
    layer.positions = torch.arange(n)[None, None]


def test_snapkv_keeps_what_the_window_attends_to() -> None:
    d, n = 16, 12
    keys = torch.randn(n, d, generator=torch.Generator().manual_seed(0)) * 0.01
    keys[3] = 5.0  # the token the window looks at
    queries = torch.ones(2, d)
    layer = SnapKVLayer(budget=8, window=2, kernel=1)
    _fill(layer, keys, queries)
    kept = layer.select(4)[0, 0].tolist()
    assert 3 in kept
    assert kept[-2:] == [n - 2, n - 1]  # the observation window itself is protected
    assert kept == sorted(kept)


def test_rkv_evicts_the_older_copy_of_repeated_content() -> None:
    d, n = 16, 10
    g = torch.Generator().manual_seed(1)
    keys = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:n]  # mutually orthogonal keys
    keys[6] = keys[2]  # token 2 is repeated later at 6
    queries = torch.zeros(2, d)  # uniform attention: importance cannot break the tie
    layer = RKVLayer(budget=8, window=2, kernel=1)
    _fill(layer, keys, queries)
    kept = layer.select(n - 1)[0, 0].tolist()
    assert 2 not in kept and 6 in kept
    snap = SnapKVLayer(budget=8, window=2, kernel=1)
    _fill(snap, keys, queries)
    assert 2 in snap.select(n - 1)[0, 0].tolist()  # plain importance does not see the repetition
