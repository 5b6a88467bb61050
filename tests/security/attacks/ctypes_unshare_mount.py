# attack: through libc, make a new user+mount namespace and mount the host's root back in
# ruff: noqa - hostile programs kept as written
# expect: blocked
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x00020000) != 0:
    raise SystemExit(f"unshare failed: errno {ctypes.get_errno()}")
if libc.mount(b"/", b"/sandbox/work", None, 0x1000, None) != 0:
    raise SystemExit(f"mount failed: errno {ctypes.get_errno()}")
