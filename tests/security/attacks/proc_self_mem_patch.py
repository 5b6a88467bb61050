# attack: open /proc/self/mem for writing, to patch the audit hook's tables in place
# ruff: noqa - hostile programs kept as written
# expect: blocked
mem = open("/proc/self/mem", "r+b")
mem.seek(id(()))
mem.write(mem.read(8))
