# attack: monkeypatch posix.getcwd/lstat/readlink and os.path.realpath so the path check resolves to the work dir
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import posix
posix.getcwd = lambda: "/"
posix.lstat = lambda *a, **k: os.stat_result((0o100644,) + (0,) * 9)
os.path.realpath = lambda p, *a, **k: os.getcwd() + "/ok"
data = open("@CANARY@").read()
print(data)
