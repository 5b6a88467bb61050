# attack: reach the project tree by a relative path from the work dir
# expect: blocked
print(open("../../../../../../../../@PROJECT@/pyproject.toml").read())
