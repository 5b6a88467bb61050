"""Fixtures for the memory store suite: the same tests run on SQLite and on PostgreSQL.

PostgreSQL runs when MNEMOS_TEST_PG_URL points at a server (``eval "$(scripts/postgres.sh)"``);
each test starts from an empty schema there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from memory import open_memory
from memory.models import Base
from retrieval.embedder import Embedder

PG_URL = os.environ.get("MNEMOS_TEST_PG_URL")


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mnemos.db'}"
    if not PG_URL:
        pytest.skip("MNEMOS_TEST_PG_URL is unset: start a server with `eval \"$(scripts/postgres.sh)\"`")
    _reset_postgres(PG_URL)
    return PG_URL


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "indexes"


@pytest.fixture
def stores(db_url: str, index_dir: Path, embedder: Embedder):
    with open_memory(db_url, index_dir, embedder) as s:
        yield s
