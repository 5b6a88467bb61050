# attack: plant a module inside numpy's package dir
# ruff: noqa - hostile programs kept as written
# expect: blocked
# escape-file: @NUMPY@/mnemos_attack_planted.py
import numpy, os
open(os.path.join(os.path.dirname(numpy.__file__), "mnemos_attack_planted.py"), "w").write("x = 1")
