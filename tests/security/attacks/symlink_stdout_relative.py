# attack: plant a relative symlink as stdout.txt pointing at the canary
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
os.symlink("../../../../../../../@CANARY@", "stdout.txt")
