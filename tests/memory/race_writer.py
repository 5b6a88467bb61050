"""One of two concurrent writers for the race tests (run as a subprocess).

argv: DB_URL INDEX_DIR TAG N. Opens the stores, prints ``ready``, waits for a line on
stdin so both writers start together, then makes N rounds of two writes: the same
subroutine questions as the other writer (each with ``uses=1``), and a merge into the
one shared concept (a problem id unique to this writer and round, ``successes=1``).
Similarity merging is off, so embeddings play no part and a constant encoder keeps
the writers fast enough to overlap for the whole run.
"""

from __future__ import annotations

import sys

from standins import ConstantEncoder

from memory import Concept, Subroutine, open_memory


def main() -> None:
    url, index_dir, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open_memory(url, index_dir, ConstantEncoder(), merge_threshold=None) as stores:
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(n):
            stores.subroutines.add(Subroutine(question=f"How is step {i} of the shared plan done?", procedure=f"{tag} {i}", uses=1))
            stores.concepts.add(Concept(name="shared concept", problems=[f"{tag}-{i}"], successes=1))
    print("done", flush=True)


if __name__ == "__main__":
    main()
