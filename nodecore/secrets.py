"""Secrets that must never reach logs, plans, journals, errors or the process list.

A `Secret` wraps the value so that every accidental str()/repr()/json of it prints a mask.
Code that really needs the value calls `.reveal()`; the runner only ever sends it on stdin.
Every revealed value is also registered so `redact()` can scrub it out of captured
output (a tool may echo a password back in an error message).
"""

from __future__ import annotations

import threading
from typing import Any

MASK = "********"

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        object.__setattr__(self, "_value", value)
        if len(value) >= 3:  # masking 1-2 character strings would mangle every log line
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return str(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str) -> str:
    """Replace every known secret value in `text` with the mask."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
