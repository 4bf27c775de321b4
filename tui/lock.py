"""The lock screen: the whole console is hidden until the admin password is entered."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import urwid

from tui import charset
from tui.pages.status import management_addresses
from tui.widgets import ClearableEdit

if TYPE_CHECKING:
    from tui.app import App

# After a wrong password the next try waits a little: slows down guessing at the console.
RETRY_DELAY = 2.0


class LockScreen(urwid.WidgetWrap):
    def __init__(self, app: App) -> None:
        self.app = app
        self.password = ClearableEdit("", mask="*")
        self.status = urwid.Text("", align="center")
        self._not_before = 0.0
        f = app.ctx.facts
        addresses = management_addresses(f)
        self.clock = urwid.Text("", align="center")
        pile = urwid.Pile([
            urwid.Text(("title", f"hcinode {app.ctx.version}  |  {f.hostname}"), align="center"),
            urwid.Text(addresses[0] if addresses else "no management address", align="center"),
            self.clock,
            urwid.Divider(),
            urwid.Text("This console is locked.", align="center"),
            urwid.Text(f"Enter the password of '{app.ctx.services.unlock_user()}' to unlock.", align="center"),
            urwid.Divider(),
            urwid.Columns([(12, urwid.Text("Password: ")), urwid.AttrMap(self.password, "edit", "edit_focus")]),
            urwid.Divider(),
            self.status,
        ])
        pile.focus_position = 7
        self.tick()
        box = charset.box(urwid.Padding(pile, left=2, right=2), title="Locked")
        super().__init__(urwid.AttrMap(urwid.Filler(urwid.Padding(box, "center", 60), "middle"), "body"))

    def tick(self) -> None:
        self.clock.set_text(self.app.ctx.clock().strftime("%Y-%m-%d %H:%M:%S UTC"))

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        if key != "enter":
            return super().keypress(size, key)
        if time.monotonic() < self._not_before:
            self.password.set_edit_text("")  # what was typed is never left on the screen
            self.status.set_text(("warning", "Please wait a moment before trying again."))
            return None
        ok = self.app.ctx.services.verify_password(self.password.edit_text)
        self.password.set_edit_text("")
        if ok:
            self.app.unlock()
        else:
            self._not_before = time.monotonic() + RETRY_DELAY
            self.status.set_text(("error", "Wrong password."))
        return None
