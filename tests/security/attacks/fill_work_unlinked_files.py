# attack: fill the work dir with files that are unlinked but kept open, so no listing shows the bytes
# ruff: noqa - hostile programs kept as written
# expect: error
# proves: checks
import os
chunk = b"x" * (1 << 20)
total, kept = 0, []
for i in range(40):
    try:
        fd = os.open(f"u{i}", os.O_CREAT | os.O_RDWR)
    except OSError:
        break
    os.unlink(f"u{i}")
    kept.append(fd)
    try:
        for _ in range(16):
            total += os.write(fd, chunk)
    finally:
        print(f"written: {total}")
raise OSError("stopped at the cap")
