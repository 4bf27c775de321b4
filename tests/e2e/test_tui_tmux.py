"""The real `hcinode tui --dry-run` process in tmux: keys in with send-keys, the screen out with
capture-pane, a resize to 40x12 and back. No VM needed; tmux only.

Commands run through nodecore's LocalRunner (the project's one process runner).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecore.runner import LocalRunner

ROOT = Path(__file__).resolve().parents[2]
HCINODE = Path(sys.executable).with_name("hcinode")
LIVE_FACTS = ROOT / "tests" / "data" / "tui" / "live-facts.json"

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


class Tmux:
    def __init__(self, name: str, socket: Path) -> None:
        self.name = name
        self.socket = socket  # a private tmux server per test: no races with other tmux users
        self.runner = LocalRunner(default_timeout=10)

    def tmux(self, *args: str, check: bool = True) -> str:
        return self.runner.run(["tmux", "-S", str(self.socket), *args], check=check).stdout

    def start(self, command: str, cols: int = 80, rows: int = 24) -> None:
        # remain-on-exit keeps the pane after the process ends, so the test can see how it ended
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(cols), "-y", str(rows), command)
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        self.tmux("set-option", "-t", self.name, "status", "off")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def text(self, text: str) -> None:
        # Typed like a technician types: through a tmux buffer read from stdin, so the text (often a
        # canary password) is never in an argv that ps shows or the runner logs.
        self.runner.run(["tmux", "-S", str(self.socket), "load-buffer", "-b", "typed", "-"], stdin=text)
        self.tmux("paste-buffer", "-d", "-b", "typed", "-t", self.name)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def wait_for(self, needle: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} did not appear within {timeout}s; screen:\n{screen}")

    def resize(self, cols: int, rows: int) -> None:
        self.tmux("resize-window", "-t", self.name, "-x", str(cols), "-y", str(rows))

    def kill(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(f"hcinode-tui-{uuid.uuid4().hex[:8]}", tmp_path / "tmux.sock")
    yield session
    try:
        (tmp_path / "screen.txt").write_text(session.screen())  # the last screen, for a failed test
    except Exception:  # noqa: BLE001 - the server may already be gone
        pass
    finally:
        session.kill()


def tui_command(tmp_path: Path, *args: str) -> str:
    env = {"TERM": "xterm-256color", "HCINODE_STATE_DIR": str(tmp_path / "state"),
           "HCINODE_LOG_DIR": str(tmp_path / "log")}
    argv = [str(HCINODE), "tui", "--dry-run", "--lock-timeout", "0", *args]
    command = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(argv)
    # the shell reports how the console ended, then keeps the pane open for capture-pane
    return f"sh -c {shlex.quote(command + '; echo hcinode tui exited with $?; sleep 60')}"


def test_tui_dry_run_in_tmux_pages_plan_resize_quit(tmux: Tmux, tmp_path: Path) -> None:
    started = time.monotonic()
    tmux.start(tui_command(tmp_path, "--mode", "node"))
    screen = tmux.wait_for("Node status")
    startup = time.monotonic() - started
    hostname = os.uname().nodename
    assert f"| {hostname} | Node | DRY RUN" in screen
    # the footer lists only keys that work on the page: Status has nothing to apply
    assert "F5 Refresh" in screen and "Alt-Q Quit" in screen and "F10" not in screen
    assert startup < 5, f"first screen after {startup:.1f}s"

    tmux.keys("M-n")
    screen = tmux.wait_for("Network interfaces")
    assert "Configuration" in screen
    tmux.keys("d")  # Hostname and DNS
    tmux.wait_for("Hostname and DNS")
    tmux.keys("Down")
    tmux.text("192.0.2.53")
    tmux.keys("F10")
    tmux.wait_for("changed, not applied")
    tmux.keys("F10")
    screen = tmux.wait_for("Dry run: nothing will be changed")
    assert "192.0.2.53" in screen  # the plan, one sentence per change (the step list is behind Details)

    tmux.resize(40, 12)
    screen = tmux.wait_for("make the terminal larger")
    assert "40x12" in screen
    tmux.keys("Down", "Enter")  # keys while too small are ignored, not a crash
    tmux.resize(80, 24)
    screen = tmux.wait_for("Dry run: nothing will be changed")
    tmux.keys("Escape")
    tmux.wait_for("B Bond")

    tmux.keys("M-q")  # the DNS change was only shown, not applied: the console asks, "Stay" has the focus
    tmux.wait_for("Leave the hcinode console anyway?")
    tmux.keys("Left")
    tmux.keys("Enter")
    tmux.wait_for("hcinode tui exited with 0")


def test_tui_installer_flow_in_tmux_to_summary(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(tui_command(tmp_path, "--mode", "install", "--facts", str(LIVE_FACTS)))
    tmux.wait_for("Install hcinode")
    tmux.keys("F10")
    tmux.wait_for("Keyboard layout")
    tmux.keys("F10")
    tmux.wait_for("Choose the disk")
    tmux.keys("Down", "Space", "F10")  # sdb
    tmux.wait_for("The network used")
    tmux.keys("F10")
    tmux.wait_for("fully qualified")
    tmux.text("node09.lab.example")
    tmux.keys("F10")
    tmux.wait_for("The password of the admin")
    tmux.text("Install-pass-9")
    tmux.keys("Down")
    tmux.text("Install-pass-9")
    tmux.keys("F10")
    screen = tmux.wait_for("Disks to ERASE")
    assert "sdb (960GiB INTEL SSDSC2KB960G8)" in screen
    assert "Install-pass-9" not in screen
    tmux.keys("F10")  # Install: the dry run shows the plan and changes nothing
    screen = tmux.wait_for("Dry run")
