"""A memory writer for the crash tests (run as a subprocess, killed mid-batch).

argv: DB_URL INDEX_DIR MODE, where MODE is ``loop`` (write until killed),
``kill-after-commit`` (SIGKILL itself after the third batch's SQL commit, before the index add) or
``kill-mid-batch`` (SIGKILL itself inside the fifth batch's transaction, after 5 of its 10 rows).
"""

from __future__ import annotations

import os
import signal
import sys

import memory.vector_store
from memory import Subroutine, open_memory
from retrieval.index import VectorIndex


def main() -> None:
    url, index_dir, mode = sys.argv[1:4]
    stores = open_memory(url, index_dir, merge_threshold=None)
    if mode == "kill-after-commit":
        original = VectorIndex.add
        calls = {"n": 0}

        def add_then_die(self, ids, vectors):
            calls["n"] += 1
            if calls["n"] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(self, ids, vectors)

        VectorIndex.add = add_then_die
    elif mode == "kill-mid-batch":
        original_insert = memory.vector_store.insert_ignore
        inserts = {"n": 0}

        def insert_then_die(*args, **kwargs):
            inserts["n"] += 1
            if inserts["n"] == 4 * 10 + 6:
                os.kill(os.getpid(), signal.SIGKILL)
            return original_insert(*args, **kwargs)

        memory.vector_store.insert_ignore = insert_then_die
    for batch in range(10_000):
        items = [Subroutine(question=f"batch {batch} step {i}: how to reduce {i}/{batch + 2}", procedure="divide by gcd") for i in range(10)]
        stores.subroutines.add_many(items)
        print(batch, flush=True)


if __name__ == "__main__":
    main()
