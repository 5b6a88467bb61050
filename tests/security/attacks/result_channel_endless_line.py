# attack: one 256 MB record with no newline, so a line-based reader never gets to parse and drop it
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import stat
chunk = b'{"kind": "load", "ok": true, "value": "' + b"x" * (1 << 20)
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(256):
                os.write(fd, chunk)
    except OSError:
        pass
