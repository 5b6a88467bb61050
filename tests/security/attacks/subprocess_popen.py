# attack: subprocess.run a shell
# expect: blocked
import subprocess
subprocess.run(["sh", "-c", "touch /tmp/mnemos-attack-popen"], check=True)
