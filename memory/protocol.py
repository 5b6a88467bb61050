"""The memory the controller reads and writes, as a structural type.

The controller needs only these operations, so tests and other backends can pass any
object that has them; :class:`memory.stores.MemoryStores` is the real one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from sqlalchemy.orm import Session

from memory.schemas import Concept, SearchHit, Subroutine
from retrieval.embedder import TextEncoder


class ConceptMemory(Protocol):
    @property
    def encoder(self) -> TextEncoder: ...

    def search(
        self, text: str, k: int = 8, domain: str | None = None, kind: str | None = None, min_score: float | None = None
    ) -> list[SearchHit]: ...

    def names(self) -> list[str]: ...

    def add_many(self, items: Sequence[Concept]) -> list[Concept]: ...

    def record_outcome(self, ids: list[int], success: bool, problem_id: str | None = None,
                       baseline: float | None = None, session: Session | None = None) -> None: ...

    def record_offers(self, ids: list[int], session: Session | None = None) -> None: ...

    def count_solve(self, domain: str, solved: bool, session: Session | None = None) -> float: ...


class SubroutineMemory(Protocol):
    def search(self, text: str, k: int = 8, domain: str | None = None, min_score: float | None = None) -> list[SearchHit]: ...

    def add_many(self, items: Sequence[Subroutine]) -> list[Subroutine]: ...

    def record_use(self, ids: list[int], success: bool, session: Session | None = None) -> None: ...


class Memory(Protocol):
    """Concept and procedural memory as the controller uses them."""

    @property
    def concepts(self) -> ConceptMemory: ...

    @property
    def subroutines(self) -> SubroutineMemory: ...

    def transaction(self) -> AbstractContextManager[Session]:
        """One write transaction that store updates given its session join."""
        ...
