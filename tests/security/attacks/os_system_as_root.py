# attack: run a shell command (it used to run as root with all capabilities)
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
if os.system("id -u > /tmp/mnemos-attack-root") != 0:
    raise SystemExit("no shell")
