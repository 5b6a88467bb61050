# attack: create an AF_VSOCK socket (a network namespace does not cover vsock); creating it is the escape, it is never connected or bound
# ruff: noqa - hostile programs kept as written
# expect: blocked
import _socket
s = _socket.socket(40, _socket.SOCK_STREAM)  # AF_VSOCK
s.close()
