# attack: write in the work dir, then rename the file out of it
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
open("x", "w").write("pwned")
os.rename("x", "/tmp/mnemos-attack-rename")
