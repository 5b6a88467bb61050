# attack: create a connected AF_UNIX socket pair
# ruff: noqa - hostile programs kept as written
# expect: error
import _socket
a, b = _socket.socketpair()
a.close()
b.close()
