# attack: use nsenter to get back into the host's network namespace and reach a listener on 127.0.0.1
# ruff: noqa - hostile programs kept as written
# expect: blocked
import os
if os.system("nsenter -t 1 -n python3 -c \"import socket; socket.create_connection(('127.0.0.1', @PORT@))\"") != 0:
    raise SystemExit("nsenter failed")
