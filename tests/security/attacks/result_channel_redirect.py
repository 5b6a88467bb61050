# attack: keep a copy of the result channel, point its fd at a private pipe so the hook's record is lost, then forge success
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: end-with-hook
import os
import stat
chans = []
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            chans.append(fd)
    except OSError:
        pass
keep = os.dup(chans[0])
r, w = os.pipe()
for fd in chans:
    os.dup2(w, fd)
try:
    open("/etc/passwd").read()
except BaseException:
    pass
os.write(keep, b'{"kind": "load", "ok": true, "value": null}\n{"kind": "end"}\n')
os._exit(0)
