# attack: a deeply nested JSON value on the result channel to blow the parent's parser stack
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
import stat
value = b"[" * 500000 + b"]" * 500000
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'\n{"kind": "load", "ok": true, "value": ' + value + b"}\n")
    except OSError:
        pass
