# attack: create an AF_NETLINK route socket to talk to the kernel
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(16, _socket.SOCK_RAW, 0)  # AF_NETLINK, NETLINK_ROUTE
s.close()
