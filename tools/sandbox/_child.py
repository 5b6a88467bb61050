"""Bootstrap that runs model code (started by ``tools.sandbox.run``, inside the jail; never imported).

Order matters: everything that needs privileges (reading the payload, limits,
leaving the network in the weak mode) happens first; then the audit hook goes
in, and only then does model code run. Results go back as JSON lines on the
result-channel fd named in ``argv[1]``.

Model code shares this process, so it can write to that fd too: the parent
therefore treats the channel as untrusted input (validated, capped, grammar
checked), and the audit hook writes each violation to the channel *before* it
raises, prefixed by a newline, so no later write can retract or absorb it.
"""

import ctypes  # loaded before the audit hook (its import dlopens); numpy imports it later
import json
import os
import resource
import sys
import traceback  # imported before the hook so error reporting never needs a blocked import

#: Exit status after a violation: the hook ends the process, so nothing model code writes afterwards counts.
VIOLATION_EXIT = 113


def _read_payload() -> dict:
    chunks = []
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return json.loads(b"".join(chunks).decode("utf-8"))


def _limit(payload: dict) -> None:
    mem = int(payload["memory_mb"]) * 1024 * 1024
    cpu = int(payload["cpu_seconds"])
    fsize = int(payload["file_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Each open pipe holds up to 64 KiB of kernel memory; few fds keep that small.
    fds = int(payload["max_open_files"])
    resource.setrlimit(resource.RLIMIT_NOFILE, (fds, fds))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    # RLIMIT_NPROC counts every process of the (namespaced) user, so the cap is "what exists now + a few".
    # The jail has no /proc to count them: the parent knows (bwrap's init and this process).
    now = payload.get("processes_now")
    nproc = (int(now) if now is not None else _user_process_count()) + int(payload["max_processes"])
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
    """Weak mode only: enter a fresh, empty network namespace when the kernel lets us."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        clone_newnet, clone_newuser = 0x40000000, 0x10000000
        ok = libc.unshare(clone_newnet) == 0 or libc.unshare(clone_newuser | clone_newnet) == 0
    except Exception:  # noqa: BLE001 - best effort here; the audit hook still blocks sockets
        ok = False
    return ok


def _line_buffered_output() -> None:
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115


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
        "os.chown", "os.lchown", "os.setxattr", "os.removexattr", "os.mkfifo", "os.mknod", "sqlite3.connect",
        "os.fwalk", "cpython.PyInterpreterState_New",
    }
)
#: Modules that create processes without an audit event of their own, or hand out raw memory and
#: interpreter internals (CPython's test extensions), or start subinterpreters, which have no hook.
_BLOCKED_IMPORTS = frozenset(
    {"_posixsubprocess", "_testcapi", "_testinternalcapi", "_testbuffer", "_testmultiphase", "_testclinic",
     "_testimportmultiple", "_testsinglephase", "_xxsubinterpreters", "_xxinterpchannels", "_xxtestfuzz", "_ctypes_test"}
)
#: Events whose first argument is a path that must lie in the work dir.
_WRITE_PATH_EVENTS = frozenset(
    {"os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.truncate", "os.utime", "os.chdir", "shutil.rmtree",
     "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.make_archive"}
)
_TWO_PATH_EVENTS = frozenset({"os.rename", "os.replace", "shutil.copyfile", "shutil.move", "os.link"})
_READ_PATH_EVENTS = frozenset({"os.listdir", "os.scandir", "glob.glob", "os.chflags"})


def _install_hook(workdir: str, read_roots: tuple, channel_fd: int) -> None:
    """Install the audit hook; every name it uses is bound here, so model code cannot rebind it.

    Only C-level functions are called at event time (``posix.*``, builtins, str
    methods), never module attributes or Python-level library code that model
    code could patch. A violation is written to the channel and then ends the
    process at once: model code gets no chance to forge records after it, and
    if it has redirected the channel the exit status still tells the parent.
    """
    import _json
    import posix

    lstat, readlink, getcwd, fspath, write = posix.lstat, posix.readlink, posix.getcwd, posix.fspath, posix.write
    exit_now, encode = posix._exit, _json.encode_basestring_ascii
    _isinstance, _len, _str, _bytes, _int, _type, _tuple = isinstance, len, str, bytes, int, type, tuple
    str_repr, str_join, str_split, bytes_decode, type_repr = str.__repr__, str.join, str.split, bytes.decode, type.__repr__
    blocked_events, blocked_imports = _BLOCKED_EVENTS, _BLOCKED_IMPORTS
    write_events, two_path_events, read_events = _WRITE_PATH_EVENTS, _TWO_PATH_EVENTS, _READ_PATH_EVENTS
    os_pathlike, violation_exit = os.PathLike, VIOLATION_EXIT
    writing_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    o_directory, s_ifmt, s_iflnk, s_ifdir = os.O_DIRECTORY, 0o170000, 0o120000, 0o040000

    def split(path: str) -> list:
        return [p for p in str_split(path, "/") if p and p != "."]

    def resolve(path: str, base: str) -> str:
        """realpath() built on ``posix.lstat``/``readlink`` only; missing parts are kept as written."""
        todo = split(path) if path.startswith("/") else split(base) + split(path)
        done: list = []
        hops = 0
        while todo:
            part = todo.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + str_join("/", done + [part])
            try:
                mode = lstat(candidate).st_mode
            except (OSError, ValueError):
                mode = 0
            if mode & s_ifmt == s_iflnk and hops < 40:
                hops += 1
                target = readlink(candidate)
                todo = (split(target) if target.startswith("/") else done + split(target)) + todo
                done = []
                continue
            done.append(part)
        return "/" + str_join("/", done)

    def text(path: object) -> str:
        if _isinstance(path, _bytes):
            return bytes_decode(path, "utf-8", "replace")
        if _isinstance(path, _str):
            return _str.__str__(path)
        return text(fspath(path))

    work = resolve(text(workdir), "/")
    roots = _tuple(resolve(text(r), "/") for r in read_roots) + (work,)

    def inside(path: object, allowed: tuple, base: str = "") -> bool:
        if _isinstance(path, _int):
            return True
        full = resolve(text(path), base or getcwd())
        for root in allowed:
            if full == root or full.startswith(root + "/"):
                return True
        return False

    def is_dir(path: object) -> bool:
        if _isinstance(path, _int):
            return False
        try:
            return lstat(resolve(text(path), getcwd())).st_mode & s_ifmt == s_ifdir
        except (OSError, ValueError):
            return False

    def deny(event: str, detail: object) -> None:
        try:
            shown = str_repr(text(detail)) if _isinstance(detail, (_str, _bytes, os_pathlike)) else type_repr(_type(detail))
        except BaseException:  # noqa: BLE001 - a hostile __fspath__ must not stop the record
            shown = "?"
        record = '\n{"kind": "violation", "message": ' + encode((event + ": " + shown)[:300]) + "}\n"
        try:
            write(channel_fd, record.encode("ascii"))
        finally:
            exit_now(violation_exit)

    def hook(event: str, args: tuple) -> None:
        if event in blocked_events or event.startswith("ctypes."):
            deny(event, args[0] if args else "")
        elif event == "import":
            name = args[0] if args else ""
            if _isinstance(name, _str) and str_split(text(name), ".")[0] in blocked_imports:
                deny("import", name)
        elif event == "open":
            path = args[0]
            mode = args[1] if _len(args) > 1 else "r"
            flags = args[2] if _len(args) > 2 else 0
            writing = (_isinstance(mode, _str) and any_char(text(mode), "wax+")) or bool(_isinstance(flags, _int) and flags & writing_flags)
            if path is None:
                return
            if not inside(path, (work,) if writing else roots):
                deny("open", path)
            # A directory fd would let dir_fd= paths resolve somewhere this hook never sees.
            if (_isinstance(flags, _int) and flags & o_directory) or is_dir(path):
                deny("open directory", path)
        elif event == "os.symlink":
            src, dst = args[0], args[1]
            link_dir = resolve(text(dst), getcwd()).rsplit("/", 1)[0] or "/"
            if not inside(dst, (work,)) or not inside(src, (work,), link_dir):
                deny(event, src)
        elif event in two_path_events:
            for p in args[:2]:
                if (_isinstance(p, (_str, _bytes)) or hasattr_fspath(p)) and not inside(p, (work,)):
                    deny(event, p)
        elif event in write_events:
            if args and (_isinstance(args[0], (_str, _bytes)) or hasattr_fspath(args[0])) and not inside(args[0], (work,)):
                deny(event, args[0])
        elif event in read_events and args and (_isinstance(args[0], (_str, _bytes)) or hasattr_fspath(args[0])) \
                and not inside(args[0], roots):
            deny(event, args[0])

    def any_char(s: str, chars: str) -> bool:
        for c in chars:
            if c in s:
                return True
        return False

    def hasattr_fspath(obj: object) -> bool:
        return _isinstance(obj, os_pathlike)

    sys.addaudithook(hook)


def _stub_process_spawning() -> None:
    """Let ``import subprocess`` succeed while its fork/exec primitive refuses to run (via the hook when it is on)."""
    import types

    audit = sys.audit

    def fork_exec(*_args: object, **_kwargs: object) -> None:
        audit("os.exec", "_posixsubprocess.fork_exec", None, None)
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


def _shown(value: object, cap: int) -> object:
    """A script's trailing value is only shown, so one too big to show goes back as its cut repr, not in full."""
    try:
        size = len(json.dumps(value, default=_jsonable))
    except (TypeError, ValueError, RecursionError):
        return value  # emit reports it as not serialisable
    if size <= cap:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text[:cap] + "\n[... value truncated]"


def _describe(exc: BaseException) -> dict:
    if isinstance(exc, SandboxViolation):
        kind = "forbidden"
    elif isinstance(exc, MemoryError):
        kind = "memory"
    elif isinstance(exc, SyntaxError):
        kind = "syntax"
    else:
        kind = "exception"
    frames = traceback.StackSummary.extract(traceback.walk_tb(exc.__traceback__), lookup_lines=False)
    user = [f for f in frames if f.filename == "<model-code>"]
    where = f" (line {user[-1].lineno})" if user else ""
    return {"error": kind, "message": f"{type(exc).__name__}: {exc}{where}"[:2000]}


#: Name under which each ``return`` of the entry function reports its line (see :func:`_mark_returns`).
_RETURNED = "__mnemos_returned__"


def _mark_returns(ast, tree, entry: str | None) -> None:
    """Rewrite each ``return X`` of the top-level function ``entry`` as ``return (__mnemos_returned__(0, LINE), X)[1]``:
    record the line, then return X unchanged. A failing check can then say which ``return`` gave its
    answer ("returned None at line 7"), which a small model needs to find a pattern that never matched. Nested
    functions are left alone; a call that ends without a return records nothing. Diagnostic only: model code could
    overwrite the name, and the parent takes only an int from it.
    """
    if entry is None:
        return

    class Marker(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            return node

        visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef

        def visit_Return(self, node):
            mark = ast.Call(func=ast.Name(id=_RETURNED, ctx=ast.Load()),
                            args=[ast.Constant(0), ast.Constant(node.lineno)], keywords=[])
            value = node.value if node.value is not None else ast.Constant(None)
            node.value = ast.Subscript(value=ast.Tuple(elts=[mark, value], ctx=ast.Load()), slice=ast.Constant(1),
                                       ctx=ast.Load())
            return node

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            node.body = [Marker().visit(stmt) for stmt in node.body]
    ast.fix_missing_locations(tree)


def _emitter(channel_fd: int):
    write = os.write

    def emit(record: dict) -> None:
        try:
            line = json.dumps(record, default=_jsonable)
        except (TypeError, ValueError, RecursionError) as exc:
            line = json.dumps({**record, "value": None, "ok": False, "error": "exception", "message": f"result not serialisable: {exc}"})
        data = ("\n" + line + "\n").encode("utf-8")
        while data:
            data = data[write(channel_fd, data):]

    return emit


def main() -> None:
    channel_fd = int(sys.argv[1])
    payload = _read_payload()
    workdir = os.getcwd()
    emit = _emitter(channel_fd)
    _limit(payload)
    isolated = _leave_network() if payload.get("leave_network") else False
    _line_buffered_output()
    import ast

    if payload.get("site"):
        sys.path.append(payload["site"])
    emit({"kind": "start", "network_isolated": isolated})
    _stub_process_spawning()
    if payload.get("audit_hook", True):
        _install_hook(workdir, tuple(payload["read_roots"]), channel_fd)
    namespace: dict = {"__name__": "__sandbox__", "__builtins__": __builtins__}
    returned: dict = {}
    code = payload["code"]
    try:
        tree = ast.parse(code, filename="<model-code>")
        _mark_returns(ast, tree, payload.get("entry"))
        namespace[_RETURNED] = returned.__setitem__
        last_expr = None
        if payload.get("entry") is None and tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expr = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<model-code>", "exec"), namespace)  # noqa: S102 - running model code is the point
        value = eval(compile(last_expr, "<model-code>", "eval"), namespace) if last_expr is not None else None
    except BaseException as exc:  # noqa: BLE001 - everything model code does is reported, nothing escapes
        emit({"kind": "load", "ok": False, **_describe(exc)})
        return
    entry = payload.get("entry")
    fn = namespace.get(entry) if entry is not None else None
    if entry is not None and not callable(fn):
        emit({"kind": "load", "ok": False, "error": "exception", "message": f"the code defines no function named {entry!r}"})
        return
    emit({"kind": "load", "ok": True, "value": _shown(value, int(payload.get("max_value_chars", 20_000)))})
    if fn is not None:
        for i, args in enumerate(payload.get("calls", [])):
            returned.clear()
            try:
                value = fn(*args)
                line = returned.get(0)
                emit({"kind": "call", "index": i, "ok": True, "value": value,
                      "line": line if type(line) is int else None})
            except BaseException as exc:  # noqa: BLE001
                emit({"kind": "call", "index": i, "ok": False, **_describe(exc)})
    emit({"kind": "end"})


if __name__ == "__main__":
    main()
