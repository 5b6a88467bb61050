"""The ``mnemos`` command line: global flags build the Settings, subcommands do the work.

Each subcommand lives in ``agent.commands.<name>`` and exposes
``register(subparsers)``; the parser it adds sets ``func(args, settings) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from agent.config import Settings

COMMANDS = ("chat", "doctor", "memory", "models", "solve", "eval", "archive", "report", "trace", "serve")

#: Global flags that map one-to-one onto Settings fields.
SETTINGS_FLAGS: dict[str, tuple[type, str]] = {
    "home": (Path, "data directory (default: $MNEMOS_HOME or ~/.local/share/mnemos)"),
    "model": (str, "named model (see `mnemos models`; default qwen2.5-coder-1.5b) or a Hugging Face checkpoint directory"),
    "embedder": (Path, "sentence-transformers model directory (default: embedded all-MiniLM-L6-v2)"),
    "device": (str, "auto | cpu | cuda"),
    "dtype": (str, "model dtype for vLLM: auto, bfloat16, float16, float32"),
    "max_model_len": (int, "max context length in tokens (default: the model's, capped at 16384)"),
    "kv_cache_gib": (float, "KV cache space in GiB for the CPU engine (default: planned from the model and context)"),
    "max_num_seqs": (int, "sequences the engine decodes at once (default 32); caps solve's default concurrency"),
    "engine_url": (str, "vLLM server(s) to generate on, comma-separated, e.g. http://127.0.0.1:8000/v1 "
                   "(started with `mnemos serve`; default: an engine inside this process)"),
    "database_url": (str, "SQLAlchemy URL (default: SQLite file in the data directory)"),
    "memory_mode": (str, "off | frozen | learning"),
    "kv_budget": (int, "token budget for a trace's live context"),
    "kv_policy": (str, "full | fp8 | fold | triattention (CUDA + TriAttention plugin)"),
    "triattention_stats": (Path, "Q/K statistics .pt for kv_policy=triattention"),
    "temperature": (float, "sampling temperature (default 0 = greedy)"),
    "max_tokens": (int, "default max new tokens per generation"),
}


def _version() -> str:
    try:
        return version("mnemos")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnemos",
        description="A memory-augmented reasoning agent on a local vLLM engine. "
        "Flags before the subcommand override $MNEMOS_* variables and the config file.",
    )
    parser.add_argument("--version", action="version", version=f"mnemos {_version()}")
    parser.add_argument("--config", type=Path, help="TOML config file (default: <home>/config.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level (engine logs included)")
    for name, (kind, help_text) in SETTINGS_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None, help=help_text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"agent.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO" if args.verbose else "ERROR")
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries answers and replies only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("vllm").setLevel(logging.ERROR)  # its import-time notices are not the user's business
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.load(args.config, **{k: getattr(args, k) for k in SETTINGS_FLAGS})
        return int(args.func(args, settings) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        lines = user_error(exc)
        if lines is None:
            raise  # a bug, not a user mistake: keep the traceback
        for detail in lines[1:]:
            print(detail, file=sys.stderr)
        print(f"mnemos: error: {lines[0]}", file=sys.stderr)
        return 1


def user_error(exc: BaseException) -> list[str] | None:
    """A failure the user can cause (flag, file, URL, database) as a one-line summary plus detail lines; None for a bug."""
    from pydantic import ValidationError
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from memory.db import describe_db_error

    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        return [f"invalid settings: {problems}"]
    if isinstance(exc, DBAPIError):
        return [f"database error: {describe_db_error(exc)}"]
    if isinstance(exc, SQLAlchemyError):
        return [f"database error: {str(exc).splitlines()[0]}"]
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return [f"{exc.strerror}: {exc.filename}"]
    if isinstance(exc, (ValueError, OSError, RuntimeError)):
        summary, *details = str(exc).strip().splitlines() or [type(exc).__name__]
        return [summary.rstrip(":"), *details]
    return None


if __name__ == "__main__":
    sys.exit(main())
