# attack: import the CPython test extension that exposes raw memory and interpreter internals
# expect: blocked
import _testinternalcapi
import _testcapi
print(_testcapi, _testinternalcapi)
