# attack: os.stat reveals whether host files exist and how big they are
# ruff: noqa - hostile programs kept as written
# expect: error
import os
print(os.stat("@CANARY@"), os.stat("/etc/shadow"))
