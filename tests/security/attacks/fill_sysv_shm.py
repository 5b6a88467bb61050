# attack: store bytes in SysV shared memory segments (shmget/shmat through ctypes)
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import ctypes
import os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
total = 0
try:
    for i in range(20):
        sid = libc.shmget(0, 16 << 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        if sid < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        addr = libc.shmat(sid, None, 0)
        ctypes.memset(addr, 120, 16 << 20)
        libc.shmdt(ctypes.c_void_p(addr))
        total += 16 << 20
finally:
    print(f"written: {total}")
