"""Colour palettes: 256 colours (xterm), 16 colours (the Linux VGA console) and mono (serial lines).

Every entry is urwid's 6-tuple (name, fg16, bg16, mono, fg256, bg256); the screen's colour depth
picks which columns are used, so one palette list serves all three modes.

Mono must say everything colour says: focus is reverse video ("standout") on plain ground
(so a dialog is plain, not reverse, or its focused button would vanish), the current menu
entry and titles are bold, errors bold (dialog errors also underlined), and every state that
colour marks is also spelled out in the text ("FAIL", "weak: ...", "has data", "ERASE").
"""

from __future__ import annotations

import os

PALETTE = [
    # name,          16-colour fg,   16-colour bg,  mono,               256 fg,   256 bg
    ("body",         "light gray",   "black",       "",                 "g85",    "g11"),
    ("header",       "white",        "dark blue",   "standout",         "white",  "#006"),
    ("header_warn",  "yellow,bold",  "dark blue",   "standout,bold",    "#ff0,bold", "#006"),
    ("footer",       "black",        "light gray",  "standout",         "black",  "g78"),
    ("footer_key",   "dark blue,bold", "light gray", "standout,bold",   "#006,bold", "g78"),
    ("menu",         "light gray",   "black",       "",                 "g78",    "g15"),
    ("menu_focus",   "black",        "light cyan",  "standout",         "black",  "#8cf"),
    ("menu_current", "light cyan,bold", "black",    "bold",             "#8cf,bold", "g15"),
    ("title",        "white,bold",   "black",       "bold",             "white,bold", "g11"),
    ("label",        "light gray",   "black",       "",                 "g70",    "g11"),
    ("value",        "white",        "black",       "bold",             "white",  "g11"),
    ("edit",         "white",        "dark gray",   "underline",        "white",  "g23"),
    ("edit_focus",   "black",        "light cyan",  "standout",         "black",  "#8cf"),
    ("button",       "white",        "dark gray",   "",                 "white",  "g27"),
    ("button_focus", "black",        "light cyan",  "standout",         "black",  "#8cf"),
    ("error",        "light red,bold", "black",     "bold",             "#f55,bold", "g11"),
    ("warning",      "yellow",       "black",       "bold",             "#fd0",   "g11"),
    ("ok",           "light green",  "black",       "",                 "#5f5",   "g11"),
    ("dim",          "dark gray",    "black",       "",                 "g50",    "g11"),
    ("dialog",       "black",        "light gray",  "",                 "black",  "g85"),
    ("dialog_title", "dark blue,bold", "light gray", "bold",            "#006,bold", "g85"),
    ("dialog_error", "dark red,bold", "light gray", "bold,underline",   "#a00,bold", "g85"),
    ("bar_empty",    "black",        "dark gray",   "",                 "black",  "g30"),
    ("bar_done",     "black",        "light cyan",  "standout",         "black",  "#8cf"),
    ("bar_smooth",   "light cyan",   "dark gray",   "",                 "#8cf",   "g30"),
    ("table_head",   "light cyan,bold", "black",    "bold,underline",   "#8cf,bold", "g11"),
]

COLOR_MODES = {"256": 256, "16": 16, "mono": 1}


def pick_colors(requested: str = "auto", term: str | None = None) -> int:
    """Colour depth for `--colors auto|256|16|mono`. auto: from $TERM (serial consoles are mono-safe)."""
    if requested in COLOR_MODES:
        return COLOR_MODES[requested]
    term = term if term is not None else os.environ.get("TERM", "")
    if "256color" in term:
        return 256
    if term in ("vt100", "vt102", "vt220", "dumb", "") or os.environ.get("NO_COLOR"):
        return 1
    return 16
