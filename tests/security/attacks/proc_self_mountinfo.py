# attack: read /proc/self/mountinfo, which names the host paths behind every bind mount
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("/proc/self/mountinfo").read())
