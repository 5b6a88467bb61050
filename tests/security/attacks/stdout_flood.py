# attack: print 400 MB to stdout to grow the parent's memory
# ruff: noqa - hostile programs kept as written
# expect: contained
# proves: checks
import sys
chunk = "y" * (1 << 20)
for _ in range(400):
    sys.stdout.write(chunk)
