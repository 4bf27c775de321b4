"""A console that answers (issue 12, section 5): results, errors and questions appear at once,
and what is shown is what the node has. Screens are drawn as the main loop draws them: the last
canvas stays alive (tui.render.draw), so urwid's canvas cache is as real as on a terminal."""

from __future__ import annotations

import os
import threading

import pytest

from tui.render import render_text, type_text
from tui.worker import Worker

from .conftest import make_app

SIZES = [(80, 24), (132, 43)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_f10_on_target_disks_without_a_disk_shows_the_error_at_once(size: tuple[int, int]) -> None:
    app = make_app("install")
    app.go("Target disks")
    render_text(app.root, *size)
    app.root.keypress(size, "f10")  # one key, then one draw: no second key to "wake" the screen
    assert "choose at least one disk" in render_text(app.root, *size)


class PipeLoop:
    """The two calls Worker needs from urwid's MainLoop; the test plays the loop's select()."""

    def __init__(self) -> None:
        self.read_fd = -1
        self.callback = None

    def watch_pipe(self, callback):  # type: ignore[no-untyped-def]
        self.read_fd, write_fd = os.pipe()
        self.callback = callback
        return write_fd

    def remove_watch_pipe(self, fd: int) -> None:
        os.close(fd)
        os.close(self.read_fd)

    def wake(self) -> None:
        """What the main loop does when the pipe becomes readable."""
        assert self.callback is not None
        self.callback(os.read(self.read_fd, 64))


def test_test_network_shows_testing_then_the_result_without_a_key() -> None:
    app = make_app("node")
    worker, loop = Worker(), PipeLoop()
    worker.on_error, worker.after_callbacks = app.ctx.worker.on_error, app.ctx.worker.after_callbacks
    app.ctx.worker = worker
    release = threading.Event()
    services = app.ctx.services
    real_test = services.network_test

    def slow_test(*args):  # type: ignore[no-untyped-def]
        release.wait(5)
        return real_test(*args)

    services.network_test = slow_test  # type: ignore[method-assign]
    worker.attach(loop)
    try:
        app.go("Test network")
        type_text(app.root, "192.0.2.7")
        app.root.keypress((80, 24), "f10")
        assert "testing ..." in render_text(app.root, 80, 24)
        release.set()
        loop.wake()  # the result arrives through the pipe; no key is pressed
        screen = render_text(app.root, 80, 24)
        assert "All checks passed." in screen and "testing ..." not in screen
    finally:
        worker.detach(loop)
