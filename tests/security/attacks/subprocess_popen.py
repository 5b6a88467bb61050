# attack: subprocess.run a shell
# ruff: noqa - hostile programs kept as written
# expect: blocked
import subprocess
subprocess.run(["sh", "-c", "touch /tmp/mnemos-attack-popen"], check=True)
