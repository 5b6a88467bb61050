# attack: plant stdout.txt -> /proc/PPID/fd/0 so the parent blocks reading its own stdin
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
os.symlink(f"/proc/{os.getppid()}/fd/0", "stdout.txt")
os.symlink(f"/proc/{os.getppid()}/fd/0", "stderr.txt")
