# attack: connect to a listener on the host's 127.0.0.1
# expect: blocked
import socket
socket.create_connection(("127.0.0.1", @PORT@), timeout=2).close()
