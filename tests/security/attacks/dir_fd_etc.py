# attack: open /etc as a directory fd and read shadow relative to it with dir_fd
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
d = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
fd = os.open("shadow", os.O_RDONLY, dir_fd=d)
print(os.read(fd, 4096))
