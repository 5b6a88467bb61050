# attack: from inside the audit hook, take its tuple of read roots and overwrite every entry with "" through numpy's __array_interface__ over raw memory, then read the canary
# ruff: noqa - hostile programs kept as written
# expect: error
import shutil
import sys

import numpy as np

keep = [""] * 1000  # references, so the entries planted below never free ""


class Raw:
    def __init__(self, address, size):
        self.__array_interface__ = {"data": (address, False), "shape": (size,), "typestr": "|u1", "version": 3}


class Key:
    def __fspath__(self):
        f = sys._getframe()
        while f is not None and f.f_code.co_name != "hook":
            f = f.f_back
        if f is not None:
            roots = f.f_locals["roots"]
            items = np.asarray(Raw(id(roots) + 24, 8 * len(roots))).view(np.uint64)
            items[:] = id("")
        return "copy-src"


open("copy-src", "w").write("x")
shutil.copyfile(Key(), "copy-dst")
print(open("@CANARY@").read())
