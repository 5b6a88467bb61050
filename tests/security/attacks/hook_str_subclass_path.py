# attack: a str subclass whose startswith/split always agree, to fool a Python-level path check
# ruff: noqa - hostile programs kept as written
# expect: blocked
class Sly(str):
    def startswith(self, *a, **k):
        return True
    def split(self, *a, **k):
        return ["sandbox", "work", "x"]
    def __fspath__(self):
        return str(self)
print(open(Sly("@CANARY@")).read())
