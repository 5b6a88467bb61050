# attack: connect to a listener on the host's 127.0.0.1
# ruff: noqa - hostile programs kept as written
# expect: blocked
import socket
socket.create_connection(("127.0.0.1", int("@PORT@")), timeout=2).close()
