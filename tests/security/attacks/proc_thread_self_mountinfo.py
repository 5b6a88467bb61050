# attack: read mountinfo from a new thread's /proc/thread-self, which a mask on /proc/self would miss
# ruff: noqa - hostile programs kept as written
# expect: blocked
import threading
out = []
def read():
    try:
        out.append(open("/proc/thread-self/mountinfo").read())
    except BaseException as exc:
        out.append(exc)
t = threading.Thread(target=read)
t.start()
t.join()
if isinstance(out[0], BaseException):
    raise out[0]
print(out[0])
