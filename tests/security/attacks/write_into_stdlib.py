# attack: plant a module in the stdlib so later runs import it
# ruff: noqa - hostile programs kept as written
# expect: blocked
# escape-file: @STDLIB@/mnemos_attack_planted.py
open("@STDLIB@/mnemos_attack_planted.py", "w").write("print('planted')")
