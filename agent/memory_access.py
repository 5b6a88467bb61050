"""The one way the agent opens its memory stores, so every command uses the configured embedder.

Stores opened with another embedder than the one that wrote them re-embed every row,
so no caller may pick its own: api, batch runs, ``memory``, ``trace`` and ``doctor`` all come here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import Settings

if TYPE_CHECKING:
    from memory import MemoryStores
    from retrieval.embedder import TextEncoder


def open_memory(settings: Settings, *, db_url: str | None = None, index_dir: Path | None = None,
                encoder: TextEncoder | None = None) -> MemoryStores:
    """Open (creating or migrating as needed) the stores at ``settings.db_url`` beside ``settings.index_dir``.

    ``db_url``/``index_dir`` open another store of the same agent (an eval arm's copy of a snapshot);
    ``encoder`` is an already loaded instance of ``settings.embedder``, passed to load it only once.
    """
    from memory import open_memory as open_stores
    from retrieval.embedder import Embedder

    return open_stores(db_url or settings.db_url, index_dir or settings.index_dir,
                       encoder if encoder is not None else Embedder(settings.embedder))
