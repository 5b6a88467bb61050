# attack: socket(AF_VSOCK) as a raw syscall through ctypes, past Python's socket module; never connected or bound
# ruff: noqa - hostile programs kept as written
# expect: blocked
import ctypes
import os
import platform
libc = ctypes.CDLL(None, use_errno=True)
nr = {"x86_64": 41, "aarch64": 198}[platform.machine()]
fd = libc.syscall(nr, 40, 1, 0)
if fd < 0:
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
os.close(fd)
