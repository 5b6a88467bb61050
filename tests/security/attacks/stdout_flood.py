# attack: print 400 MB to stdout to grow the parent's memory
# expect: contained
# proves: checks
import sys
chunk = "y" * (1 << 20)
for _ in range(400):
    sys.stdout.write(chunk)
