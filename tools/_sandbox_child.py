"""Bootstrap that runs inside the sandbox process (started by ``tools.sandbox``; never imported).

Order matters: everything that needs privileges or file access (reading the
payload, limits, leaving the network namespace, redirecting output) happens
first; then the audit hook goes in, and only after that does model code run.
Results go back as JSON lines on a private copy of the original stdout.
"""

import ctypes  # loaded before the audit hook (its import needs dlopen); every ctypes.* event is refused later
import json
import os
import resource
import sys

VIOLATION_EXIT = 3


def _read_payload() -> dict:
    return json.loads(sys.stdin.buffer.read().decode("utf-8"))


def _limit(payload: dict) -> None:
    mem = int(payload["memory_mb"]) * 1024 * 1024
    cpu = int(payload["cpu_seconds"])
    fsize = int(payload["file_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # RLIMIT_NPROC counts every process of the user, so the cap is "what exists now + a few".
    nproc = _user_process_count() + int(payload["max_processes"])
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    except (ValueError, OSError):
        pass


def _user_process_count() -> int:
    uid, count = os.getuid(), 0
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    count += entry.stat().st_uid == uid
                except OSError:
                    pass
    except OSError:
        return 64
    return count


def _leave_network() -> bool:
    """Enter a fresh, empty network namespace when the kernel lets us (root, or user namespaces)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        clone_newnet, clone_newuser = 0x40000000, 0x10000000
        ok = libc.unshare(clone_newnet) == 0 or libc.unshare(clone_newuser | clone_newnet) == 0
    except Exception:  # noqa: BLE001 - isolation is best effort here; the audit hook still blocks sockets
        ok = False
    return ok


def _redirect_output(workdir: str) -> "object":
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        target = os.open(os.path.join(workdir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    return channel


class SandboxViolation(BaseException):
    """A BaseException, so that model code's ``except Exception`` cannot swallow it."""


_BLOCKED_EVENTS = frozenset(
    {
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
        "subprocess.Popen", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function",
        "resource.setrlimit", "resource.prlimit", "sys.addaudithook", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "webbrowser.open", "urllib.Request", "socket.__new__", "socket.connect",
        "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
        "os.setuid", "os.chroot", "os.add_dll_directory", "sys.remote_exec", "os.startfile", "shutil.chown",
        "os.chown", "os.lchown", "os.setxattr", "os.removexattr", "os.mkfifo", "os.mknod",
    }
)
#: Low-level modules that create processes without raising an audit event of their own.
_BLOCKED_IMPORTS = frozenset({"_posixsubprocess"})
#: Events whose first argument is a path that must lie in the work dir.
_WRITE_PATH_EVENTS = frozenset(
    {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.truncate", "os.utime", "os.symlink", "os.link", "os.chdir", "shutil.rmtree", "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.make_archive"}
)
_READ_PATH_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chflags"})


def _is_path(value: object) -> bool:
    return isinstance(value, (str, bytes, os.PathLike))


def _install_hook(workdir: str, read_roots: tuple, violations: list) -> None:
    work = os.path.realpath(workdir)
    roots = tuple(os.path.realpath(r) for r in read_roots) + (work,)
    realpath, join, getcwd = os.path.realpath, os.path.join, os.getcwd

    def inside(path: object, allowed: tuple) -> bool:
        if isinstance(path, int):
            return True
        if isinstance(path, bytes):
            path = path.decode("utf-8", "replace")
        if not isinstance(path, str):
            path = os.fspath(path)
        full = realpath(join(getcwd(), path))
        return any(full == r or full.startswith(r + os.sep) for r in allowed)

    def deny(event: str, detail: object) -> None:
        violations.append(f"{event}: {detail!r}"[:300])
        raise SandboxViolation(f"sandbox forbids {event} ({detail!r})")

    def hook(event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS or event.startswith("ctypes."):
            deny(event, args[:1] if args else "")
        elif event == "import":
            name = args[0] if args else ""
            if isinstance(name, str) and name.split(".")[0] in _BLOCKED_IMPORTS:
                deny("import", name)
        elif event == "open":
            path, mode = args[0], args[1] if len(args) > 1 else "r"
            flags = args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
            )
            if path is not None and not inside(path, (work,) if writing else roots):
                deny("open", path)
        elif event in ("os.rename", "os.replace", "shutil.copyfile", "shutil.move", "os.link", "os.symlink"):
            for p in args[:2]:
                if isinstance(p, (str, bytes, os.PathLike)) and not inside(p, (work,)):
                    deny(event, p)
        elif event in _WRITE_PATH_EVENTS:
            if args and isinstance(args[0], (str, bytes, os.PathLike)) and not inside(args[0], (work,)):
                deny(event, args[0])
        elif event in _READ_PATH_EVENTS and args and _is_path(args[0]) and not inside(args[0], roots):
            deny(event, args[0])

    sys.addaudithook(hook)


def _stub_process_spawning() -> None:
    """Let ``import subprocess`` succeed (sympy needs it) while its fork/exec primitive refuses to run."""
    import types

    def fork_exec(*_args: object, **_kwargs: object) -> None:
        raise SandboxViolation("sandbox forbids starting processes")

    stub = types.ModuleType("_posixsubprocess")
    stub.fork_exec = fork_exec
    sys.modules["_posixsubprocess"] = stub


def _jsonable(value: object) -> object:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def _describe(exc: BaseException) -> dict:
    import traceback

    if isinstance(exc, SandboxViolation):
        kind = "forbidden"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, RecursionError):
        kind = "exception"
    elif isinstance(exc, SyntaxError):
        kind = "syntax"
    else:
        kind = "exception"
    frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__), lookup_lines=False)
    user = [f for f in frames if f.filename == "<model-code>"]
    where = f" (line {user[-1].lineno})" if user else ""
    return {"error": kind, "message": f"{type(exc).__name__}: {exc}{where}"[:2000]}


