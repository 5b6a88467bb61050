# attack: find the hook's closure through the garbage collector and clear its allow-lists
# ruff: noqa - hostile programs kept as written
# expect: blocked
import gc
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, "__name__", "") == "hook":
        for cell in obj.__closure__ or ():
            try:
                cell.cell_contents = frozenset()
            except Exception:
                pass
open("/tmp/mnemos-attack-gc", "w").write("pwned")
