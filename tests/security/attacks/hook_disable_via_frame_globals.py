# attack: walk up to the bootstrap's frame and empty the hook's tables through f_globals
# ruff: noqa - hostile programs kept as written
# expect: blocked
import sys
frame = sys._getframe(0)
while frame.f_back is not None:
    frame = frame.f_back
g = frame.f_globals
for name in list(g):
    if name.startswith("_BLOCKED") or name.endswith("_EVENTS"):
        g[name] = frozenset()
import os
if os.system("id > /tmp/mnemos-attack-frames") != 0:
    raise SystemExit("no shell")
