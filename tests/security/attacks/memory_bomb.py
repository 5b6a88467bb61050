# attack: allocate far more memory than the limit
# ruff: noqa - hostile programs kept as written
# expect: error
blocks = []
while True:
    blocks.append(bytearray(64 << 20))
