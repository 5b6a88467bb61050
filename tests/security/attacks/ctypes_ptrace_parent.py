# attack: ptrace-attach to the parent process to read its memory
# ruff: noqa - hostile programs kept as written
# expect: blocked
import ctypes
import os
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(16, os.getppid(), None, None) != 0:
    raise SystemExit(f"ptrace failed: errno {ctypes.get_errno()}")
