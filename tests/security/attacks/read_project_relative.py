# attack: reach the project tree by a relative path from the work dir
# ruff: noqa - hostile programs kept as written
# expect: blocked
print(open("../../../../../../../../@PROJECT@/pyproject.toml").read())
