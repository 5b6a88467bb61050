# attack: read /etc/shadow and print it
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("/etc/shadow").read())
