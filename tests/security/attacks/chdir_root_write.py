# attack: chdir to / and write a relative path
# expect: blocked
import os
os.chdir("/")
open("tmp/mnemos-attack-chdir", "w").write("pwned")
