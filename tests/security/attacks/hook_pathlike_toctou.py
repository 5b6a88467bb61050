# attack: an os.PathLike that names the canary when the file is opened but an innocent file when the hook asks
# ruff: noqa - hostile programs kept as written
# expect: blocked
class Flip:
    calls = 0
    def __fspath__(self):
        Flip.calls += 1
        return "@CANARY@" if Flip.calls % 2 == 1 else "innocent.txt"
print(open(Flip()).read())
