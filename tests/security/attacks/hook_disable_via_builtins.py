# attack: poison the builtins the hook uses (isinstance, len, any, str) so its checks pass, then write outside
# ruff: noqa - hostile programs kept as written
# expect: blocked
import builtins
builtins.isinstance = lambda *a: False
builtins.any = lambda *a: False
builtins.len = lambda *a: 0
open("/tmp/mnemos-attack-builtins", "w").write("pwned")
