"""Dialogs shown over the page: confirm, error with details, progress, keep-settings countdown.

A dialog is a widget plus the size it wants; `App.open_dialog` lays it over the screen and
`App.close_dialog` removes it. Dialogs never block: their buttons call back into the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import urwid

from nodecore.executor import Progress
from nodecore.plan import Plan
from tui import charset
from tui.charset import progress_bar, rule
from tui.widgets import ScrollText, button_row


class Dialog(urwid.WidgetWrap):
    """Base: a titled box. `width`/`height` are the preferred size (clipped to the screen)."""

    def __init__(self, title: str, body: urwid.Widget, buttons: Sequence[tuple[str, Callable[[], Any]]],
                 width: int = 60, height: int = 12, error: bool = False,
                 on_escape: Callable[[], Any] | None = None, focus_button: int = 0) -> None:
        self.width, self.height = width, height
        self.on_escape = on_escape
        self.buttons = list(buttons)
        parts: list[Any] = [body]
        if buttons:
            row = button_row(buttons)
            row.focus_position = focus_button
            parts += [("pack", urwid.Divider()), ("pack", urwid.Padding(row, align="center",
                                                                         width=("relative", 100)))]
        self.pile = pile = urwid.Pile(parts)
        if buttons:
            pile.focus_position = len(parts) - 1
        box = charset.box(pile, title=title, title_attr="dialog_error" if error else "dialog_title")
        super().__init__(urwid.AttrMap(box, "dialog"))

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        if key == "esc" and self.on_escape is not None:
            self.on_escape()
            return None
        if key == "f10" and self.buttons:
            self.buttons[0][1]()  # F10 is "OK" everywhere
            return None
        return super().keypress(size, key)


def message(title: str, text: str | Sequence[str], on_close: Callable[[], Any], width: int = 60,
            height: int | None = None, error: bool = False) -> Dialog:
    lines = [text] if isinstance(text, str) else list(text)
    body: urwid.Widget = urwid.Filler(urwid.Text("\n".join(lines)), valign="top")
    rows = sum(max(1, len(line) // max(width - 4, 1) + 1) for line in "\n".join(lines).split("\n"))
    return Dialog(title, body, [("OK", on_close)], width, height or min(rows + 5, 20), error, on_close)


def confirm(title: str, text: str | Sequence[str], on_yes: Callable[[], Any], on_no: Callable[[], Any],
            yes: str = "Yes", no: str = "No", width: int = 64, details: Sequence[str] = (),
            height: int | None = None, default_no: bool = False) -> Dialog:
    """A question; with `details` (e.g. a plan) they are shown scrollable under the question.

    `default_no`: Enter on the opened dialog answers No (questions that lose work or access)."""
    lines = [text] if isinstance(text, str) else list(text)
    head = urwid.Text("\n".join(lines))
    if details:
        body: urwid.Widget = urwid.Pile([("pack", head), ("pack", rule()),
                                         ScrollText(details, attr="dialog")])
        h = height or 22
    else:
        body = urwid.Filler(head, valign="top")
        h = height or len("\n".join(lines).split("\n")) + 6
    return Dialog(title, body, [(yes, on_yes), (no, on_no)], width, h, on_escape=on_no,
                  focus_button=1 if default_no else 0)


def plan_steps(plan: Plan) -> list[str]:
    """The raw step list for a technician: numbered titles, and the command where there is one
    (an action's parameters, e.g. a whole keyfile, are the plan's record, not screen text)."""
    lines = [f"{plan.title}: {len(plan)} step{'s' if len(plan) != 1 else ''} (plan {plan.id})"]
    width = len(str(len(plan)))
    for i, step in enumerate(plan.steps, 1):
        lines.append(f"{i:>{width}}. {f'[{step.host}] ' if step.host else ''}{step.title}")
        if step.argv:
            lines.append(f"{' ' * width}    $ {step.describe()}")
    return lines


class PlanDialog(Dialog):
    """Confirm a plan: one sentence per change; the Details button (or D) shows the step list."""

    def __init__(self, title: str, question: str | Sequence[str], plan: Plan, changes: Sequence[str],
                 on_yes: Callable[[], Any], on_no: Callable[[], Any], yes: str, no: str) -> None:
        lines = [question] if isinstance(question, str) else list(question)
        self.changes = [f"- {c}" for c in changes] or plan_steps(plan)
        self.steps = plan_steps(plan)
        self.showing_details = not changes
        self.text = ScrollText(self.changes, attr="dialog")
        self.heading = urwid.Text("")
        body = urwid.Pile([("pack", urwid.Text("\n".join(lines))), ("pack", self.heading),
                           ("pack", rule()), self.text])
        buttons = [(yes, on_yes), ("Details", self.toggle), (no, on_no)] if changes else [(yes, on_yes), (no, on_no)]
        super().__init__(title, body, buttons, width=-6, height=-4, on_escape=on_no)
        self._show()

    def _show(self) -> None:
        if self.showing_details:
            self.heading.set_text("The steps, in order:")
            self.text.set_lines(self.steps)
        else:
            self.heading.set_text("What changes (Details: the steps):")
            self.text.set_lines(self.changes)

    def toggle(self) -> None:
        if self.steps != self.changes:
            self.showing_details = not self.showing_details
            self._show()

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        if key in ("d", "D"):
            self.toggle()
            return None
        return super().keypress(size, key)


def error(title: str, text: str, on_close: Callable[[], Any], details: str = "", width: int = 70) -> Dialog:
    """An error: the short message first, then the details (failing step, command, stderr tail, log)."""
    head = urwid.Text(("dialog_error", text))
    if details:
        body: urwid.Widget = urwid.Pile([("pack", head), ("pack", rule()),
                                         ScrollText(details.splitlines(), attr="dialog")])
        height = min(len(details.splitlines()) + 8, 20)
    else:
        body = urwid.Filler(head, valign="top")
        height = min(len(text) // (width - 4) + 7, 12)
    return Dialog(title, body, [("Close", on_close)], width, height, error=True, on_escape=on_close)


class ProgressDialog(Dialog):
    """Step titles and a bar, fed with nodecore `Progress` reports from the executor."""

    def __init__(self, title: str, total: int, width: int = 66, height: int = 14) -> None:
        self.bar = progress_bar()
        self.current = urwid.Text("starting ...")
        self.steps = ScrollText([], attr="dialog")
        self.total = total
        body = urwid.Pile([("pack", self.current), ("pack", self.bar), ("pack", rule()), self.steps])
        super().__init__(title, body, [], width, height)
        self._lines: list[str] = []

    def update(self, p: Progress) -> None:
        self.bar.set_completion(p.percent)
        self.current.set_text(f"Step {p.index}/{p.total}: {p.title}")
        mark = {"running": "..", "done": "ok", "skipped": "--", "failed": "!!"}.get(p.state, "  ")
        line = f"[{mark}] {p.index:>2}. {p.title}"
        if self._lines and self._lines[-1].endswith(f" {p.index:>2}. {p.title}"):
            self._lines[-1] = line
        else:
            self._lines.append(line)
        self.steps.set_lines(self._lines, follow=True)


class CountdownDialog(Dialog):
    """"Keep these settings? Reverting in N s": Keep confirms; Revert or the timeout rolls back.

    The owner calls `tick()` once a second (an event-loop alarm); at zero `on_revert` runs.
    """

    def __init__(self, text: str, seconds: int, on_keep: Callable[[], Any], on_revert: Callable[[], Any],
                 width: int = 60) -> None:
        self.remaining = seconds
        self._on_revert = on_revert
        self.finished = False
        self.label = urwid.Text("")
        body = urwid.Filler(urwid.Pile([urwid.Text(text), urwid.Divider(), self.label]), valign="top")
        super().__init__("Keep these settings?", body, [("Keep", self._keep(on_keep)), ("Revert", self.revert)],
                         width, len(text) // (width - 4) + 9)
        self._render_label()

    def _keep(self, on_keep: Callable[[], Any]) -> Callable[[], Any]:
        def keep() -> None:
            if not self.finished:
                self.finished = True
                on_keep()
        return keep

    def _render_label(self) -> None:
        self.label.set_text(("dialog_title", f"Keep these settings? Reverting in {self.remaining} s"))

    def tick(self) -> None:
        if self.finished:
            return
        self.remaining -= 1
        if self.remaining <= 0:
            self.revert()
        else:
            self._render_label()

    def revert(self) -> None:
        if not self.finished:
            self.finished = True
            self._on_revert()
