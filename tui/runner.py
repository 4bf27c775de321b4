"""The runner the console hands to executors: nodecore's LocalRunner with the terminal kept away.

A command started from the console would otherwise inherit the console's terminal as its stdin.
urwid has that terminal in raw mode; a tool that reads it (a prompt, a pager, a tty check) would
wait for keys that never come for it, hang the install, and swallow the technician's keys. So
every command gets an empty stdin unless its step gives one (e.g. chpasswd's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nodecore.runner import CommandResult, LocalRunner
from nodecore.secrets import Secret


class ConsoleRunner(LocalRunner):
    name = "console"

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        return super().run(argv, stdin=b"" if stdin is None else stdin, check=check, timeout=timeout, env=env)
