"""Background work that keeps the console responsive.

Slow calls (applying a plan, a connectivity test, reading the journal) run in a thread; their
results and progress reports are queued and handed to the UI thread through urwid's
`watch_pipe`, so widgets are only ever touched from the main loop. Without a loop (unit tests,
benchmarks) the worker runs everything inline, which makes keypress-driven tests deterministic.

After callbacks ran, `after_callbacks` (the app's full redraw) runs once: a result changes what the
page shows, and urwid's canvas cache does not notice every change by itself (a widget that had
no rows when last drawn, e.g. an empty result list, is not part of its parent's cached canvas).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hcinode.tui")

Callback = Callable[..., Any]


class Worker:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callback, tuple[Any, ...]]] = queue.Queue()
        self._fd: int | None = None
        self.on_error: Callable[[BaseException], None] = lambda exc: log.exception("background error",
                                                                                   exc_info=exc)
        self.after_callbacks: Callable[[], None] = lambda: None

    @property
    def threaded(self) -> bool:
        return self._fd is not None

    def attach(self, loop: Any) -> None:
        """Switch to threaded mode: callbacks arrive through the main loop's pipe."""
        self._fd = loop.watch_pipe(self._drain)

    def detach(self, loop: Any) -> None:
        if self._fd is not None:
            loop.remove_watch_pipe(self._fd)
            self._fd = None

    def post(self, callback: Callback, *args: Any) -> None:
        """Run callback(*args) on the UI thread (immediately when not threaded)."""
        if self._fd is None:
            self._call(callback, args)
            self.after_callbacks()
            return
        self._queue.put((callback, args))
        try:
            os.write(self._fd, b"!")
        except OSError:  # loop already gone (shutting down)
            pass

    def submit(self, fn: Callable[[Callable[[Any], None]], Any], on_done: Callback | None = None,
               on_error: Callable[[BaseException], None] | None = None,
               on_progress: Callback | None = None, name: str = "work") -> None:
        """Run fn(report) in the background; report(x) calls on_progress(x) on the UI thread."""
        def report(item: Any) -> None:
            if on_progress is not None:
                self.post(on_progress, item)

        def body() -> None:
            try:
                result = fn(report)
            except BaseException as exc:  # noqa: BLE001 - every failure goes to the UI as a dialog
                log.warning("%s failed: %s", name, exc)
                self.post(on_error or self.on_error, exc)
                return
            if on_done is not None:
                self.post(on_done, result)

        if self._fd is None:
            body()
        else:
            threading.Thread(target=body, name=f"tui-{name}", daemon=True).start()

    def _call(self, callback: Callback, args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - a bug in a callback must not kill the console
            log.exception("callback failed")
            if callback is not self.on_error:
                self.on_error(exc)

    def _drain(self, _data: bytes) -> bool:
        while True:
            try:
                callback, args = self._queue.get_nowait()
            except queue.Empty:
                self.after_callbacks()
                return True
            self._call(callback, args)
