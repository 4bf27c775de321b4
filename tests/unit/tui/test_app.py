"""Framework behaviour driven by keys: menu, hotkeys, dialogs, dry-run plans, lock, resize, no crashes."""

from __future__ import annotations

import os
import time

import pytest
import urwid

from nodecore.executor import Progress
from nodecore.plan import Plan, Step
from tui import dialogs
from tui.app import MIN_COLS, MIN_ROWS, Root, text_canvas
from tui.cli import detect_mode
from tui.palette import pick_colors
from tui.render import press, render_text, type_text
from tui.worker import Worker

from .conftest import load_facts, make_app


def test_menu_arrows_switch_pages_and_hotkeys_jump() -> None:
    app = make_app("node")
    assert app.current.name == "Status"
    press(app.root, ["down"])
    assert app.current.name == "Network"
    press(app.root, ["meta p"])
    assert app.current.name == "Power"
    assert app.columns.focus_position == 1  # a hotkey puts the focus on the page
    press(app.root, ["tab"])
    assert app.columns.focus_position == 0


def test_power_confirmation_names_running_vms_and_dry_run_shows_plan() -> None:
    app = make_app("node", vms=["engine", "web01"])
    app.go("Power")
    press(app.root, ["enter"])  # first button: Reboot
    screen = render_text(app.root, 80, 24)
    assert "Dry run: nothing will be changed" in screen
    assert "2 VM(s) are running" in screen and "engine, web01" in screen
    assert "systemctl reboot" in screen
    press(app.root, ["esc"])
    assert not app.dialogs


