"""Console pages. Every module here is imported at start and registers its pages (plugins by presence).

Node pages (mode "node") appear in the left menu ordered by rank; installer pages (mode "install")
are the steps of the live-media install flow in rank order.
"""

from __future__ import annotations

from collections.abc import Iterable

import urwid


def scroll(widgets: Iterable[urwid.Widget]) -> urwid.Widget:
    """A page body: a vertical list that scrolls when taller than the screen (and says so)."""
    from tui.widgets import Scrolled

    return Scrolled(urwid.ListBox(urwid.SimpleFocusListWalker(list(widgets))))
