"""Bringing an index back in line with the ids SQL holds (the source of truth)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from retrieval.index import VectorIndex


@dataclass
class Reconciliation:
    """What reconciling an index against the SQL ids changed."""

    added: int = 0
    removed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def reconcile(index: VectorIndex, truth_ids: np.ndarray, fetch_vectors: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> Reconciliation:
    """Make ``index`` cover exactly ``truth_ids``: add missing (vectors from ``fetch_vectors(ids)``), drop unknown."""
    truth_ids = np.unique(np.asarray(truth_ids, dtype=np.int64))
    missing = np.setdiff1d(truth_ids, index.ids, assume_unique=True)
    unknown = np.setdiff1d(index.ids, truth_ids, assume_unique=True)
    result = Reconciliation()
    if len(unknown):
        result.removed = index.remove(unknown)
    if len(missing):
        got_ids, vectors = fetch_vectors(missing)
        result.added = index.add(got_ids, vectors)
    return result
