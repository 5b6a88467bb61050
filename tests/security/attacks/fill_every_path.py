# attack: store 8 x 16 MiB under every path that might be writable (/, /dev/shm, /dev, /tmp, /sandbox, the hidden site-packages, the work dir)
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
chunk = b"x" * (1 << 20)
total = 0
for where in ("/", "/dev/shm", "/dev", "/tmp", "/sandbox", "@STDLIB@/site-packages", os.getcwd()):
    try:
        os.makedirs(where, exist_ok=True)
    except OSError:
        pass
    for i in range(8):
        try:
            with open(os.path.join(where, f"fill{i}"), "wb", buffering=0) as fh:
                for _ in range(16):
                    total += fh.write(chunk)
        except OSError:
            pass
        print(f"written: {total}")
