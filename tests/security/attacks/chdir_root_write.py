# attack: chdir to / and write a relative path
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
os.chdir("/")
open("tmp/mnemos-attack-chdir", "w").write("pwned")
