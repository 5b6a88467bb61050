"""Runs ``memory import`` in a subprocess that kills itself mid-import (for the all-or-none tests).

argv: DB_URL INDEX_DIR FILE MODE, where MODE is ``mid-subroutines`` (SIGKILL after half the
subroutines were written inside the import transaction) or ``before-commit`` (SIGKILL after
every row was written, just before the commit).
"""

from __future__ import annotations

import os
import signal
import sys

from standins import ConstantEncoder

import memory.transfer
from memory import open_memory


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, index_dir, path, mode = sys.argv[1:5]
    stores = open_memory(url, index_dir, ConstantEncoder(), merge_threshold=None)
    if mode == "mid-subroutines":
        original_write = stores.subroutines.write

        def write_half_then_die(s, items, vectors):
            half = len(items) // 2
            original_write(s, items[:half], vectors[:half])
            s.flush()
            _die()

        stores.subroutines.write = write_half_then_die
    elif mode == "before-commit":
        original_episodes = stores.episodes.write

        def write_then_die(s, episodes):
            original_episodes(s, episodes)
            s.flush()
            _die()

        stores.episodes.write = write_then_die
    else:
        raise SystemExit(f"unknown mode {mode}")
    print("importing", flush=True)
    memory.transfer.import_jsonl(stores, path)
    print("imported", flush=True)


if __name__ == "__main__":
    main()
