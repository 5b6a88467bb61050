# attack: list the host's root directory
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
print(os.listdir("/"), os.listdir("/tmp"))
