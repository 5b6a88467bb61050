# attack: add a second audit hook that raises first, hoping to pre-empt the sandbox's hook
# ruff: noqa - hostile programs kept as written
# expect: blocked
import sys
sys.addaudithook(lambda event, args: None)
import os
if os.system("touch /tmp/mnemos-attack-addhook") != 0:
    raise SystemExit("no shell")
