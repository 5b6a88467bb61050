# attack: create an AF_UNIX socket (the result channel is a pipe, so no socket family is needed)
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
s.close()
