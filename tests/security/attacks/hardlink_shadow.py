# attack: hard-link /etc/shadow into the work dir
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
os.link("/etc/shadow", "shadow")
print(open("shadow").read())
