# attack: fork, leave the session, exec a long sleep that should outlive the call
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
import sys
if os.fork() == 0:
    os.setsid()
    os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "mnemos-attack-proc"])
