# attack: a directory fd inside the work dir, then climb out with ../ relative to it (the hook resolves against cwd)
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
os.makedirs("a/b/c")
os.chdir("a/b/c")
d = os.open("/sandbox/work", os.O_RDONLY)
fd = os.open("../../tmp/mnemos-attack-dirfd", os.O_WRONLY | os.O_CREAT, dir_fd=d)
os.write(fd, b"pwned")
