"""Headless Debian Chromium driven over the DevTools protocol on a pipe (no Playwright,
no websocket library): ``--remote-debugging-pipe`` reads NUL-terminated JSON commands
on fd 3 and writes replies and events on fd 4.

    with Browser(binary) as browser:
        page = browser.open(url)
        page.eval("document.title")
        page.wait_for("document.body.dataset.ready")

A module's tests may share their browsers (``Windows``): each test opens its own tabs
(fresh sessionStorage, as in a browser of its own) and they are closed when it ends.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, binary: str, profile: Path, size: tuple[int, int] = (1280, 1500)) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium's stderr goes to a file: a pipe nobody read filled up (64 KiB of its
        # warnings) and blocked it mid-write, and it stopped answering ("did not answer")
        profile.mkdir(parents=True, exist_ok=True)
        self._log = profile / "chromium-stderr.log"
        log = open(self._log, "wb")  # noqa: SIM115 (Popen holds it; closed below)
        # Chromium expects its command pipe on fd 3 and its reply pipe on fd 4.
        self._proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={size[0]},{size[1]}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            pass_fds=(3, 4), preexec_fn=_dup_to(to_chrome_r, from_chrome_w),
        )
        log.close()  # the child has its own copy
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.tabs: list[str] = []  # the target of each open() not closed yet

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _why(self) -> str:
        """Whether Chromium is still running, and the end of what it wrote to stderr."""
        code = self._proc.poll()
        state = "running" if code is None else f"exited with {code}"
        try:
            tail = self._log.read_bytes()[-1500:].decode("utf-8", "replace").strip()
        except OSError:
            tail = ""
        return f"chromium {state}; its stderr ends: {tail or '(nothing)'}"

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, orjson.dumps(message) + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]
            self.events.append(reply)

    def _read(self, deadline: float) -> dict[str, Any]:
        import select

        # poll(), not select(): a long test session may hold descriptors above 1024
        poller = select.poll()
        poller.register(self._from_chrome, select.POLLIN)
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self._proc.poll() is not None:
                raise BrowserError(f"chromium did not answer in time ({self._why()})")
            ready = poller.poll(left * 1000)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium closed its DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return orjson.loads(message)  # type: ignore[no-any-return]

    def open(self, url: str) -> Page:
        # the first command waits for Chromium's start: up to 90 s on a loaded 2-core CI
        # machine, where a crash test's broker and processors share the cores
        target = self.send("Target.createTarget", {"url": "about:blank"},
                           timeout=90)["targetId"]
        self.tabs.append(target)
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.goto(url)
        return page


    def close_tabs(self) -> None:
        """Close the tabs open() opened (a page left open goes on refreshing itself)."""
        while self.tabs:
            self.send("Target.closeTarget", {"targetId": self.tabs.pop()})


class Windows:
    """Browsers shared by a module's tests: one per window size, launched on first use
    with the flags a test's own ``Browser`` has; ``window(size)`` lends one to a test and
    closes the tabs it opened when the test is done with it."""

    def __init__(self, binary: str, folder: Path) -> None:
        self._binary = binary
        self._folder = folder
        self._browsers: dict[tuple[int, int], Browser] = {}

    @contextlib.contextmanager
    def window(self, size: tuple[int, int] = (1280, 1500)) -> Iterator[Browser]:
        browser = self._browsers.get(size)
        if browser is None:
            profile = self._folder / f"profile-{size[0]}x{size[1]}"
            browser = self._browsers[size] = Browser(self._binary, profile, size)
        try:
            yield browser
        finally:
            try:
                browser.close_tabs()
            except (BrowserError, OSError):  # a browser that stopped answering: a new one
                del self._browsers[size]
                browser.close()

    def close(self) -> None:
        while self._browsers:
            self._browsers.popitem()[1].close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression}")
            time.sleep(0.1)

    def dom(self) -> str:
        """The page's DOM as HTML, through DevTools' DOM domain."""
        root = self.send("DOM.getDocument", {"depth": -1})["root"]
        return str(self.send("DOM.getOuterHTML", {"nodeId": root["nodeId"]})["outerHTML"])

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def console(self) -> list[dict[str, Any]]:
        """Console calls, exceptions and log entries seen so far (e.g. CSP violations)."""
        kinds = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")
        return [e for e in self.browser.events
                if e.get("sessionId") == self.session and e.get("method") in kinds]


def _dup_to(command_fd: int, reply_fd: int) -> Any:
    def child() -> None:  # copies above 10 first: either end may itself be fd 3 or 4
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (command_fd, reply_fd)]
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)
    return child
