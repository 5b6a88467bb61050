"""Migrations on stores an older mnemos wrote: 0002 collapses twins and recomputes keys; 0004 keeps concepts active;
0006 leaves older concepts without a trial."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Engine, column, insert, table, text
from sqlalchemy.exc import IntegrityError

from memory import StoreUnavailable, open_memory
from memory.db import alembic_config, make_engine
from memory.models import ConceptRow, ProcedureRow, SubroutineRow, text_key, utcnow


def _rows(question: str, **kw) -> dict:
    now = utcnow()
    return {"question": question, "procedure": "p", "domain": "general", "source": "", "uses": 0, "successes": 0,
            "created_at": now, "updated_at": now, **kw}


def _engine_at(db_url: str, revision: str) -> Engine:
    """A database upgraded only to ``revision``, as an older mnemos left it."""
    engine = make_engine(db_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return engine


def test_0002_merges_twins_that_0001_allowed(db_url, index_dir, embedder):
    engine = _engine_at(db_url, "0001")
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


def test_0004_keeps_concepts_written_before_it_and_makes_them_active(db_url, index_dir, embedder):
    engine = _engine_at(db_url, "0003")
    now = utcnow()
    row = {"name": "old idea", "kind": "routine", "description": "d", "cues": [], "notes": [], "parameters": [],
           "output_type": "", "domain": "math", "problems": ["p1"], "successes": 2, "failures": 1,
           "created_at": now, "updated_at": now}
    before_0004 = table("concepts", *(column(c.name, c.type) for c in ConceptRow.__table__.columns if c.name in row))
    with engine.begin() as conn:
        conn.execute(insert(before_0004).values(row))
    engine.dispose()
    with open_memory(db_url, index_dir, embedder) as m:
        [c] = m.concepts.list()
        assert (c.name, c.successes, c.failures, c.offered, c.status) == ("old idea", 2, 1, 0, "active")


def test_0006_keeps_concepts_written_before_it_with_no_trial(db_url, index_dir, embedder):
    engine = _engine_at(db_url, "0005")
    now = utcnow()
    row = {"name": "old idea", "kind": "routine", "description": "d", "cues": [], "notes": [], "parameters": [],
           "output_type": "", "domain": "math", "problems": ["p1"], "successes": 2, "failures": 1, "offered": 3,
           "status": "active", "created_at": now, "updated_at": now}
    before_0006 = table("concepts", *(column(c.name, c.type) for c in ConceptRow.__table__.columns if c.name in row))
    with engine.begin() as conn:
        conn.execute(insert(before_0006).values(row))
    engine.dispose()
    with open_memory(db_url, index_dir, embedder) as m:
        [c] = m.concepts.list()
        assert (c.name, c.offered, c.trial_with, c.trial_without, c.trial_n) == ("old idea", 3, None, None, None)


def test_0007_leaves_older_procedures_judged_on_all_they_were_checked_on(db_url, index_dir, embedder):
    engine = _engine_at(db_url, "0006")
    now = utcnow()
    row = {"name": "solve", "signature": "solve(q)", "docstring": "", "code": "def solve(q):\n    return None\n",
           "code_key": "k", "domain": "gym/x", "lineage": "l", "version": 1, "evidence": [], "examples": [],
           "checked": 24, "passed": 20, "baseline": 0.0, "status": "active", "offered": 0, "used": 0, "solved": 0,
           "source": "", "created_at": now, "updated_at": now}
    before_0007 = table("procedures", *(column(c.name, c.type) for c in ProcedureRow.__table__.columns
                                        if c.name in row))
    with engine.begin() as conn:
        conn.execute(insert(before_0007).values(row))
    engine.dispose()
    with open_memory(db_url, index_dir, embedder) as m:
        [p] = m.procedures.list()
        assert (p.checked, p.passed, p.answered, p.answers_checked) == (24, 20, None, 24)
        assert p.answer_rate == p.rate == 20 / 24


def test_a_database_from_a_newer_mnemos_gets_a_clear_error(db_url, index_dir, embedder):
    with open_memory(db_url, index_dir, embedder):
        pass
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreUnavailable, match="schema 9999, written by a newer mnemos"):
        open_memory(db_url, index_dir, embedder)
