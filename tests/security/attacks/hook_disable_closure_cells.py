# attack: from inside the audit hook (a PathLike's __fspath__), walk up to the hook's frame and turn its deny() into a no-op by rewriting closure cells, then read /proc/self/mountinfo
# ruff: noqa - hostile programs kept as written
# expect: error
import shutil
import sys


class Key:
    def __fspath__(self):
        f = sys._getframe()
        while f is not None and f.f_code.co_name != "hook":
            f = f.f_back
        if f is not None:
            deny = f.f_locals["deny"]
            for name, cell in zip(deny.__code__.co_freevars, deny.__closure__):
                if name in ("write", "exit_now"):
                    cell.cell_contents = lambda *args: 0
        return "copy-src"


open("copy-src", "w").write("x")
shutil.copyfile(Key(), "copy-dst")
print(open("/proc/self/mountinfo").read())
