"""The hcinode log: INFO by default, never a key event, 0600, size-capped and rotated."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecore.cli import LOG_BACKUPS, LOG_MAX_BYTES, setup_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, list(root.handlers), {n: logging.getLogger(n).level for n in ("urwid", "tui")}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(saved[0])
    for handler in saved[1]:
        root.addHandler(handler)
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("verbose", [False, True])
def test_no_urwid_key_or_idle_line_reaches_the_log_even_with_v(tmp_path: Path, verbose: bool) -> None:
    log = tmp_path / "hcinode.log"
    setup_logging(verbose, str(log))
    # what urwid 2.6 logs at DEBUG: every decoded key, and every idle wake-up of the event loop;
    # its screen and widget loggers are named after our subclasses' modules
    logging.getLogger("urwid.display._raw_display_base").debug("Decoded codes: 'Canary-Zq7#x9Lp'")
    logging.getLogger("urwid.event_loop.select_loop.SelectEventLoop").debug("No input, entering IDLE")
    logging.getLogger("tui.app.SerialSafeScreen").debug("Drawing screen with size (80, 24)")
    logging.getLogger("hcinode.tui").debug("a debug line of ours")
    logging.getLogger("hcinode.tui").info("console ready")
    text = log.read_text()
    assert "Canary" not in text and "IDLE" not in text and "Drawing" not in text
    assert "console ready" in text
    assert ("a debug line of ours" in text) is verbose  # -v: DEBUG for everything but urwid


def test_the_log_is_0600_also_when_an_older_version_left_it_0644(tmp_path: Path) -> None:
    log = tmp_path / "hcinode.log"
    log.write_text("old line\n")
    os.chmod(log, 0o644)
    setup_logging(False, str(log))
    logging.getLogger("hcinode").info("new line")
    assert mode(log) == 0o600 and log.read_text().startswith("old line\n") and "new line" in log.read_text()
    fresh = tmp_path / "sub" / "fresh.log"
    old_umask = os.umask(0o022)
    try:
        setup_logging(False, str(fresh))
    finally:
        os.umask(old_umask)
    assert mode(fresh) == 0o600


def test_the_log_is_capped_and_rotated_into_private_files(tmp_path: Path) -> None:
    log = tmp_path / "hcinode.log"
    setup_logging(False, str(log))
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler))
    assert handler.maxBytes == LOG_MAX_BYTES == 5 * 1024 * 1024 and handler.backupCount == LOG_BACKUPS == 3
    handler.maxBytes = 2000  # the same mechanism, smaller numbers
    for i in range(200):
        logging.getLogger("hcinode").info("line %d %s", i, "x" * 80)
    files = sorted(tmp_path.glob("hcinode.log*"))
    assert [f.name for f in files] == ["hcinode.log", "hcinode.log.1", "hcinode.log.2", "hcinode.log.3"]
    assert all(f.stat().st_size <= 2000 for f in files) and all(mode(f) == 0o600 for f in files)