def _emit(channel, record: dict) -> None:
    try:
        line = json.dumps(record, default=_jsonable)
    except (TypeError, ValueError) as exc:
        line = json.dumps({**record, "value": None, "ok": False, "error": "exception", "message": f"result not serialisable: {exc}"})
    channel.write(line + "\n")
    channel.flush()


def main() -> None:
    payload = _read_payload()
    workdir = os.getcwd()
    _limit(payload)
    isolated = _leave_network() if payload.get("unshare_network", True) else False
    channel = _redirect_output(workdir)
    import ast
    import traceback  # noqa: F401 - imported before the hook so error reporting never needs blocked imports

    violations: list = []
    _emit(channel, {"kind": "start", "network_isolated": isolated})
    _stub_process_spawning()
    _install_hook(workdir, tuple(payload["read_roots"]), violations)
    namespace: dict = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    code = payload["code"]
    try:
        tree = ast.parse(code, filename="<model-code>")
        last_expr = None
        if payload.get("entry") is None and tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expr = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<model-code>", "exec"), namespace)  # noqa: S102 - running model code is the point
        value = eval(compile(last_expr, "<model-code>", "eval"), namespace) if last_expr is not None else None
        _emit(channel, {"kind": "load", "ok": True, "value": value})
    except BaseException as exc:  # noqa: BLE001 - everything model code does is reported, nothing escapes
        _emit(channel, {"kind": "load", "ok": False, **_describe(exc), "violations": violations})
        return
    entry = payload.get("entry")
    if entry is not None:
        fn = namespace.get(entry)
        if not callable(fn):
            _emit(channel, {"kind": "load", "ok": False, "error": "exception", "message": f"the code defines no function named {entry!r}"})
            return
        for i, args in enumerate(payload.get("calls", [])):
            try:
                _emit(channel, {"kind": "call", "index": i, "ok": True, "value": fn(*args)})
            except BaseException as exc:  # noqa: BLE001
                _emit(channel, {"kind": "call", "index": i, "ok": False, **_describe(exc)})
    _emit(channel, {"kind": "end", "violations": violations})


if __name__ == "__main__":
    main()
