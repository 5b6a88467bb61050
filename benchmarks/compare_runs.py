"""Did a change alter what the model answered? Two runs of the same problems, compared problem by problem.

A refactor that must not change behaviour is checked by running the same eval arm at
the old and the new commit (each with its own ``MNEMOS_HOME``) and comparing their
episodes here: per arm, problems in both runs, how many scores and answers differ, the
solved counts and generated tokens on the shared problems. Nothing is sampled: with
greedy decoding an unchanged controller gives the same answers.

    python benchmarks/compare_runs.py --before OLD_HOME/mnemos.db --after NEW_HOME/mnemos.db \\
        --runs i19-before:i19-after --arms plain,off --out docs/results/refactor_check.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any


def latest(db: Path, run_id: str) -> dict[str, tuple[float, str | None, int]]:
    """Problem id -> (score, answer, generated tokens) of a run's latest episode per problem.

    Read-only SQL, not :class:`memory.episodes.EpisodeStore`: opening a store migrates it, and the old
    commit's database must stay as that commit wrote it.
    """
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("select problem_id, score, answer, generated_tokens from episodes where run_id = ? "
                           "order by id", (run_id,)).fetchall()
    return {pid: (score, answer, tokens) for pid, score, answer, tokens in rows}


def compare(before: dict[str, tuple[float, str | None, int]],
            after: dict[str, tuple[float, str | None, int]]) -> dict[str, Any]:
    shared = sorted(set(before) & set(after))
    return {
        "before_n": len(before), "after_n": len(after), "shared": len(shared),
        "score_differs": [p for p in shared if before[p][0] != after[p][0]],
        "answer_differs": [p for p in shared if before[p][1] != after[p][1]],
        "before_solved": sum(before[p][0] >= 1.0 for p in shared),
        "after_solved": sum(after[p][0] >= 1.0 for p in shared),
        "before_generated_tokens": sum(before[p][2] for p in shared),
        "after_generated_tokens": sum(after[p][2] for p in shared),
        "only_before": sorted(set(before) - set(after)), "only_after": sorted(set(after) - set(before)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="database of the old commit's run")
    ap.add_argument("--after", type=Path, required=True, help="database of the new commit's run")
    ap.add_argument("--runs", required=True, metavar="OLD:NEW", help="eval names (arm runs are NAME-ARM)")
    ap.add_argument("--arms", default="plain,off")
    ap.add_argument("--note", default="", help="what was compared (commits, model), kept in the JSON")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    for db in (args.before, args.after):
        if not db.is_file():
            ap.error(f"no database at {db}")
    old, sep, new = args.runs.partition(":")
    if not sep or not old or not new:
        ap.error("--runs takes OLD:NEW")
    arms = {arm: compare(latest(args.before, f"{old}-{arm}"), latest(args.after, f"{new}-{arm}"))
            for arm in args.arms.split(",")}
    for arm, c in arms.items():
        print(f"{arm:<8} shared {c['shared']:>4}  solved {c['before_solved']} -> {c['after_solved']}  "
              f"scores differ {len(c['score_differs'])}  answers differ {len(c['answer_differs'])}  "
              f"tokens {c['before_generated_tokens']} -> {c['after_generated_tokens']}")
    result = {"runs": {"before": old, "after": new}, "note": args.note, "date": time.strftime("%Y-%m-%d"),
              "arms": arms}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
