"""Durable memory: concepts, subroutines and episodes in SQL, with FAISS indexes beside the database."""

from memory.concepts import ConceptStore
from memory.db import StoreMissing, StoreUnavailable
from memory.episodes import EpisodeStore
from memory.protocol import Memory
from memory.schemas import Concept, ConceptParameter, Episode, SearchHit, Subroutine
from memory.stores import MemoryStores, open_memory
from memory.subroutines import SubroutineStore
from memory.vector_store import MemoryItemNotFound

__all__ = [
    "Concept",
    "ConceptParameter",
    "ConceptStore",
    "Episode",
    "EpisodeStore",
    "Memory",
    "MemoryItemNotFound",
    "MemoryStores",
    "SearchHit",
    "StoreMissing",
    "StoreUnavailable",
    "Subroutine",
    "SubroutineStore",
    "open_memory",
]
