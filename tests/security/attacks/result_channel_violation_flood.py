# attack: a million small valid violation records, each one a string the parent would keep
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import stat
record = b'\n{"kind": "violation", "message": "x"}\n' * 1000
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(1000):
                os.write(fd, record)
    except OSError:
        pass
