"""Secret canary: the real console (`hcinode tui` in tmux) is given a distinctive password on the
Security page, on the Hosted Engine page (the engine's admin password) and on the lock screen; then
every file it wrote, the screen and `ps` are searched for it, in the forms a leak would take (as
typed, one logged key at a time, URL/base64/hex encoded).

The console runs in a private mount namespace whose /etc/shadow and /etc/group are the test's: root
is locked and 'admin' (in sudo) has a password, the `rootpw --lock` + `sshkey` node this also checks
the lock of. No VM needed (tmux, unshare and a bind mount: root on the host).
"""

from __future__ import annotations

import base64
import crypt
import os
import re
import shlex
import shutil
import stat
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from nodecore.runner import LocalRunner
from tests.e2e.test_tui_tmux import HCINODE, ROOT, Tmux

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

CANARY = "Canary-Zq7#x9Lp"
UNLOCK = "Unlock-pass-2026"
NODE_FACTS = ROOT / "tests" / "data" / "tui" / "node-facts.json"
# Other places the console could write to whatever the HCINODE_* variables say: searched too
# (only files changed while the test ran).
SYSTEM_DIRS = ("/var/log", "/var/lib/hcinode", "/run/hcinode", "/root/.local/state/hcinode", "/root/.cache")


def leak_patterns(secret: str) -> list[re.Pattern[bytes]]:
    """The secret as typed and encoded, its halves (a '#' cut), and its characters one by one with
    up to 200 bytes of anything between (urwid's DEBUG lines log one decoded key per line)."""
    forms = {secret, quote(secret), quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
             secret.encode().hex(), *secret.split("#")}
    patterns = [re.compile(re.escape(f.encode())) for f in forms]
    patterns.append(re.compile(re.escape(secret.encode("utf-16-le"))))
    spread = b".{0,200}?".join(re.escape(c.encode()) for c in secret.split("-", 1)[1])
    patterns.append(re.compile(spread, re.S))
    return patterns


def leaks_in(data: bytes, secret: str) -> list[str]:
    return [p.pattern.decode(errors="replace")[:60] for p in leak_patterns(secret) if p.search(data)]


def files_under(root: Path, since: float) -> Iterator[Path]:
    if not root.exists():
        return
    for path in root.rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mtime >= since and st.st_size < 64 * 1024 * 1024:
            yield path


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(f"hcinode-canary-{uuid.uuid4().hex[:8]}", tmp_path / "tmux.sock")
    yield session
    session.kill()


def test_the_canary_password_is_nowhere_on_disk_screen_or_ps(tmux: Tmux, tmp_path: Path) -> None:
    started = time.time() - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        admin_hash = crypt.crypt(UNLOCK, crypt.mksalt(crypt.METHOD_SHA512))
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "shadow").write_text(f"root:!:19000:0:99999:7:::\nadmin:{admin_hash}:19000:0:99999:7:::\n")
    (etc / "group").write_text("root:x:0:\nsudo:x:27:admin\n")
    state, logs = tmp_path / "state", tmp_path / "log"
    console = (f"mount --bind {shlex.quote(str(etc / 'shadow'))} /etc/shadow && "
               f"mount --bind {shlex.quote(str(etc / 'group'))} /etc/group && "
               f"HCINODE_STATE_DIR={shlex.quote(str(state))} HCINODE_LOG_DIR={shlex.quote(str(logs))} "
               "TERM=xterm-256color exec " + shlex.join([str(HCINODE), "tui", "--dry-run", "--mode", "node",
                                                         "--lock-timeout", "0", "--facts", str(NODE_FACTS)]))
    tmux.start("unshare -m --propagation private sh -c " + shlex.quote(console)
               + "; echo hcinode tui exited with $?; sleep 60")
    tmux.wait_for("Node status")

    tmux.keys("M-e")  # Security: the admin password, twice
    tmux.wait_for("New password")
    tmux.text(CANARY)
    tmux.keys("Down")
    tmux.text(CANARY)
    tmux.keys("F10")
    screen = tmux.wait_for("Dry run: nothing will be changed")
    assert "Password of root: changed" in screen  # the plan, one sentence per change
    tmux.keys("Escape")
    tmux.wait_for("Password login")  # the dialog is closed (a key right after Esc would merge with it)

    tmux.keys("M-h")  # Hosted Engine: the engine's admin password, twice; F10 checks the form
    tmux.wait_for("Not deployed on this host")
    tmux.text("engine.example.com")
    tmux.keys("Down")
    tmux.text(CANARY)
    tmux.keys("Down")
    tmux.text(CANARY)
    tmux.keys("F10")
    tmux.wait_for("a static network needs")  # the cursor on the first problem (the report is below)

    tmux.keys("F12")  # the lock screen: the canary is a wrong password, then admin's unlocks
    tmux.wait_for("Enter the password of 'admin' to unlock")
    tmux.text(CANARY)
    tmux.keys("Enter")
    tmux.wait_for("Wrong password")
    ps = LocalRunner().run(["ps", "-eww", "-o", "pid=,args="]).stdout
    time.sleep(2.2)  # the retry delay after a wrong password
    tmux.text(UNLOCK)
    tmux.keys("Enter")
    tmux.wait_for("Engine network")  # back on the Hosted Engine page
    screens = tmux.tmux("capture-pane", "-p", "-S", "-", "-t", tmux.name)

    tmux.keys("M-q")  # the typed password is an unapplied change: the console asks, "Stay" has the focus
    tmux.wait_for("Leave the hcinode console anyway?")
    tmux.keys("Left")
    tmux.keys("Enter")
    tmux.wait_for("hcinode tui exited with 0")

    assert not leaks_in(ps.encode(), CANARY), "the canary is in ps output"
    assert not leaks_in(screens.encode(), CANARY), "the canary was on the screen"
    written = [p for p in files_under(tmp_path, started) if p.name != "tmux.sock" and p.parent != etc]
    # and the log of this test run itself (tests/conftest.py): the harness typed the canary
    written += [p for d in (*SYSTEM_DIRS, os.environ["HCINODE_LOG_DIR"]) for p in files_under(Path(d), started)]
    log = logs / "hcinode.log"
    assert log in written and "console ready" in log.read_text()  # the search looked where the console wrote
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert " urwid" not in log.read_text() and "DEBUG" not in log.read_text()
    found = {str(p): leaks for p in written if (leaks := leaks_in(p.read_bytes(), CANARY))}
    assert not found, f"the canary password leaked into {found}"
