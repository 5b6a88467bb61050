# attack: read host hardware and kernel state through /sys and /dev
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("/sys/class/net/lo/address").read(), open("/dev/mem", "rb").read(16))
