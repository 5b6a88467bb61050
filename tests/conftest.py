"""Shared fixtures: isolated data dirs, and the real engine/embedder built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from agent.config import Settings, default_cache  # noqa: E402

#: Converted models are shared with the user's cache, so a session converts at most once.
MODEL_CACHE = default_cache()
#: Engine *behaviour* tests (batching, stops, constraints, streaming) pin the 135M model for speed;
#: tests of what the default model can do use the default name.
ENGINE_TEST_MODEL = "smollm2-135m"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's data dir or config."""
    monkeypatch.setenv("MNEMOS_HOME", str(tmp_path / "mnemos-home"))
    monkeypatch.setenv("MNEMOS_CACHE", str(MODEL_CACHE))
    monkeypatch.delenv("MNEMOS_CONFIG", raising=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "mnemos-home", cache_dir=MODEL_CACHE)


@pytest.fixture(scope="session")
def embedded_model_dir() -> Path:
    from agent.embedded import resolve_model

    return resolve_model(ENGINE_TEST_MODEL, MODEL_CACHE)


@pytest.fixture(scope="session")
def engine(embedded_model_dir: Path) -> Iterator[object]:
    """One real vLLM engine (SmolLM2-135M, pinned for speed) for the whole session."""
    from agent.engine import Engine

    eng = Engine(embedded_model_dir, max_model_len=4096, kv_cache_gib=2, max_num_seqs=16)
    yield eng
    eng.close()


@pytest.fixture(scope="session")
def embedder() -> object:
    from retrieval.embedder import Embedder

    return Embedder()
