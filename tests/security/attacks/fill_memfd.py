# attack: store bytes in anonymous memfd files, which no mount's size cap covers
# ruff: noqa - hostile programs kept as written
# expect: error
# proves: checks
import os
chunk = b"x" * (1 << 20)
total, kept = 0, []
try:
    for i in range(20):
        fd = os.memfd_create(f"fill{i}")
        kept.append(fd)
        for _ in range(16):
            total += os.write(fd, chunk)
finally:
    print(f"written: {total}")
