"""The one way the agent opens its memory stores, so every command uses the configured embedder.

Stores opened with another embedder than the one that wrote them re-embed every row,
so no caller may pick its own: api, batch runs, ``memory``, ``trace`` and ``doctor`` all come here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.config import Settings

if TYPE_CHECKING:
    from memory import MemoryStores


def open_memory(settings: Settings) -> MemoryStores:
    """Open (creating or migrating as needed) the stores at ``settings.db_url`` beside ``settings.index_dir``."""
    from memory import open_memory as open_stores
    from retrieval.embedder import Embedder

    return open_stores(settings.db_url, settings.index_dir, Embedder(settings.embedder))
