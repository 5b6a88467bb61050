"""`mnemos memory ...`: inspect, search, move and repair the memory stores."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.config import Settings
from memory.kinds import KINDS as MEMORY_KINDS

#: ``--kind`` choices: every registered memory kind, then episodes.
KINDS = (*(k.item_type for k in MEMORY_KINDS), "episode")
#: Actions that change a store, refused on a snapshot.
WRITING_ACTIONS = frozenset({"undo", "import", "rebuild-index", "ingest-traces", "recheck"})


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("memory", help="inspect and manage concept/subroutine/episode memory")
    actions = parser.add_subparsers(dest="memory_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        p.add_argument("--store", type=Path, default=None, metavar="DIR",
                       help="another store: an evaluation's (runs/NAME/ARM-store, runs/NAME/train-store) or a "
                       "snapshot's directory (read it, do not write to a snapshot)")
        p.set_defaults(func=run)
        return p

    action("stats", "counts, index layout and domains per memory kind")

    p = action("list", "list stored items")
    p.add_argument("--kind", choices=KINDS, default="concept")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--domain", help="only this domain (concepts, subroutines)")
    p.add_argument("--run", dest="run_id", help="only this run (episodes)")

    p = action("show", "show one item in full")
    p.add_argument("id", type=int)
    p.add_argument("--kind", choices=KINDS, default="concept")

    p = action("undo", "retire a repaired procedure version and make the one it replaced active again")
    p.add_argument("id", type=int, help="the procedure version to undo")

    p = action("search", "semantic search")
    p.add_argument("text")
    p.add_argument("--kind", choices=KINDS[:-1], default="concept")
    p.add_argument("-k", type=int, default=8)
    p.add_argument("--domain")
    p.add_argument("--concept-kind", choices=("structure", "routine"), help="concept kind filter")
    p.add_argument("--min-score", type=float)

    p = action("export", "write items to a JSONL file")
    p.add_argument("file", type=Path)
    p.add_argument("--kind", choices=KINDS, help="only this kind (default: all)")

    p = action("import", "validate and import a JSONL file (all lines or none)")
    p.add_argument("file", type=Path)
    p.add_argument("--kind", choices=KINDS, help="kind for lines without a 'type' field")

    action("rebuild-index", "rebuild the FAISS indexes from SQL")

    p = action("recheck", "run every active procedure again on its family's check problems and record what it "
               "passed and answered (procedures stored before answers were counted need this to be judged on them)")
    p.add_argument("--save-snapshot", metavar="NAME", default=None,
                   help="then save the rechecked store as snapshot NAME (needed when --store is a snapshot, which "
                        "is never written: the recheck runs on a copy)")

    p = action("ingest-traces", "store subroutines decomposed from reasoning traces (JSONL)")
    p.add_argument("file", type=Path)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--domain", help="domain for traces that name none")


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str, ensure_ascii=False))
    else:
        print(text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.evaluation.snapshot import DB_FILE, MANIFEST, copy_store, store_paths
    from agent.memory_access import open_memory
    from memory import MemoryItemNotFound

    where: dict[str, Any] = {}
    if getattr(args, "save_snapshot", None) and args.store is None:
        raise ValueError("--save-snapshot needs --store DIR (an evaluation's store or a snapshot)")
    with tempfile.TemporaryDirectory(prefix="mnemos-snapshot-") as tmp:
        if args.store is not None:
            if not (args.store / DB_FILE).is_file():
                raise FileNotFoundError(f"no memory store in {args.store} (expected {args.store / DB_FILE})")
            store = args.store
            if (store / MANIFEST).is_file():  # a snapshot: opening it would rewrite it, so read a copy
                if args.memory_command in WRITING_ACTIONS and not getattr(args, "save_snapshot", None):
                    raise ValueError(f"{args.store} is a snapshot and snapshots are read-only; `mnemos memory "
                                     f"{args.memory_command}` writes (use an evaluation's ARM-store or the main memory)")
                copy_store(store, Path(tmp))
                store = Path(tmp)
            where["db_url"], where["index_dir"] = store_paths(store)
        try:
            with open_memory(settings, **where) as stores:
                if args.memory_command != "recheck":
                    return _dispatch(args, stores)
                code = _recheck(args, stores, settings)
            if args.save_snapshot:
                from agent.evaluation.snapshot import create_snapshot

                made = create_snapshot(store, settings.home, args.save_snapshot,
                                       {"rechecked": str(args.store), "procedure_checks":
                                        settings.budgets.procedure_checks})
                print(f"snapshot {made.name}: {made.counts}", file=sys.stderr)
            return code
        except MemoryItemNotFound as exc:
            print(f"mnemos: error: {exc}", file=sys.stderr)
            return 1


def _recheck(args: argparse.Namespace, stores, settings: Settings) -> int:
    from agent.controller.procedures import recheck

    changed = recheck(stores.procedures, settings.budgets.procedure_checks)
    lines = [f"P{old.id} [{old.domain}] check {old.passed}/{old.checked} -> {new.passed}/{new.checked}, answered "
             f"{new.answered}" for old, new in changed]
    data: dict[str, Any] = {"procedures": [new.model_dump(mode="json", include={"id", "domain", "checked", "passed",
                                                                               "answered"}) for _, new in changed]}
    _emit(args, data, "\n".join(lines) or "no active procedures")
    return 0


def _dispatch(args: argparse.Namespace, stores) -> int:
    from memory.ingest import ingest_traces
    from memory.transfer import export_jsonl, import_jsonl

    cmd = args.memory_command
    store_of = stores.by_item_type()
    if cmd == "stats":
        stats = stores.stats()
        lines = [f"database: {stats['database']}"]
        for kind in stores.kinds:
            s = stats[kind]
            lines.append(f"{kind}: {s['count']} rows, {s['indexed']} indexed ({s['index']}), domains {s['domains']}")
        lines.append(f"episodes: {stats['episodes']['count']} in {stats['episodes']['runs']} run(s)")
        _emit(args, stats, "\n".join(lines))
    elif cmd == "list":
        if args.limit < 1 or args.offset < 0:
            raise ValueError("--limit must be at least 1 and --offset at least 0")
        if args.kind == "episode":
            items = stores.episodes.list(run_id=args.run_id, limit=args.limit, offset=args.offset)
        else:
            items = store_of[args.kind].list(limit=args.limit, offset=args.offset, domain=args.domain)
        _emit(args, [i.model_dump(mode="json") for i in items], "\n".join(store_of[args.kind].line(i) for i in items) or "(none)")
    elif cmd == "show":
        item = store_of[args.kind].get(args.id)
        _emit(args, item.model_dump(mode="json"), json.dumps(item.model_dump(mode="json"), indent=2, ensure_ascii=False))
    elif cmd == "undo":
        parent = stores.procedures.undo(args.id)
        _emit(args, parent.model_dump(mode="json"), f"procedure {args.id} retired; active again: "
              f"{stores.procedures.line(parent)}")
    elif cmd == "search":
        if args.k < 1:
            raise ValueError("-k must be at least 1")
        store = store_of[args.kind]
        filters = {"kind": args.concept_kind} if args.concept_kind else {}
        hits = store.search(args.text, args.k, domain=args.domain, min_score=args.min_score, **filters)
        text = "\n".join(f"{h.score:.3f}  {store.line(h.item)}" for h in hits) or "(no hits)"
        _emit(args, [h.model_dump(mode="json") for h in hits], text)
    elif cmd == "export":
        counts = export_jsonl(stores, args.file, [args.kind] if args.kind else None)
        _emit(args, counts, f"exported {counts} to {args.file}")
    elif cmd == "import":
        result = import_jsonl(stores, args.file, args.kind)
        if result.already_imported:
            text = (f"{args.file}: the same content was imported on {result.imported_at:%Y-%m-%d %H:%M} UTC; "
                    "nothing changed")
        else:
            text = f"imported {result.counts} from {args.file}"
        _emit(args, result.model_dump(mode="json"), text)
    elif cmd == "rebuild-index":
        stores.rebuild_index()
        data = {s.kind: {"vectors": s.index.count, "index": s.index.layout} for s in stores.kinds.values()}
        _emit(args, data, "\n".join(f"{k}: rebuilt {v['vectors']} vectors ({v['index']})" for k, v in data.items()))
    elif cmd == "ingest-traces":
        report = ingest_traces(stores.subroutines, args.file, batch_size=args.batch_size, domain=args.domain)
        text = (
            f"{report.lines} trace line(s): {report.traces_ok} ok, {len(report.failures)} failed; "
            f"{report.subroutines_in} subroutine(s) in, {report.subroutines_new} new after merging"
        )
        text += "".join(f"\n  line {n}: {msg}" for n, msg in report.failures)
        _emit(args, report.model_dump(), text)
        return 1 if report.failures and not report.traces_ok else 0
    return 0
