"""`mnemos trace show ID`: print a stored solve trace readably.

ID is an episode id (the trace the batch runner or `mnemos solve` stored), or
a controller thread id, read from the LangGraph checkpoints in the database.
"""

from __future__ import annotations

import argparse
import json

from agent.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="inspect solve traces")
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION", required=True)
    show = tsub.add_parser("show", help="print one trace (episode id or thread id)")
    show.add_argument("id", help="episode id (integer) or controller thread id")
    show.add_argument("--json", action="store_true", help="print the raw trace as JSON")
    p.set_defaults(func=run)


def _from_episode(settings: Settings, episode_id: int) -> dict:
    from agent.memory_access import open_memory
    from memory import MemoryItemNotFound

    with open_memory(settings) as m:
        try:
            ep = m.episodes.get(episode_id)
        except MemoryItemNotFound as exc:
            raise ValueError(f"no episode with id {episode_id}") from exc
    if not ep.trace:
        raise ValueError(f"episode {episode_id} ({ep.problem_id}) has no stored trace")
    return ep.trace


def _from_thread(settings: Settings, thread_id: str) -> dict:
    from agent.controller.controller import saved_trace

    trace = saved_trace(settings, thread_id)
    if trace is None:
        raise ValueError(f"no episode or controller thread with id {thread_id!r}")
    return trace.model_dump()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.controller import Trace

    raw = _from_episode(settings, int(args.id)) if args.id.isdigit() else _from_thread(settings, args.id)
    trace = Trace.model_validate(raw)
    print(json.dumps(trace.model_dump(mode="json"), indent=2) if args.json else trace.render())
    return 0
