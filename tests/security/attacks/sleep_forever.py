# attack: sleep past the wall-clock limit without using CPU
# ruff: noqa - hostile programs kept as written
# expect: timeout
# proves: checks
import time
time.sleep(3600)
