"""Counting this process's vLLM engines by their processes, to check that an Agent started exactly one.

vLLM names its processes ``VLLM::EngineCore`` (one per engine) and ``VLLM::Worker``;
a count of live engine cores is what a user sees in ``ps``, whatever the Python
objects claim. Used by the concurrency tests and ``examples/concurrent_api.py``.
"""

from __future__ import annotations

import threading
from typing import Self

import psutil

CORE = "VLLM::EngineCor"  # the kernel keeps 15 characters of a process name


def vllm_processes() -> list[psutil.Process]:
    """This process's live (not zombie) vLLM descendants: engine cores and their workers."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.name().startswith("VLLM::") and child.status() != psutil.STATUS_ZOMBIE:
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


class EngineWatch:
    """Samples the vLLM processes started while it runs, every ``interval`` seconds (use as a context manager).

    Engines already running when it starts (another test's session engine, say) are not counted.
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.cores: set[int] = set()
        self.seen: set[int] = set()
        self.peak_cores = 0
        self._before: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="mnemos-engine-watch", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            procs = [p for p in vllm_processes() if p.pid not in self._before]
            cores = {p.pid for p in procs if _name(p).startswith(CORE)}
            self.seen |= {p.pid for p in procs}
            self.cores |= cores
            self.peak_cores = max(self.peak_cores, len(cores))

    def alive(self) -> list[int]:
        """Every vLLM process seen so far that still runs (a worker orphaned by a killed core included)."""
        out = []
        for pid in self.seen | ({p.pid for p in vllm_processes()} - self._before):
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
            except psutil.NoSuchProcess:
                continue
        return sorted(out)

    def __enter__(self) -> Self:
        self._before = {p.pid for p in vllm_processes()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.NoSuchProcess:
        return ""
