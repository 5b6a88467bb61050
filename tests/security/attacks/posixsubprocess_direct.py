# attack: call the fork/exec primitive directly after dropping the stub from sys.modules
# ruff: noqa - hostile programs kept as written
# expect: blocked
import sys
sys.modules.pop("_posixsubprocess", None)
import _posixsubprocess
_posixsubprocess.fork_exec(["/bin/sh", "-c", "touch /tmp/mnemos-attack-forkexec"])
