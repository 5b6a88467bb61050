"""Merge generate calls from many threads into single engine calls.

vLLM batches best when it sees many prompts at once, but the controller is
written as one graph per problem. The batch runner runs one graph per thread;
this wrapper collects what those threads ask for and hands vLLM one batch,
which also keeps the (not thread-safe) engine on a single thread.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from collections.abc import Iterator

from agent.llm import ChatMessage, Completion, GenParams, TextGenerator


@dataclass
class _Job:
    prompts: list[str]
    params: list[GenParams]
    future: Future = field(default_factory=Future)


class BatchingGenerator:
    """A :class:`TextGenerator` that funnels concurrent calls into batched calls on ``inner``.

    A batch is dispatched when every registered worker is waiting, or ``window``
    seconds after the first request arrived, whichever comes first.
    """

    def __init__(self, inner: TextGenerator, window: float = 0.05):
        self.inner = inner
        self.window = window
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._active = 0
        self._lock = threading.Lock()
        self._tok_lock = threading.Lock()
        self.batch_sizes: list[int] = []
        self._thread = threading.Thread(target=self._loop, name="mnemos-batcher", daemon=True)
        self._thread.start()

    @contextmanager
    def worker(self) -> Iterator[None]:
        """Register the calling thread as a producer, so full batches go out without waiting."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
            self._jobs.put(None)  # wake the dispatcher: the waiting set may now be complete

    def generate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]:
        plist = params if isinstance(params, list) else [params] * len(prompts)
        job = _Job(list(prompts), list(plist))
        self._jobs.put(job)
        return job.future.result()

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        with self._tok_lock:
            return self.inner.render_chat(messages, add_generation_prompt)

    def count_tokens(self, text: str) -> int:
        with self._tok_lock:
            return self.inner.count_tokens(text)

    def close(self) -> None:
        self._jobs.put(_STOP)
        self._thread.join(timeout=5)

    def _collect(self) -> list[_Job] | None:
        first = self._jobs.get()
        if first is _STOP:
            return None
        jobs = [first] if first is not None else []
        while True:
            with self._lock:
                everyone_waiting = jobs and len(jobs) >= self._active
            if everyone_waiting:
                return jobs
            try:
                nxt = self._jobs.get(timeout=self.window if jobs else None)
            except queue.Empty:
                return jobs
            if nxt is _STOP:
                self._jobs.put(_STOP)
                return jobs
            if nxt is not None:
                jobs.append(nxt)

    def _loop(self) -> None:
        while (jobs := self._collect()) is not None:
            if not jobs:
                continue
            prompts = [p for j in jobs for p in j.prompts]
            params = [p for j in jobs for p in j.params]
            self.batch_sizes.append(len(prompts))
            try:
                with self._tok_lock:
                    results = self.inner.generate(prompts, params)
            except BaseException as exc:  # noqa: BLE001 - delivered to every caller of this batch
                for j in jobs:
                    j.future.set_exception(exc)
                continue
            start = 0
            for j in jobs:
                j.future.set_result(results[start : start + len(j.prompts)])
                start += len(j.prompts)


_STOP = _Job([], [])
