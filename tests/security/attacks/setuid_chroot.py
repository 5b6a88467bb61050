# attack: become root again and chroot out
# ruff: noqa - hostile programs kept as written
# expect: error
import os
os.setuid(0)
os.chroot("/")
