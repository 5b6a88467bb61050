# attack: plant a relative symlink as stdout.txt pointing at the canary
# expect: blocked
# proves: checks
import os
os.symlink("../../../../../../../@CANARY@", "stdout.txt")
