from __future__ import annotations

import numpy as np
import pytest

from retrieval.index import (
    IndexConfig,
    IndexCorrupt,
    IndexMissing,
    IndexStale,
    VectorIndex,
)
from retrieval.reconcile import reconcile

DIM = 32


def clustered(n: int, seed: int = 0, clusters: int = 50) -> np.ndarray:
    """Unit vectors around random centres, like embeddings of related texts."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIM))
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, DIM))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def test_flat_search_is_exact_and_ids_are_sql_keys():
    x = clustered(500)
    ids = np.arange(500) * 7 + 3
    idx = VectorIndex.build(ids, x, DIM)
    assert idx.layout == "flat"
    res = idx.search(x[:20], 5)
    exact = np.argsort(-(x[:20] @ x.T), axis=1)[:, :5]
    for r, e in zip(res, exact):
        assert list(r.ids) == list(ids[e])
    assert res[0].scores[0] == pytest.approx(1.0, abs=1e-5)


def test_re_adding_ids_never_duplicates():
    x = clustered(10)
    idx = VectorIndex.empty(DIM)
    assert idx.add(np.arange(10), x) == 10
    assert idx.add(np.arange(10), x) == 0
    assert idx.add(np.array([3, 3, 11]), x[:3]) == 1
    assert idx.count == idx.index.ntotal == 11


def test_remove_and_allow_filter():
    x = clustered(100)
    idx = VectorIndex.build(np.arange(100), x, DIM)
    assert idx.remove(np.array([0, 1, 999])) == 2
    assert 0 not in idx.search(x[0], 5)[0].ids
    allowed = np.array([50, 60, 70])
    got = idx.search(x[0], 5, allow=allowed)[0].ids
    assert set(got) == set(allowed)


def test_bad_batches_are_rejected():
    idx = VectorIndex.empty(DIM)
    with pytest.raises(ValueError, match="shape"):
        idx.add(np.arange(2), np.zeros((2, DIM + 1), np.float32))
    with pytest.raises(ValueError, match="ids for"):
        idx.add(np.arange(3), np.zeros((2, DIM), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        idx.add(np.arange(1), np.full((1, DIM), np.nan, np.float32))


def test_switches_to_ivf_past_threshold_with_high_recall():
    x = clustered(20_000, seed=1)
    ids = np.arange(20_000) + 1
    cfg = IndexConfig(flat_threshold=5_000)
    idx = VectorIndex.build(ids, x, DIM, cfg)
    assert idx.layout.startswith("ivf")
    q = clustered(200, seed=2)
    exact = ids[np.argsort(-(q @ x.T), axis=1)[:, :8]]
    got = idx.search(q, 8)
    recall = np.mean([len(set(g.ids) & set(e)) / 8 for g, e in zip(got, exact)])
    assert recall >= 0.9
    small = VectorIndex.build(ids[:100], x[:100], DIM, cfg)
    small.add(ids[100:5000], x[100:5000])
    assert small.wants_rebuild() is not None


def test_save_load_round_trip(tmp_path):
    x = clustered(300)
    idx = VectorIndex.build(np.arange(300), x, DIM, owner="db1", fingerprint="emb1")
    path = tmp_path / "kind.index"
    idx.save(path)
    back = VectorIndex.load(path, DIM, owner="db1", fingerprint="emb1")
    assert back.count == 300 and list(back.ids) == list(range(300))
    assert list(back.search(x[5], 3)[0].ids) == list(idx.search(x[5], 3)[0].ids)


def test_load_detects_missing_corrupt_and_stale(tmp_path):
    path = tmp_path / "kind.index"
    with pytest.raises(IndexMissing):
        VectorIndex.load(path, DIM)
    VectorIndex.build(np.arange(50), clustered(50), DIM, owner="db1", fingerprint="e").save(path)
    with pytest.raises(IndexStale, match="another database"):
        VectorIndex.load(path, DIM, owner="db2")
    with pytest.raises(IndexStale, match="embedder"):
        VectorIndex.load(path, DIM, fingerprint="other")
    with pytest.raises(IndexStale, match="dimension"):
        VectorIndex.load(path, DIM + 1)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="checksum"):
        VectorIndex.load(path, DIM)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(IndexCorrupt):
        VectorIndex.load(path, DIM)
    path.write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt, match="magic"):
        VectorIndex.load(path, DIM)


def test_reconcile_adds_missing_and_drops_unknown():
    x = clustered(20)
    idx = VectorIndex.build(np.arange(10), x[:10], DIM)
    truth = np.arange(5, 20)
    res = reconcile(idx, truth, lambda ids: (ids, x[ids]))
    assert (res.added, res.removed) == (10, 5)
    assert list(idx.ids) == list(truth)
    assert not reconcile(idx, truth, lambda ids: (ids, x[ids])).changed
