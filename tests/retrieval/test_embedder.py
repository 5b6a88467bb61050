from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedder import Embedder, default_model_dir


def test_default_model_is_the_embedded_minilm(embedder: Embedder):
    assert embedder.path == default_model_dir()
    assert embedder.dim == 384


def test_encode_is_normalised_float32_and_semantic(embedder: Embedder):
    vecs = embedder.encode(
        ["How do I add two fractions?", "What is the sum of two fractions?", "Rotate the grid by 90 degrees."]
    )
    assert vecs.dtype == np.float32 and vecs.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.3


def test_encode_batches_consistently(embedder: Embedder):
    texts = [f"step {i}: multiply by {i}" for i in range(5)]
    small = Embedder(embedder.path, batch_size=2)
    np.testing.assert_allclose(small.encode(texts), embedder.encode(texts), atol=1e-5)


def test_encode_edge_cases(embedder: Embedder):
    assert embedder.encode([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.encode("a single string")


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        Embedder(tmp_path / "nope")


def test_fingerprint_distinguishes_models(embedder: Embedder, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"hidden_size": 8}')
    assert Embedder(other).dim == 8
    assert Embedder(other).fingerprint != embedder.fingerprint


def test_concurrent_encodes_match_sequential(embedder) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [[f"how to rotate a grid {i} times", f"sum of {i} and {i + 1}"] for i in range(8)]
    expected = [embedder.encode(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(embedder.encode, texts))
    for e, g in zip(expected, got):
        np.testing.assert_allclose(e, g, atol=1e-5)
