# attack: list the host's root directory
# expect: blocked
import os
print(os.listdir("/"), os.listdir("/tmp"))
