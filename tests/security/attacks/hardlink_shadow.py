# attack: hard-link /etc/shadow into the work dir
# expect: blocked
import os
os.link("/etc/shadow", "shadow")
print(open("shadow").read())
