# attack: write 400 MB to the result channel to grow the parent's memory
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import stat
chunk = b"[" * (1 << 20)
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(400):
                os.write(fd, chunk)
    except OSError:
        pass
