# attack: create an AF_INET6 socket
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(_socket.AF_INET6, _socket.SOCK_STREAM)
s.close()
