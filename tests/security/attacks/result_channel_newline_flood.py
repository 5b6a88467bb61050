# attack: 127 writes of "\nx" * 32768 to the result channel: four million malformed records to swell the parent
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
import stat
for fd in range(3, 64):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(127):
                os.write(fd, b"\nx" * 32768)
    except OSError:
        pass
