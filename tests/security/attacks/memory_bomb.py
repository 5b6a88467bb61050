# attack: allocate far more memory than the limit
# expect: error
blocks = []
while True:
    blocks.append(bytearray(64 << 20))
