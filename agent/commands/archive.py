"""`mnemos archive save NAME FILE` / `mnemos archive load FILE`: move an evaluation between machines.

A long `mnemos eval` may outlive the machine it started on. ``save`` packs the
evaluation (split, setup, arm stores, training snapshot and every arm's episodes)
into one file; ``load`` restores it elsewhere, and rerunning the same `mnemos eval`
command there resumes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archive", help="save an evaluation to one file, or load one, to resume it on another machine",
                       description="Pack an evaluation (runs/NAME, its snapshots, its episodes) into a .tar.gz, or "
                       "restore one. Loading only adds what the data directory lacks; then rerun the same "
                       "`mnemos eval` command to resume.")
    actions = p.add_subparsers(dest="archive_action", metavar="ACTION", required=True)
    save = actions.add_parser("save", help="write evaluation NAME to FILE (safe while it runs)")
    save.add_argument("name", metavar="NAME", help="the evaluation's --name")
    save.add_argument("file", type=Path, metavar="FILE", help="archive to write (.tar.gz)")
    load = actions.add_parser("load", help="restore an archive into the data directory")
    load.add_argument("file", type=Path, metavar="FILE", help="archive written by `mnemos archive save`")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.evaluation.archive import load_archive, save_archive

    if args.archive_action == "save":
        m = save_archive(settings, args.name, args.file)
        runs = ", ".join(f"{r} {n}" for r, n in m.episodes.items()) or "none"
        print(f"wrote {args.file}: episodes {runs}; stores {', '.join(m.stores) or 'none'}; "
              f"snapshots {', '.join(m.snapshots) or 'none'}")
        return 0
    if not args.file.is_file():
        raise FileNotFoundError(f"no archive at {args.file}")
    r = load_archive(settings, args.file)
    print(f"loaded evaluation {r.manifest.name} from {args.file}: {r.episodes_added} episodes added, "
          f"{r.episodes_kept} already here; restored {', '.join(r.restored) or 'nothing'}"
          + (f"; kept {', '.join(r.kept)}" if r.kept else ""))
    print(f"rerun the same `mnemos eval ... --name {r.manifest.name}` command to resume", file=sys.stderr)
    return 0
