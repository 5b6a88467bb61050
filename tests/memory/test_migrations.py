"""Migration 0002 on a store written by 0001: twins collapse, keys are recomputed, the unique key then holds."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError

from memory import open_memory
from memory.db import alembic_config, make_engine
from memory.models import SubroutineRow, text_key, utcnow


def _rows(question: str, **kw) -> dict:
    now = utcnow()
    return {"question": question, "procedure": "p", "domain": "general", "source": "", "uses": 0, "successes": 0,
            "created_at": now, "updated_at": now, **kw}


def test_0002_merges_twins_that_0001_allowed(db_url, index_dir, embedder):
    engine = make_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    key = text_key("How do I add fractions?")
    with engine.begin() as conn:
        conn.execute(insert(SubroutineRow.__table__), [
            _rows("How do I add fractions?", question_key=key, uses=1, successes=1),
            _rows("How do I add fractions?", question_key=key, uses=2, source="gsm-7"),
            _rows("how do I  add fractions?", question_key="", uses=4),
            _rows("How do I add fractions?", question_key=key, domain="arc", uses=8),
            _rows("Unrelated question?", question_key="", uses=16),
        ])
    engine.dispose()

    with open_memory(db_url, index_dir, embedder, merge_threshold=None) as m:
        subs = m.subroutines.list()
        assert [(s.id, s.domain, s.uses, s.successes, s.source) for s in subs] == [
            (1, "general", 7, 1, "gsm-7"), (4, "arc", 8, 0, ""), (5, "general", 16, 0, "")
        ]
        assert list(m.subroutines.index.ids) == [1, 4, 5]
        with m.db.session() as s:
            assert s.scalar(text("SELECT question_key FROM subroutines WHERE id = 5")) == text_key("Unrelated question?")
        with pytest.raises(IntegrityError), m.db.write() as s:
            s.execute(insert(SubroutineRow.__table__).values(_rows("HOW DO I ADD FRACTIONS?")))
