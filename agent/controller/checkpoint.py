"""LangGraph checkpointers: SQLite in the project database when there is one, memory otherwise."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Checkpointer

from agent.config import Settings
from agent.controller import state as st
from tools.problem import Problem, Verdict

log = logging.getLogger(__name__)

#: The pydantic types a checkpoint may hold; registered so deserialising them is explicit, not a warning.
STATE_TYPES = (st.Part, st.AttemptCounters, st.Segment, st.EvidenceRecord, st.ToolCall, st.NodeStat, st.AttemptRecord, st.Trace,
               st.SolveState, Problem, Verdict)


def serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=list(STATE_TYPES))


def sqlite_path(db_url: str) -> Path | None:
    """The file behind a SQLAlchemy SQLite URL, or None (not SQLite, or in-memory)."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    path = db_url[len(prefix):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def default_checkpointer(settings: Settings) -> Checkpointer:
    """A SqliteSaver on the settings' database file, so a solve resumes after a crash."""
    path = sqlite_path(settings.db_url)
    if path is None:
        log.info("database %s is not a SQLite file; checkpoints are kept in memory", settings.db_url)
        return InMemorySaver(serde=serializer())
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    return SqliteSaver(conn, serde=serializer())
