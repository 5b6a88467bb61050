# attack: start thousands of threads to exhaust the host's process table
# ruff: noqa - hostile programs kept as written
# expect: error
import threading
import time
threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(5000)]
for t in threads:
    t.start()
