# attack: create an AF_INET socket (only creating it; the namespace would leave it nothing to reach)
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
s.close()
