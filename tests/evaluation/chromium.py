"""Headless Chromium driven over the DevTools protocol on 127.0.0.1, for tests that must see a page as a browser does.

Why the protocol and not ``--dump-dom`` or Playwright: the checks need a live page
(console errors as they happen, computed styles, a click on a link, the page's own
``window``), which ``--dump-dom`` cannot give; Playwright would add a large package
and its own browser download for what is a handful of JSON messages over one
websocket, and ``websockets`` (sync client) is already installed. Everything stays
on this machine: the browser listens on 127.0.0.1 only and opens ``file://`` pages.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$MNEMOS_TEST_CHROMIUM`` or the first Chromium on PATH (scripts/test.sh installs Debian's ``chromium``)."""
    if env := os.environ.get("MNEMOS_TEST_CHROMIUM"):
        return env if Path(env).is_file() else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Page:
    """One tab: send protocol commands, keep the events that arrive in between."""

    def __init__(self, ws: Any):
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next = 0

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == ident:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, msg in enumerate(self.events):
                if msg.get("method") == event:
                    return self.events.pop(i)
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (run by the debugger, which the page's CSP does not bind)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate and wait for the load event, with console, log and exception reporting on."""
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        out = []
        for msg in self.events:
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(str(params["entry"].get("text")))
        return out


class Chromium:
    """A headless Chromium with a throwaway profile; use as a context manager, then :meth:`page`."""

    def __init__(self, executable: str, profile: Path):
        self.executable, self.profile = executable, Path(profile)
        self.proc: subprocess.Popen[bytes] | None = None
        self._ws: Any = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Self:
        args = [self.executable, "--headless", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check", "--disable-gpu",
                "--disable-extensions", "--disable-background-networking", "--disable-sync", "--mute-audio",
                "--window-size=1280,900", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to start its sandbox as root
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"{self.executable} did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        from websockets.sync.client import connect

        self._ws = self._stack.enter_context(connect(url, max_size=None, open_timeout=10))
        return self

    def page(self) -> Page:
        return Page(self._ws)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
