"""File-level care for index files: whether a temp file's writer is gone, and durable renames."""

from __future__ import annotations

import os
from pathlib import Path


def writer_gone(tmp: Path) -> bool:
    """Whether the process that wrote ``<index>.<pid>.tmp`` has exited; a live writer's file is about to be renamed."""
    pid = tmp.name.rsplit(".", 2)[-2]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