def test_apply_for_real_asks_then_runs_plan_with_progress(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodecore.runner import RecordingRunner

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    app = make_app("node", dry_run=False)
    runner = RecordingRunner()
    done = []
    plan = Plan("Test plan", (Step("one", argv=("true",)), Step("two", argv=("echo", "x"))))
    app.apply_plan(plan, runners=runner, on_done=done.append)
    screen = render_text(app.root, 80, 24)
    assert "< Apply" in screen and "< Cancel" in screen and "echo x" in screen
    press(app.root, ["enter"])
    assert [c[:1] for c in runner.argvs] == [("true",), ("echo",)]
    assert done and not app.dialogs


def test_reboot_runs_every_time_even_when_an_old_journal_says_done(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Reboot and Power off are one-shot: an earlier run's journal (the reboot killed the console
    before the journal was closed) must not make the next reboot a silent no-op."""
    import json

    from nodecore import pipeline
    from nodecore.runner import RecordingRunner
    from tui.pages.power import power_plan

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    app = make_app("node", dry_run=False)
    plan = power_plan("reboot", "node01")
    stale = pipeline.journal_for("tui-power", plan).path
    os.makedirs(os.path.dirname(stale))
    with open(stale, "w") as f:
        f.write(json.dumps({"id": plan.steps[0].id, "title": plan.steps[0].title, "state": "done"}) + "\n")
    for _ in range(2):
        runner = RecordingRunner()
        app.run_plan(plan, runners=runner, journal_name="tui-power")
        assert runner.argvs == [("systemctl", "reboot")]


def test_failed_apply_shows_error_with_details(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from nodecore.runner import RecordingRunner

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))  # (not os.environ: later pages show state paths)
    app = make_app("node", dry_run=False)
    runner = RecordingRunner()
    runner.respond(("false",), 3, "")
    app.run_plan(Plan("Failing", (Step("the failing step", argv=("false",)),)), runners=runner)
    screen = render_text(app.root, 80, 24)
    assert "Step 1 failed: the failing step" in screen
    assert "exited with code 3" in screen


def test_progress_dialog_shows_step_titles_and_bar() -> None:
    dlg = dialogs.ProgressDialog("Install", 4)
    dlg.update(Progress(1, 4, "Partition disks", "done"))
    dlg.update(Progress(2, 4, "Copy the image", "running"))
    text = render_text(urwid.Filler(dlg, height=14), 66, 14)
    assert "Step 2/4: Copy the image" in text and "[ok]  1. Partition disks" in text
    assert "25 %" in text


def test_countdown_reverts_at_zero_and_keep_stops_it() -> None:
    events: list[str] = []
    dlg = dialogs.CountdownDialog("Network changed.", 3, lambda: events.append("keep"), lambda: events.append("revert"))
    assert "Reverting in 3 s" in render_text(urwid.Filler(dlg, height=12), 60, 12)
    dlg.tick()
    assert "Reverting in 2 s" in render_text(urwid.Filler(dlg, height=12), 60, 12)
    dlg.tick()
    dlg.tick()
    assert events == ["revert"]
    dlg.tick()
    assert events == ["revert"]
    kept: list[str] = []
    dlg2 = dialogs.CountdownDialog("x", 60, lambda: kept.append("keep"), lambda: kept.append("revert"))
    press(urwid.Filler(dlg2, height=12), ["enter"], 60, 12)  # focus starts on Keep
    dlg2.tick()
    assert kept == ["keep"]


def test_lock_needs_the_password_and_idle_locks() -> None:
    app = make_app("node", password="right-horse")
    app.lock()
    assert app.locked
    screen = render_text(app.root, 80, 24)
    assert "This console is locked" in screen and "Hostname" not in screen
    press(app.root, ["meta s", "f10"])  # no way around the lock
    assert app.locked
    type_text(app.root, "wrong")
    press(app.root, ["enter"])
    assert app.locked and "Wrong password" in render_text(app.root, 80, 24)
    app.lock_screen._not_before = 0  # type: ignore[union-attr]
    type_text(app.root, "right-horse")
    press(app.root, ["enter"])
    assert not app.locked
    app.ctx.lock_timeout = 60
    app.last_key = time.monotonic() - 61
    app.check_idle()
    assert app.locked


def test_lock_refused_without_admin_password() -> None:
    app = make_app("node", password=None)
    press(app.root, ["f12"])
    assert not app.locked
    assert "no password" in render_text(app.root, 80, 24)


def test_too_small_terminal_shows_message_at_every_size_and_never_crashes() -> None:
    app = make_app("node")
    for cols in range(1, 90, 7):
        for rows in range(1, 30, 5):
            text = render_text(app.root, cols, rows)
            lines = text.split("\n")
            assert len(lines) == rows
            if cols < MIN_COLS or rows < MIN_ROWS:
                assert "larger" in text or cols < 18 or rows < 3
            app.root.keypress((cols, rows), "down")
    assert "make the terminal" in render_text(app.root, 20, 6)
    app.go("Status")
    assert "Node status" in render_text(app.root, MIN_COLS, MIN_ROWS)


def test_text_canvas_handles_tiny_sizes() -> None:
    assert text_canvas(["hello"], 1, 1).text == [b"h"]


def test_key_exception_becomes_error_dialog() -> None:
    app = make_app("node")

    def boom() -> None:
        raise RuntimeError("page bug")

    app.current.on_apply = boom  # type: ignore[method-assign]
    press(app.root, ["f10"])
    assert "RuntimeError: page bug" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])
    assert not app.dialogs


def test_render_exception_is_contained() -> None:
    app = make_app("node")

    class Broken(urwid.WidgetWrap):
        def render(self, size, focus=False):  # type: ignore[no-untyped-def]
            raise ValueError("bad widget")

    app.body.original_widget = Broken(urwid.Text("x"))
    assert "internal error" in render_text(app.root, 80, 24)
    assert isinstance(app.root, Root)


def test_quit_asks_first() -> None:
    app = make_app("node")
    press(app.root, ["meta q"])
    assert "Leave the hcinode console?" in render_text(app.root, 80, 24)
    try:
        press(app.root, ["enter"])
    except urwid.ExitMainLoop:
        pass
    assert app.quit_requested


def test_worker_threaded_mode_delivers_on_ui_thread() -> None:
    worker = Worker()
    fds: list[int] = []
    callbacks = []

    class Loop:
        def watch_pipe(self, cb):  # type: ignore[no-untyped-def]
            r, w = os.pipe()
            fds.extend([r, w])
            callbacks.append(cb)
            return w

        def remove_watch_pipe(self, fd):  # type: ignore[no-untyped-def]
            pass

    worker.attach(Loop())
    got: list[object] = []
    worker.submit(lambda report: (report("half"), 42)[1], on_done=got.append, on_progress=got.append)
    deadline = time.monotonic() + 5
    while len(got) < 2 and time.monotonic() < deadline:
        os.read(fds[0], 100)
        callbacks[0](b"")
        time.sleep(0.01)
    assert got == ["half", 42]
    for fd in fds:
        os.close(fd)


def test_mode_detection() -> None:
    live = load_facts("live")
    node = load_facts("node")
    assert detect_mode(live) == "install"
    assert detect_mode(node) == "node"
    from dataclasses import replace

    assert detect_mode(replace(live, kernel_cmdline=live.kernel_cmdline + " inst.ks=http://x/ks.cfg")) == "node"


def test_palette_depth() -> None:
    assert pick_colors("auto", "xterm-256color") == 256
    assert pick_colors("auto", "linux") == 16
    assert pick_colors("auto", "vt220") == 1
    assert pick_colors("mono") == 1
    assert (MIN_COLS, MIN_ROWS) <= (80, 24)


def test_serial_line_without_size_gets_80x24() -> None:
    import fcntl
    import struct
    import termios

    from tui.cli import ensure_terminal_size

    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("hhhh", 0, 0, 0, 0))
        ensure_terminal_size(slave)
        rows, cols = struct.unpack("hh", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"    "))
        assert (rows, cols) == (24, 80)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("hhhh", 43, 132, 0, 0))
        ensure_terminal_size(slave)
        assert struct.unpack("hh", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"    ")) == (43, 132)
    finally:
        os.close(master)
        os.close(slave)


def test_status_rereads_facts_so_new_addresses_show() -> None:
    from dataclasses import replace

    app = make_app("node")
    fresh = app.ctx.facts
    nic = replace(fresh.nics[1], addresses=("198.51.100.77/24",))
    app.ctx.collect_facts = lambda: replace(fresh, nics=(fresh.nics[0], nic, *fresh.nics[2:]))
    for _ in range(10):
        app.tick()
    assert "eno2 198.51.100.77/24" in render_text(app.root, 80, 24)


def test_an_idle_console_rereads_less_and_a_clock_second_draws_no_full_screen() -> None:
    from tui.app import ACTIVE_WINDOW, IDLE_REFRESH

    app = make_app("node")
    assert app.refresh_every(10) == 10  # someone is at the console
    app.last_key -= ACTIVE_WINDOW + 1
    assert app.refresh_every(10) == IDLE_REFRESH
    assert app.tick() is False  # the Status page's clock: its own canvas only, no CanvasCache.clear()


def test_after_first_screen_runs_once_the_first_screen_is_on_the_terminal() -> None:
    """tui.cli puts the console back to nice 0 there: it must come after the first screen was sent."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("hhhh", 24, 80, 0, 0))
    os.set_blocking(master, False)
    seen: list[bytes] = []

    def first_screen() -> None:
        chunks = []
        try:
            while chunk := os.read(master, 65536):
                chunks.append(chunk)
        except BlockingIOError:
            pass
        seen.append(b"".join(chunks))
        raise urwid.ExitMainLoop()

    app = make_app("node")
    with os.fdopen(os.dup(slave), "rb", buffering=0) as tty_in, os.fdopen(os.dup(slave), "w") as tty_out:
        try:
            app.run(colors="mono", screen=urwid.display.raw.Screen(input=tty_in, output=tty_out),
                    after_first_screen=first_screen)
        finally:
            os.close(master)
            os.close(slave)
    assert len(seen) == 1 and b"hcinode 0.1.0" in seen[0]
