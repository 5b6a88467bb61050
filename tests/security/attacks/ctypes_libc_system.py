# attack: call libc's system() through ctypes
# ruff: noqa - hostile programs kept as written
# expect: blocked
import ctypes
if ctypes.CDLL(None).system(b"touch /tmp/mnemos-attack-ctypes") != 0:
    raise SystemExit("system() failed")
