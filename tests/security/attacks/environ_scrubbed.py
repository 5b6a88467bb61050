# attack: print the environment the sandbox inherited, looking for the parent's secrets
# ruff: noqa - hostile programs kept as written
# expect: contained
# proves: checks
import os
print(dict(os.environ))
