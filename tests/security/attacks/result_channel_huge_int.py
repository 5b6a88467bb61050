# attack: a 7-million-digit integer on the result channel, to stall the parent converting it
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
import stat
digits = b"9" * 7_000_000
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'\n{"kind": "load", "ok": true, "value": ' + digits + b'}\n{"kind": "end"}\n')
            os._exit(0)
    except OSError:
        pass
