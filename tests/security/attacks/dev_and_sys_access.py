# attack: read host hardware and kernel state through /sys and /dev
# expect: blocked
print(open("/sys/class/net/lo/address").read(), open("/dev/mem", "rb").read(16))
