# attack: malformed and out-of-order records on the result channel (used to raise KeyError in the parent)
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
import stat
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'{"kind": "call"}\n{"kind": "load"}\nnot json at all\n{"kind": "call", "index": 7, "ok": true}\n[1, 2]\n')
    except OSError:
        pass
