# attack: create POSIX shared memory that would be visible to the host in /dev/shm
# ruff: noqa - hostile programs kept as written
# expect: error
# proves: checks
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(name="mnemos-attack-shm", create=True, size=4096)
shm.buf[:5] = b"pwned"
