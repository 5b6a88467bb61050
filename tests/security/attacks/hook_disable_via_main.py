# attack: switch the audit hook off by rebinding its globals in __main__, then run a shell command as root
# ruff: noqa - hostile programs kept as written
# expect: blocked
import __main__
__main__._BLOCKED_EVENTS = frozenset()
__main__._WRITE_PATH_EVENTS = frozenset()
__main__.any = lambda _: True
import os
if os.system("cat /etc/shadow > /tmp/mnemos-attack-shadow") != 0:
    raise SystemExit("no shell")
