# attack: sleep past the wall-clock limit without using CPU
# expect: timeout
# proves: checks
import time
time.sleep(3600)
