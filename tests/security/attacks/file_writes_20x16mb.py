# attack: fill the disk: 20 files of 16 MB each (335 MB) in the work dir
# ruff: noqa - hostile programs kept as written
# expect: error
chunk = b"x" * (1 << 20)
for i in range(20):
    with open(f"f{i}", "wb") as fh:
        for _ in range(16):
            fh.write(chunk)
