"""A vLLM general plugin that ends mnemos' engine processes when the process that started them dies.

vLLM's engine core and its worker are ``spawn`` children. When ``mnemos`` is
killed with SIGKILL it runs no cleanup, so without this they live on under
PID 1 (about 1.3 GB for the 1.5B model) and keep the caller's stdout and
stderr open, which hangs a ``subprocess.run`` on ``mnemos``.

vLLM loads general plugins (entry point group ``vllm.general_plugins``) in
every process it starts. This one acts only in processes of a mnemos engine
(the engine sets ``MNEMOS_ENGINE_OWNER`` before it starts): a daemon thread
watches the parent pid and kills its own process when it changes, i.e. when
the process was orphaned, and then ends its descendants and itself. The
descendants matter: the engine core spawns its worker, and a worker still
importing torch has not loaded this plugin yet. ``PR_SET_PDEATHSIG`` is not used: it fires when the
*thread* that spawned the child exits, and vLLM need not spawn from a thread
that lives as long as the engine.
"""

from __future__ import annotations

import os
import signal
import threading
import time

OWNER_VAR = "MNEMOS_ENGINE_OWNER"
POLL_SECONDS = 0.5


def _end_tree() -> None:
    """SIGKILL this process's descendants (e.g. a worker still importing, which has no guard yet), then itself."""
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _end_tree()


def install() -> None:
    """Entry point: arm the parent-death guard in a mnemos engine process; elsewhere do nothing."""
    owner = os.environ.get(OWNER_VAR)
    if not owner or owner == str(os.getpid()) or os.environ.get("_MNEMOS_GUARD_PID") == str(os.getpid()):
        return  # not an engine process, or the owner itself (vLLM loads plugins there too), or armed already
    os.environ["_MNEMOS_GUARD_PID"] = str(os.getpid())
    parent = os.getppid()
    if parent == 1:  # the parent died before we got here
        _end_tree()
    threading.Thread(target=_watch, args=(parent,), name="mnemos-parent-watch", daemon=True).start()
