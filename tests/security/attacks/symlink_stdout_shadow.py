# attack: plant stdout.txt as a symlink to /etc/shadow so the parent reads it back as output
# expect: blocked
# proves: checks
import os
os.symlink("/etc/shadow", "stdout.txt")
