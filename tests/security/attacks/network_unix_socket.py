# attack: talk to a host service over a unix socket (docker, postgres, systemd)
# ruff: noqa - hostile programs kept as written
# expect: blocked
import socket
s = socket.socket(socket.AF_UNIX)
for path in ("/var/run/docker.sock", "/run/postgresql/.s.PGSQL.5432", "/run/systemd/private"):
    try:
        s.connect(path)
        break
    except OSError:
        continue
else:
    raise SystemExit("no socket")
