# attack: park bytes in pipe buffers, grown with F_SETPIPE_SZ to 1 MiB each
# ruff: noqa - hostile programs kept as written
# expect: contained
# proves: checks
import fcntl
import os
total, kept = 0, []
try:
    for _ in range(1000):
        r, w = os.pipe()
        kept += [r, w]
        try:
            fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
        except OSError:
            pass
        os.set_blocking(w, False)
        try:
            while True:
                total += os.write(w, b"x" * 65536)
        except BlockingIOError:
            pass
except OSError:
    pass
print(f"written: {total}")
