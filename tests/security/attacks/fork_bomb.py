# attack: fork bomb past the process limit (root ignores RLIMIT_NPROC); children sleep with a marker
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
import sys
while True:
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", "mnemos-attack-proc"])
