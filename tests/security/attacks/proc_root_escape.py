# attack: read the host through /proc/1/root and /proc/self/root
# expect: blocked
print(open("/proc/1/root/@CANARY@").read())
