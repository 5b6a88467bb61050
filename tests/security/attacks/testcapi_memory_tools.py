# attack: import the CPython test extension that exposes raw memory and interpreter internals
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _testinternalcapi
import _testcapi
print(_testcapi, _testinternalcapi)
