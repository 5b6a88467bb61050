# attack: print the environment the sandbox inherited, looking for the parent's secrets
# expect: contained
# proves: checks
import os
print(dict(os.environ))
