"""Render the console to plain text: golden-screen tests, docs captures and the benchmark use it."""

from __future__ import annotations

from collections.abc import Iterable

import urwid

# A real screen keeps its last canvas, and urwid's canvas cache holds only weak references: without
# this, every test render would start from an empty cache and never see a stale cached canvas.
_last_canvas: list[urwid.Canvas] = []


def draw(widget: urwid.Widget, cols: int, rows: int) -> urwid.Canvas:
    """Render as the main loop does, keeping the canvas alive like a screen (so caching is real)."""
    canvas = widget.render((cols, rows), focus=True)
    _last_canvas[:] = [canvas]
    return canvas


def render_text(widget: urwid.Widget, cols: int, rows: int) -> str:
    """The screen as text lines (trailing blanks stripped), exactly as a terminal of that size shows it."""
    canvas = draw(widget, cols, rows)
    return "\n".join(line.decode("utf-8", "replace").rstrip() for line in canvas.text)


def press(widget: urwid.Widget, keys: Iterable[str], cols: int = 80, rows: int = 24) -> None:
    """Feed keys as urwid names them ("enter", "down", "f10", "meta n", "a", ...) or literal text."""
    for key in keys:
        widget.keypress((cols, rows), key)
        draw(widget, cols, rows)  # like the main loop: draw after each key


def type_text(widget: urwid.Widget, text: str, cols: int = 80, rows: int = 24) -> None:
    press(widget, list(text), cols, rows)
