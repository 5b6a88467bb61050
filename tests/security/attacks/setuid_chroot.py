# attack: become root again and chroot out
# expect: error
import os
os.setuid(0)
os.chroot("/")
