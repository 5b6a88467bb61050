"""Fixtures for controller tests: real memory stores on a fast hashing encoder, and a controller factory."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.config import Settings
from agent.controller import Controller
from agent.controller.checkpoint import serializer


class HashEncoder:
    """Bag-of-words hashed into 64 dims: deterministic, instant, good enough for word-overlap search."""

    dim = 64
    fingerprint = "hash-bow-64"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture
def memory(tmp_path: Path, hash_encoder: HashEncoder) -> Iterator[object]:
    from memory import open_memory

    m = open_memory(f"sqlite:///{tmp_path / 'mem.db'}", tmp_path / "idx", hash_encoder)
    yield m
    m.close()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(budgets: dict[str, float] | None = None, **kw: object) -> Settings:
        # Hashed bag-of-words similarities are not MiniLM's: offer every hit unless a test sets the bar.
        limits = {"segments": 4, "segment_tokens": 64, "tokens": 400, "retries": 1, "min_relevance": -1,
                  **(budgets or {})}
        base = {"home": tmp_path / "home", "memory_mode": "frozen", "budgets": limits, **kw}
        return Settings(**base)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_controller(make_settings: Callable[..., Settings], hash_encoder: HashEncoder) -> Callable[..., Controller]:
    def make(llm: object, memory: object = None, checkpointer: object = None, prime: bool = False,
             **kw: object) -> Controller:
        renamed = {"mode": "solve_mode", "vote": "diversity_vote"}
        kw = {renamed.get(k, k): v for k, v in kw.items()}
        return Controller(llm, memory, make_settings(prime_recall=prime, **kw),
                          checkpointer or InMemorySaver(serde=serializer()), embedder=hash_encoder)

    return make
