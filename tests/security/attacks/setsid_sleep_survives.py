# attack: start a detached `setsid sleep` that outlives the call
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
if os.system("setsid sh -c 'sleep 300; : mnemos-attack-proc' &") != 0:
    raise SystemExit("no shell")
