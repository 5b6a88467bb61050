# attack: read the parent's environment through /proc to find secrets
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
data = open(f"/proc/{os.getppid()}/environ", "rb").read()
if b"MNEMOS_ATTACK_CANARY" not in data:
    raise SystemExit("not the parent's environment")
print(data)
