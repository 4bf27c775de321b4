"""Lock: hide the console until the admin password is entered; it also locks itself when idle."""

from __future__ import annotations

import urwid

from tui.framework import Page, register
from tui.pages import scroll
from tui.widgets import button_row, kv, title


@register
class LockPage(Page):
    name = "Lock"
    rank = 80
    hotkey = "x"
    apply_label = "Lock"

    def content(self) -> urwid.Widget:
        timeout = self.ctx.lock_timeout
        idle = f"after {timeout // 60} min without a key" if timeout >= 60 else (
            f"after {timeout} s without a key" if timeout else "never (started with --lock-timeout 0)")
        unlock_user = self.ctx.services.unlock_user()
        has_password = unlock_user is not None
        return scroll([
            title("Lock the console"),
            urwid.Divider(),
            urwid.Text("A locked console shows nothing but the password prompt. The password of the "
                       f"admin account '{unlock_user or self.ctx.services.admin_user}' unlocks it."),
            urwid.Divider(),
            kv("Auto-lock", idle),
            kv("Admin password", "set" if has_password else "not set: the console cannot lock",
               "ok" if has_password else "warning"),
            urwid.Divider(),
            button_row([("Lock now (F12)", self.app.lock)]),
        ])

    def on_apply(self) -> None:
        self.app.lock()
