# attack: connect with the _socket extension directly, skipping socket.py
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
s.connect(("127.0.0.1", int("@PORT@")))
