# attack: a trailing value of a million empty lists: small as JSON, large as parsed Python objects in the parent
# ruff: noqa - hostile programs kept as written
# expect: contained
# proves: checks
[[] for _ in range(1_000_000)]
