# attack: one file larger than the per-file cap
# ruff: noqa - hostile programs kept as written
# expect: error
with open("big", "wb") as fh:
    fh.write(b"x" * (40 << 20))
