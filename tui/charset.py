"""Line drawing for the terminal at hand: Unicode box characters, or ASCII (`+ - |`) where they
would show as garbage.

Chosen once at start (`choose()` in `hcinode tui`) from $TERM and the locale: a serial terminal
(vt100/vt102/vt220, dumb) or a locale whose encoding is not UTF-8 (LANG=C, LANG unset) gets
ASCII. The Linux console draws the box characters only with a UTF-8 locale, which the second
rule covers. Every frame, rule and bar of the console is made by the helpers below, so one
switch changes them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import urwid

ASCII_TERMS = ("vt100", "vt102", "vt220", "vt52", "dumb", "")
ASCII_BOX = {"tlcorner": "+", "tline": "-", "trcorner": "+", "lline": "|", "rline": "|",
             "blcorner": "+", "bline": "-", "brcorner": "+"}

_state = {"ascii": False}


def wants_ascii(env: Mapping[str, str] | None = None) -> bool:
    """True when $TERM is a plain serial terminal or the locale's encoding is not UTF-8."""
    env = os.environ if env is None else env
    if env.get("TERM", "") in ASCII_TERMS:
        return True
    name = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or "C"
    if not env.get("LC_ALL") and env.get("LC_CTYPE") == "C.UTF-8" and (env.get("LANG") or "C") in ("C", "POSIX"):
        # Python itself sets LC_CTYPE=C.UTF-8 under LANG=C (PEP 538 locale coercion); the
        # terminal behind it was still started with the C locale
        name = env.get("LANG") or "C"
    encoding = name.split(".", 1)[1].split("@", 1)[0] if "." in name else ""
    return encoding.lower().replace("-", "") != "utf8"


def choose(env: Mapping[str, str] | None = None) -> bool:
    """Pick the characters once for this console; returns True for ASCII."""
    use_ascii(wants_ascii(env))
    return is_ascii()


def use_ascii(on: bool) -> None:
    _state["ascii"] = on


def is_ascii() -> bool:
    return _state["ascii"]


def box(body: urwid.Widget, title: str = "", **kwargs: Any) -> urwid.LineBox:
    """A framed widget (urwid.LineBox) in this console's characters."""
    return urwid.LineBox(body, title=title, **(ASCII_BOX if is_ascii() else {}), **kwargs)


def rule() -> urwid.Divider:
    """A horizontal line across the widget's width."""
    return urwid.Divider("-" if is_ascii() else "─")


def progress_bar() -> urwid.ProgressBar:
    """0-100; the smooth (eighth-block) edge only where Unicode is drawn."""
    return urwid.ProgressBar("bar_empty", "bar_done", 0, 100, None if is_ascii() else "bar_smooth")
