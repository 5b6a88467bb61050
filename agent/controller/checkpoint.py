"""LangGraph checkpointers: SQLite in the project database when there is one, memory otherwise."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
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


class ThreadedSqliteSaver(SqliteSaver):
    """SqliteSaver whose async methods run the sync ones in a worker thread.

    langgraph's ``AsyncSqliteSaver`` binds itself to the event loop it was made
    in, but ``Controller.solve`` runs each call in a fresh loop; this saver
    works from any loop (and from plain threads), on the same file and schema,
    so a run checkpointed by ``solve`` resumes under ``asolve`` and back.
    """

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        items = await asyncio.to_thread(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for item in items:
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)


def default_checkpointer(settings: Settings) -> Checkpointer:
    """A SqliteSaver on the settings' database file, so a solve resumes after a crash."""
    path = sqlite_path(settings.db_url)
    if path is None:
        log.info("database %s is not a SQLite file; checkpoints are kept in memory", settings.db_url)
        return InMemorySaver(serde=serializer())
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False)
    return ThreadedSqliteSaver(conn, serde=serializer())
