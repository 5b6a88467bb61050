# attack: trigger a violation, swallow it, then forge an all-clear on the result channel and exit
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: end-with-hook
import os
import stat
try:
    open("/etc/passwd").read()
except BaseException:
    pass
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'{"kind": "load", "ok": true, "value": 1}\n{"kind": "end"}\n')
    except OSError:
        pass
os._exit(0)
