# attack: ignore SIGXCPU and SIGTERM, then spin forever
# ruff: noqa - hostile programs kept as written
# expect: timeout
# proves: checks
import signal
signal.signal(signal.SIGXCPU, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass
