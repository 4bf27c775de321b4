"""Nothing but the console draws on its terminal: while it runs, file descriptor 2 goes to a log.

libblockdev and blivet report through GLib (`g_warning` writes straight to fd 2), C libraries and
the tools they start print to the inherited fd 2, Python prints warnings and tracebacks of
background threads to sys.stderr. On the terminal each of these tears through urwid's screen.

Redirecting fd 2 itself (dup2) is the robust way: it catches every writer in the process and in
its children at once, needs no cooperation from any library, and has no thread or pipe that could
fill up and block a writer. A GLib log handler (GLib.log_set_handler / g_log_set_writer_func)
would catch only GLib's own messages, per log domain, and not the tools' output or Python's.

A logging handler that writes to the terminal (`hcinode -v`) is detached for the same time: the
file handler already records every line, so it would only double them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from nodecore.paths import log_dir

log = logging.getLogger("hcinode.tui")

STDERR_LOG = "console-stderr.log"
MAX_BYTES = 1 << 20  # a longer file is started afresh: warnings of older runs are not worth more


@contextlib.contextmanager
def stderr_to_log(path: str | None = None) -> Iterator[str]:
    """Within the block fd 2 appends to `path` (0600; default: console-stderr.log in the log dir)."""
    path = path or os.path.join(log_dir(), STDERR_LOG)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # what tools print may name devices and users; not for everyone
    if os.fstat(fd).st_size > MAX_BYTES:
        os.ftruncate(fd, 0)
    root = logging.getLogger()
    to_terminal = [h for h in root.handlers if type(h) is logging.StreamHandler
                   and h.stream in (sys.stderr, sys.__stderr__, sys.stdout, sys.__stdout__)]
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    for handler in to_terminal:
        root.removeHandler(handler)
    log.info("console running: messages written to stderr go to %s", path)
    try:
        yield path
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        for handler in to_terminal:
            root.addHandler(handler)
