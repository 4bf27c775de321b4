"""Small widgets every page uses: labelled fields with an error line, forms, buttons, tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import urwid

from nodecore.report import ValidationReport
from tui.labels import item_label, problem_text

LABEL_WIDTH = 20


def button(label: str, on_press: Callable[[], Any]) -> urwid.Widget:
    btn = urwid.Button(label, on_press=lambda _b: on_press())
    return urwid.AttrMap(btn, "button", "button_focus")


def button_row(buttons: Sequence[tuple[str, Callable[[], Any]]]) -> urwid.GridFlow:
    """Buttons side by side, wrapping onto more lines when the screen is narrow."""
    width = max(len(label) for label, _fn in buttons) + 4
    return urwid.GridFlow([button(label, fn) for label, fn in buttons], width, 2, 0, "left")


def title(text: str) -> urwid.Widget:
    return urwid.Text(("title", text))


def kv(label: str, value: str | list[Any], attr: str = "value", width: int = LABEL_WIDTH) -> urwid.Widget:
    """A `label: value` row; value may be urwid markup."""
    return urwid.Columns([(width, urwid.Text(("label", label))), urwid.Text(value if isinstance(value, list)
                                                                             else (attr, value))])


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[int]) -> list[urwid.Widget]:
    """Fixed-width text table rows (last column takes the rest), header underlined."""
    def line(cells: Sequence[str]) -> str:
        out = []
        for i, cell in enumerate(cells):
            if i < len(widths):
                text = cell if len(cell) < widths[i] else cell[: widths[i] - 2] + "~"
                out.append(text.ljust(widths[i]))
            else:
                out.append(cell)
        return "".join(out).rstrip()

    widgets: list[urwid.Widget] = [urwid.Text(("table_head", line(headers)), wrap="clip")]
    widgets.extend(urwid.Text(line(r), wrap="clip") for r in rows)
    return widgets


class ClearableEdit(urwid.Edit):
    """urwid's Edit plus Ctrl-U, which clears the field as in a shell."""

    def keypress(self, size: tuple[int], key: str) -> str | None:
        if key == "ctrl u":
            self.set_edit_text("")
            return None
        return super().keypress(size, key)


class Field(urwid.WidgetWrap):
    """A labelled text input with its own error line (shown only when there is an error)."""

    def __init__(self, name: str, label: str, value: str = "", *, mask: str | None = None,
                 hint: str = "", width: int = LABEL_WIDTH) -> None:
        self.name = name
        self.edit = ClearableEdit("", value, mask=mask)
        self._error = urwid.Text(("error", ""))
        row = urwid.Columns([(width, urwid.Text(("label", label))),
                             urwid.AttrMap(self.edit, "edit", "edit_focus")], dividechars=0)
        parts: list[urwid.Widget] = [row]
        if hint:
            parts.append(urwid.Padding(urwid.Text(("dim", hint)), left=width))
        self._pile = urwid.Pile(parts)
        self._base = len(parts)
        super().__init__(self._pile)
        # a corrected field loses its old error as soon as it is edited (checked again on apply)
        urwid.connect_signal(self.edit, "postchange", lambda *_: self._edited())

    def _edited(self) -> None:
        if self.error:
            self.set_error("")

    @property
    def value(self) -> str:
        return str(self.edit.edit_text)

    @value.setter
    def value(self, text: str) -> None:
        self.edit.set_edit_text(text)

    @property
    def error(self) -> str:
        return str(self._error.text)

    def set_error(self, message: str) -> None:
        self._error.set_text(("error", message))
        contents = self._pile.contents[: self._base]
        if message:
            contents.append((urwid.Padding(self._error, left=2), self._pile.options()))
        self._pile.contents[:] = contents


class Choice(urwid.WidgetWrap):
    """A labelled group of radio buttons."""

    def __init__(self, name: str, label: str, options: Sequence[tuple[str, str]], value: str = "",
                 width: int = LABEL_WIDTH, on_change: Callable[[str], None] | None = None) -> None:
        self.name = name
        self._group: list[urwid.RadioButton] = []
        self._values: list[str] = []
        self._error = urwid.Text(("error", ""))
        buttons = []
        for key, text in options:
            rb = urwid.RadioButton(self._group, text, state=(key == value))
            self._values.append(key)
            buttons.append(urwid.AttrMap(rb, None, "button_focus"))
            urwid.connect_signal(rb, "change", lambda _w, state: self._changed(state))
            if on_change is not None:
                urwid.connect_signal(rb, "change", lambda _w, state, k=key: state and on_change(k))
        self._pile = urwid.Pile(buttons)
        self._outer = urwid.Pile([urwid.Columns([(width, urwid.Text(("label", label))), self._pile])])
        super().__init__(self._outer)

    def _changed(self, state: bool) -> None:
        if state and self._error.text:  # another choice: the old error no longer applies
            self.set_error("")

    @property
    def value(self) -> str:
        for rb, key in zip(self._group, self._values, strict=True):
            if rb.state:
                return key
        return ""

    @value.setter
    def value(self, key: str) -> None:
        for rb, k in zip(self._group, self._values, strict=True):
            if k == key:
                rb.set_state(True)

    def set_error(self, message: str) -> None:
        self._error.set_text(("error", message))
        contents = self._outer.contents[:1]
        if message:
            contents.append((urwid.Padding(self._error, left=2), self._outer.options()))
        self._outer.contents[:] = contents


