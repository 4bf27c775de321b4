"""Logs: the journal (or the hcinode log where there is no journal), with a unit filter and follow."""

from __future__ import annotations

from typing import Any

import urwid

from tui.charset import rule
from tui.framework import Page, register
from tui.widgets import ScrollText

FOLLOW_EVERY = 2  # seconds between re-reads while following


@register
class LogsPage(Page):
    name = "Logs"
    rank = 60
    hotkey = "l"
    keys = (("F", "Follow on/off"),)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.unit = ""
        self.follow = False
        self.lines: list[str] = []
        self._ticks = 0
        self._reading = False
        self.text = ScrollText([])
        self.state = urwid.Text("")

    def model(self) -> dict[str, Any]:
        return {"unit": self.unit, "follow": self.follow, "lines": self.lines}

    def content(self) -> urwid.Widget:
        units = [(u, u or "all") for u in self.ctx.services.log_units()]
        self._render_state()
        self.text.set_lines(self.lines, follow=True)
        return urwid.Pile([("pack", self.state), ("pack", self._unit_bar(units)),
                           ("pack", rule()), self.text])

    def _unit_bar(self, units: list[tuple[str, str]]) -> urwid.Widget:
        group: list[urwid.RadioButton] = []
        cells = []
        for key, label in units:
            rb = urwid.RadioButton(group, label, state=(key == self.unit))
            urwid.connect_signal(rb, "change", self._unit_changed, user_args=[key])
            cells.append(urwid.AttrMap(rb, None, "button_focus"))
        return urwid.GridFlow(cells, 19, 1, 0, "left")

    def _unit_changed(self, unit: str, _button: urwid.RadioButton, on: bool) -> None:
        if on:
            self._set_unit(unit)

    def _render_state(self) -> None:
        follow = "following (F to stop)" if self.follow else "F to follow"
        self.state.set_text([("title", "Logs"), f"  unit: {self.unit or 'all'}  |  {len(self.lines)} lines  |  "
                             f"{follow}"])

    def _set_unit(self, unit: str) -> None:
        if unit != self.unit:
            self.unit = unit
            self.reload()

    def on_show(self) -> None:
        self.reload()

    def reload(self) -> None:
        if self._reading:
            return
        self._reading = True
        services, unit = self.ctx.services, self.unit

        def read(_report: Any) -> list[str]:
            return services.journal(unit, 300)

        def got(lines: list[str]) -> None:
            self._reading = False
            self.lines = lines
            self.text.set_lines(lines, follow=True)
            self._render_state()

        def failed(exc: BaseException) -> None:
            self._reading = False
            self.lines = [f"reading the log failed: {exc}"]
            self.text.set_lines(self.lines)

        self.ctx.worker.submit(read, on_done=got, on_error=failed, name="logs")

    def tick(self) -> None:
        self._ticks += 1
        if self.follow and self._ticks % FOLLOW_EVERY == 0:
            self.reload()

    def handle_key(self, key: str) -> str | None:
        if key in ("f", "F"):
            self.follow = not self.follow
            self._render_state()
            if self.follow:
                self.reload()
            return None
        return key
