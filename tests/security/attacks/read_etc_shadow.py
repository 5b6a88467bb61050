# attack: read /etc/shadow and print it
# expect: blocked
print(open("/etc/shadow").read())
