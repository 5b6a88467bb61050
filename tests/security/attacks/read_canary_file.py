# attack: read a host file outside the work dir (a canary under /tmp)
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("@CANARY@").read())
