# attack: a symlink whose target looks inside from a subdirectory cwd but points out from where it lives
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
os.mkdir("sub")
os.chdir("sub")
os.symlink("..", "/sandbox/work/up")
print(open("/sandbox/work/up/up/up/@CANARY@").read())
