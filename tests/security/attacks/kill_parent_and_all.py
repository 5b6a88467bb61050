# attack: kill the parent and every process the user can signal
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import signal
os.kill(os.getppid(), signal.SIGKILL)
os.kill(-1, signal.SIGKILL)
