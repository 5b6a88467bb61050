# attack: read /proc/1/cmdline, bwrap's argv with every host path it mounted
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("/proc/1/cmdline", "rb").read().replace(b"\0", b" ").decode())
