"""SQLAlchemy rows: the durable form of memory, and the source of truth for the vector index.

Each concept/subroutine row carries its embedding (float32 bytes) and the fingerprint of
the model that made it, so the FAISS index can always be rebuilt from SQL alone without
re-running the embedder, and a model swap is detectable.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, LargeBinary, String, Text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def text_key(text: str) -> str:
    """Indexed stand-in for an unbounded text column: equality lookups stay O(log n) at millions of rows."""
    return hashlib.sha1(" ".join(text.split()).casefold().encode()).hexdigest()


def utcnow() -> datetime:
    """Naive UTC, because SQLite drops tz info and both backends must round-trip equally."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Key/value facts about the database itself (its store id ties index files to it)."""

    __tablename__ = "mnemos_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class EmbeddedMixin:
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    embedder: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ConceptRow(EmbeddedMixin, Base):
    __tablename__ = "concepts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(512), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    cues: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    output_type: Mapped[str] = mapped_column(String(256), default="")
    domain: Mapped[str] = mapped_column(String(128), index=True)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    trial_with: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trial_without: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trial_n: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def _question_key(context: DefaultExecutionContext) -> str:
    return text_key(context.get_current_parameters()["question"])


class SubroutineRow(EmbeddedMixin, Base):
    __tablename__ = "subroutines"
    __table_args__ = (Index("uq_subroutines_question_key_domain", "question_key", "domain", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    question: Mapped[str] = mapped_column(Text)
    #: One row per (question, domain): the unique index makes concurrent identical inserts collapse into one.
    question_key: Mapped[str] = mapped_column(String(40), default=_question_key)
    procedure: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(512), default="")
    uses: Mapped[int] = mapped_column(Integer, default=0)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcedureRow(EmbeddedMixin, Base):
    __tablename__ = "procedures"
    __table_args__ = (Index("uq_procedures_code_key_domain", "code_key", "domain", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    signature: Mapped[str] = mapped_column(String(512))
    docstring: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(Text)
    #: One row per (code, domain): the same function found twice is one procedure with both evidences.
    code_key: Mapped[str] = mapped_column(String(40))
    domain: Mapped[str] = mapped_column(String(128), index=True)
    lineage: Mapped[str] = mapped_column(String(64), default="", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    parent_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    examples: Mapped[list[str]] = mapped_column(JSON, default=list)
    checked: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int | None] = mapped_column(Integer, nullable=True)
    baseline: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    offered: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(Integer, default=0)
    solved: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(512), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EpisodeRow(Base):
    __tablename__ = "episodes"
    __table_args__ = (Index("ix_episodes_run_problem", "run_id", "problem_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128), default="")
    problem_id: Mapped[str] = mapped_column(String(256))
    domain: Mapped[str] = mapped_column(String(128), default="general")
    input: Mapped[str] = mapped_column(Text)
    trace: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    verdict: Mapped[str] = mapped_column(String(16), default="unverified")
    score: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    generated_tokens: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    concepts_offered: Mapped[list[int]] = mapped_column(JSON, default=list)
    concepts_used: Mapped[list[int]] = mapped_column(JSON, default=list)
    subroutines_offered: Mapped[list[int]] = mapped_column(JSON, default=list)
    subroutines_used: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportRow(Base):
    """One imported file's content hash, written in the import's own transaction, so a repeat is a no-op."""

    __tablename__ = "memory_imports"
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024), default="")
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
