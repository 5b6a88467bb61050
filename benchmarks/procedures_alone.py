"""What the stored procedures alone solve on a family's dev split: no model, each answer checked, in the jail.

A frozen arm first runs the offerable procedures of a snapshot on each puzzle and only
reasons when none of them gives an answer the checker accepts. This measures that first
step on the whole dev split at no generation cost, so the memory's share of a frozen
arm's score is known before any engine time is spent.

    python benchmarks/procedures_alone.py --snapshot g24-train12            # Game of 24, 200 dev puzzles
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import Settings  # noqa: E402
from agent.controller.procedures import run_procedure  # noqa: E402
from agent.evaluation.snapshot import load_snapshot, store_paths, working_copy  # noqa: E402
from memory.stores import open_memory  # noqa: E402
from tools.domains.game24 import DEFAULT_DEV_SIZE  # noqa: E402
from tools.domains.split import seeded_split  # noqa: E402
from tools.tasks import game24  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshot", required=True, help="snapshot name in $MNEMOS_HOME/snapshots")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None,
                    help="offerable procedures tried per puzzle, best first (default: the portfolio budget)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "game24_procedures_alone.json")
    args = ap.parse_args(argv)
    settings = Settings()
    manifest = load_snapshot(settings.home, args.snapshot)
    _, dev = seeded_split(game24.open_puzzles(), DEFAULT_DEV_SIZE, args.split_seed)
    with tempfile.TemporaryDirectory(prefix="mnemos-procs-") as tmp:
        working_copy(settings.home, args.snapshot, Path(tmp))
        memory = open_memory(*store_paths(Path(tmp)))
        try:
            store = memory.procedures
            limit = settings.budgets.procedure_portfolio if args.limit is None else args.limit
            procs = store.offerable("game24", limit) if store is not None else []
        finally:
            memory.close()
    left, rows = list(dev), []
    for proc in procs:
        t0 = time.perf_counter()
        res = run_procedure(proc.code, proc.name, left)
        rows.append({"id": proc.id, "version": proc.version, "check": f"{proc.passed}/{proc.checked}",
                     "solved": len(res.passed), "tried": len(left), "seconds": round(time.perf_counter() - t0, 2)})
        left = [p for p in left if p.id not in set(res.passed)]
    solved = len(dev) - len(left)
    result = {"snapshot": args.snapshot, "content_sha256": manifest.content_sha256, "split_seed": args.split_seed,
              "dev": len(dev), "solved": solved, "accuracy": round(solved / len(dev), 4), "procedures": rows,
              "date": time.strftime("%Y-%m-%d")}
    print(f"{args.snapshot}: {len(procs)} offerable procedure(s) solve {solved}/{len(dev)} dev puzzles alone")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
