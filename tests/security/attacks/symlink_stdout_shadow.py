# attack: plant stdout.txt as a symlink to /etc/shadow so the parent reads it back as output
# ruff: noqa - hostile programs kept as written
# expect: blocked
# proves: checks
import os
os.symlink("/etc/shadow", "stdout.txt")
