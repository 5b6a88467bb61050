"""A real episode store on a temporary SQLite file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Test modules here import the shared stand-ins (batch_standins.py) by name.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'episodes.db'}"


@pytest.fixture
def episode_store(db_url: str) -> Iterator[object]:
    from memory.db import Database
    from memory.episodes import EpisodeStore

    db = Database(db_url)
    yield EpisodeStore(db)
    db.dispose()
