# attack: read a host file outside the work dir (a canary under /tmp)
# expect: blocked
print(open("@CANARY@").read())
