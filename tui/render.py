"""Render the console to plain text: golden-screen tests, docs captures and the benchmark use it."""

from __future__ import annotations

from collections.abc import Iterable

import urwid


def render_text(widget: urwid.Widget, cols: int, rows: int) -> str:
    """The screen as text lines (trailing blanks stripped), exactly as a terminal of that size shows it."""
    canvas = widget.render((cols, rows), focus=True)
    return "\n".join(line.decode("utf-8", "replace").rstrip() for line in canvas.text)


def press(widget: urwid.Widget, keys: Iterable[str], cols: int = 80, rows: int = 24) -> None:
    """Feed keys as urwid names them ("enter", "down", "f10", "meta n", "a", ...) or literal text."""
    for key in keys:
        widget.keypress((cols, rows), key)
        widget.render((cols, rows), focus=True)  # like the main loop: draw after each key


def type_text(widget: urwid.Widget, text: str, cols: int = 80, rows: int = 24) -> None:
    press(widget, list(text), cols, rows)
