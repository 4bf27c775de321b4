"""While the console runs, stderr goes to the log, not the terminal (issue 12, section 5): GLib
warnings (libblockdev, blivet), tools started by libraries, Python warnings; and no log line is
printed twice (a terminal log handler is detached while the file handler keeps every line)."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

from tui.quiet import MAX_BYTES, stderr_to_log


def terminal_fd2() -> tuple[int, int]:
    st = os.fstat(2)
    return st.st_dev, st.st_ino


def test_fd2_goes_to_the_log_and_comes_back(tmp_path: Path) -> None:
    path = tmp_path / "console-stderr.log"
    before = terminal_fd2()
    with stderr_to_log(str(path)) as used:
        assert used == str(path)
        os.write(2, b"C library: fd 2\n")
        print("python: sys.stderr", file=sys.__stderr__, flush=True)  # pytest swaps sys.stderr itself
        # a tool a library starts inherits fd 2
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child tool warning\\n')"], check=True)
        from gi.repository import GLib  # libblockdev's g_warning goes through GLib's default writer

        GLib.log_default_handler("blockdev", GLib.LogLevelFlags.LEVEL_WARNING, "libblockdev plugin warning")
    assert terminal_fd2() == before
    text = path.read_text()
    for line in ("C library: fd 2", "python: sys.stderr", "child tool warning", "libblockdev plugin warning"):
        assert line in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_terminal_log_handler_is_detached_while_the_console_runs(tmp_path: Path) -> None:
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)  # what `hcinode -v` adds
    root.addHandler(console)
    try:
        with stderr_to_log(str(tmp_path / "e.log")):
            assert console not in root.handlers  # a step logged now is not written a second time
        assert console in root.handlers
    finally:
        root.removeHandler(console)


def test_a_large_old_file_is_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "e.log"
    path.write_bytes(b"x" * (MAX_BYTES + 1))
    with stderr_to_log(str(path)):
        os.write(2, b"new\n")
    assert path.read_bytes() == b"new\n"


def test_the_console_command_runs_the_app_with_stderr_in_the_log(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`hcinode tui` wraps the main loop: what is written to fd 2 during it is in the log."""
    import argparse

    import tui.cli as cli

    seen: dict[str, object] = {}

    class FakeApp:
        mode, exit_code = "node", 0

        def run(self, colors: str, after_first_screen: object = None) -> None:
            os.write(2, b"GLib-WARNING during the main loop\n")
            seen["fd2"] = terminal_fd2()

    monkeypatch.setattr(cli, "build_app", lambda args: FakeApp())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(cli, "ensure_terminal_size", lambda fd: None)
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path))
    before = terminal_fd2()
    assert cli.run(argparse.Namespace(colors="auto")) == 0
    assert seen["fd2"] != before and terminal_fd2() == before
    assert "GLib-WARNING during the main loop" in (tmp_path / "console-stderr.log").read_text()
