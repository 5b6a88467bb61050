# attack: 200 MB of valid, in-order call records holding 30x30 grids, so every record passes validation
# ruff: noqa - hostile programs kept as written
# expect: blocked
import json
import os
import stat
grid = [[7] * 30 for _ in range(30)]
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'\n{"kind": "load", "ok": true}\n')
            for i in range(100_000):
                os.write(fd, ("\n" + json.dumps({"kind": "call", "index": i, "ok": True, "value": grid}) + "\n").encode())
    except OSError:
        pass