class Toggle(urwid.WidgetWrap):
    """A labelled check box."""

    def __init__(self, name: str, label: str, state: bool = False, width: int = LABEL_WIDTH) -> None:
        self.name = name
        self.box = urwid.CheckBox("", state)
        super().__init__(urwid.Columns([(width, urwid.Text(("label", label))),
                                        urwid.AttrMap(self.box, None, "button_focus")]))

    @property
    def value(self) -> bool:
        return bool(self.box.state)

    def set_error(self, message: str) -> None:  # check boxes cannot be wrong on their own
        pass


class Form:
    """Named inputs plus a general message area for problems that belong to no single field."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.messages = urwid.Pile([])

    def add(self, widget: Any) -> Any:
        self.fields[widget.name] = widget
        return widget

    def values(self) -> dict[str, Any]:
        return {name: w.value for name, w in self.fields.items()}

    def clear_errors(self) -> None:
        for w in self.fields.values():
            w.set_error("")
        self.messages.contents[:] = []

    def show_report(self, report: ValidationReport, field_map: dict[str, str] | None = None,
                    devices: Mapping[str, str] | None = None) -> None:
        """Put each problem under its field; problems without a field go to the message area,
        named by the label the user sees (tui.labels: "Target disks: ...", "DNS server 2: ...").

        `field_map` maps a report field path (or its prefix) to a form field name, for reports that
        come from another package's model (e.g. `interfaces[0].ipv4.address` -> `address`);
        `devices` names devices in labels ("interfaces[0]" -> "eno1", see labels.device_names).
        """
        self.clear_errors()
        loose: list[urwid.Widget] = []
        shown: set[str] = set()
        for problem in report.errors + report.warnings:
            name = _match_field(problem.field, self.fields, field_map or {})
            if name is not None and name not in shown and problem.severity == "error":
                item = item_label(problem.field)  # one entry of a list field: say which
                text = problem_text(problem, with_label=False)
                self.fields[name].set_error(f"{item}: {text}" if item else text)
                shown.add(name)
            else:
                attr = "error" if problem.severity == "error" else "warning"
                loose.append(urwid.Text((attr, problem_text(problem, devices))))
        self.messages.contents[:] = [(w, self.messages.options()) for w in loose]


def _match_field(path: str, fields: dict[str, Any], field_map: dict[str, str]) -> str | None:
    if path in fields:
        return path
    if path.split("[", 1)[0] in fields:  # "dns[1]": one entry of the dns field
        return path.split("[", 1)[0]
    best = ""
    for prefix in field_map:
        if (path == prefix or path.startswith(prefix)) and len(prefix) > len(best):
            best = prefix
    if best and field_map[best] in fields:
        return field_map[best]
    tail = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return tail if tail in fields else None


class Scrolled(urwid.WidgetWrap):
    """A ListBox that says so when it is cut: a last line "v more below" (and "^ more above" at
    the top) whenever content lies outside the window, so a hidden field, button or disk is
    never mistaken for the end of the list."""

    _sizing = frozenset([urwid.BOX])
    no_cache = ["render"]  # what is cut depends on the focus and the size, checked on every draw

    def __init__(self, listbox: urwid.ListBox) -> None:
        self.listbox = listbox
        super().__init__(listbox)

    def _cut(self, size: tuple[int, int], focus: bool = False) -> tuple[bool, bool]:
        cols, rows = size
        if rows < 3:
            return False, False
        ends = self.listbox.ends_visible((cols, rows), focus)
        below = "bottom" not in ends
        above = "top" not in self.listbox.ends_visible((cols, rows - int(below)), focus)
        return above, below

    def _inner(self, size: tuple[int, int], focus: bool = False) -> tuple[int, int]:
        above, below = self._cut(size, focus)
        return size[0], size[1] - int(above) - int(below)

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:
        above, below = self._cut(size, focus)
        inner = (size[0], size[1] - int(above) - int(below))
        parts: list[tuple[urwid.Canvas, Any, bool]] = []
        if above:
            parts.append((_marker("^ more above (PgUp)", size[0]), None, False))
        parts.append((self.listbox.render(inner, focus), None, True))
        if below:
            parts.append((_marker("v more below (PgDn)", size[0]), None, False))
        return urwid.CanvasCombine(parts)

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        return self.listbox.keypress(self._inner(size, True), key)


def _marker(text: str, cols: int) -> urwid.Canvas:
    return urwid.Text(("dim", text), align="right", wrap="clip").render((cols,))


class ScrollText(urwid.WidgetWrap):
    """A read-only scrollable block of text lines (plans, logs, error details)."""

    def __init__(self, lines: Iterable[str] = (), attr: str = "body") -> None:
        self.walker = urwid.SimpleFocusListWalker([])
        self.attr = attr
        self.listbox = urwid.ListBox(self.walker)
        self.set_lines(lines)
        super().__init__(Scrolled(self.listbox))

    def set_lines(self, lines: Iterable[str], follow: bool = False) -> None:
        self.walker[:] = [urwid.AttrMap(_Line(line), self.attr, "menu_focus") for line in lines] or \
            [urwid.Text("")]
        if len(self.walker):
            self.listbox.set_focus(len(self.walker) - 1 if follow else 0)


class _Line(urwid.Text):
    """A selectable text line, so the arrow keys scroll a ScrollText line by line."""

    _selectable = True

    def __init__(self, text: str) -> None:
        super().__init__(text, wrap="any")

    def keypress(self, size: tuple[int], key: str) -> str:
        return key
