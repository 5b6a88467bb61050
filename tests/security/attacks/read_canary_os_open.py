# attack: read the canary with os.open/os.read instead of open()
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
fd = os.open("@CANARY@", os.O_RDONLY)
print(os.read(fd, 1000).decode())
