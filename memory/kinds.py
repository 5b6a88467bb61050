"""The registered memory kinds: one :class:`~memory.vector_store.VectorStore` subclass per file, listed here.

Opening, stats, index rebuilds, closing, export/import and ``mnemos memory`` all
iterate over :data:`KINDS`, so adding a kind is its file (table, item model, merge
rule, display line), its table's migration and one line here.
"""

from __future__ import annotations

from typing import Any

from memory.concepts import ConceptStore
from memory.procedures import ProcedureStore
from memory.subroutines import SubroutineStore
from memory.vector_store import VectorStore

KINDS: tuple[type[VectorStore[Any]], ...] = (ConceptStore, SubroutineStore, ProcedureStore)
