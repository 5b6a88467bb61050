# attack: a 7 MB trailing-expression value, which would go into the model's prompt whole
# ruff: noqa - hostile programs kept as written
# expect: contained
# proves: checks
"x" * 7_000_000
