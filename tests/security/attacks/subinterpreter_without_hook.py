# attack: run code in a fresh subinterpreter, which has no Python audit hook of its own
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _xxsubinterpreters as interpreters
interp = interpreters.create()
interpreters.run_string(interp, "open('/tmp/mnemos-attack-subinterp', 'w').write('pwned')")
