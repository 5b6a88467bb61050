# attack: create an AF_PACKET raw socket
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(17, _socket.SOCK_RAW, 0)  # AF_PACKET
s.close()
