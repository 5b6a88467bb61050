# attack: read the host through /proc/1/root and /proc/self/root
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("/proc/1/root/@CANARY@").read())
