"""The console application: header, left menu, page body, footer with keys, dialogs, lock screen.

`App` owns the layout and the global keys; `Root` is the top widget handed to urwid's MainLoop
(and rendered directly by tests). Root checks the terminal size on every render: below
MIN_COLS x MIN_ROWS it shows a "make the terminal larger" message instead of a broken layout,
and any exception while drawing or handling a key becomes an error dialog, never a crash.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import urwid

from nodecore import pipeline
from nodecore.errors import ApplyFailed, HcinodeError, InvalidInput
from nodecore.executor import Action
from nodecore.plan import Plan
from nodecore.runner import LocalRunner, Runner
from nodecore.secrets import redact
from tui import charset, dialogs
from tui.framework import Context, Page, pages_for
from tui.labels import report_lines
from tui.palette import PALETTE, pick_colors

if TYPE_CHECKING:
    from tui.lock import LockScreen

log = logging.getLogger("hcinode.tui")

MIN_COLS, MIN_ROWS = 70, 20
MENU_WIDTH = 22
CLOCK_WIDTH = 21
# the live pages' re-reads slow down once nobody has pressed a key for ACTIVE_WINDOW seconds
ACTIVE_WINDOW = 120
IDLE_REFRESH = 60


def shorten_hostname(hostname: str, room: int) -> str:
    """The hostname in `room` characters: the full name, else its first label, else cut with "~"."""
    if len(hostname) <= room:
        return hostname
    short = hostname.split(".", 1)[0]
    if len(short) <= room:
        return short
    return short[: max(room - 1, 1)] + "~"


class SerialSafeScreen(urwid.raw_display.Screen):
    """A serial line (or a getty that reset the window size) can report 0 rows or columns at any
    time, not only at start; urwid cannot draw a 0-wide canvas, so such a size counts as 80x24."""

    def get_cols_rows(self) -> tuple[int, int]:
        cols, rows = super().get_cols_rows()
        return (cols, rows) if cols > 0 and rows > 0 else (80, 24)


def text_canvas(lines: list[str], cols: int, rows: int) -> urwid.Canvas:
    """A plain canvas of exactly cols x rows, clipping whatever does not fit (any size, even 1x1)."""
    out = []
    for i in range(rows):
        line = lines[i] if i < len(lines) else ""
        line = line[:cols].ljust(cols)
        out.append(line.encode("utf-8"))
    return urwid.TextCanvas(out, maxcol=cols)


def too_small_lines(cols: int, rows: int) -> list[str]:
    msg = [f"Terminal is {cols}x{rows}.", "Please make the terminal larger:",
           f"hcinode needs at least {MIN_COLS}x{MIN_ROWS}."]
    if cols < 34:  # still say something useful on a tiny window
        msg = [f"{cols}x{rows}: too small", "make the terminal", f"larger ({MIN_COLS}x{MIN_ROWS})"]
    top = max(0, (rows - len(msg)) // 2)
    return [""] * top + [line.center(cols) if len(line) < cols else line for line in msg]


class Root(urwid.Widget):
    _sizing = frozenset([urwid.BOX])
    _selectable = True
    no_cache = ["render"]  # the size check must run on every draw

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:
        cols, rows = size
        if cols < MIN_COLS or rows < MIN_ROWS:
            return text_canvas(too_small_lines(cols, rows), cols, rows)
        try:
            return self.app.visible_widget(size).render(size, focus=True)
        except Exception:  # noqa: BLE001 - a drawing bug must leave a usable console
            log.exception("render failed")
            self.app.dialogs.clear()
            return text_canvas(["The console hit an internal error while drawing.",
                                "Press Esc to go back to the menu. Details are in the log:",
                                traceback.format_exc().strip().splitlines()[-1]], cols, rows)

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        cols, rows = size
        if cols < MIN_COLS or rows < MIN_ROWS:
            return None if key != "meta q" else self.app.keypress(size, key)
        try:
            return self.app.keypress(size, key)
        except urwid.ExitMainLoop:
            raise
        except Exception as exc:  # noqa: BLE001 - show it, keep running
            log.exception("a key press failed")  # (never the key: it may be a character of a password)
            self.app.show_error("Something went wrong", exc)
            return None
        finally:
            self.app.redraw()  # a key may change any part of the screen (F10 fills a message area)


class _MenuItem(urwid.Text):
    _selectable = True

    def keypress(self, size: tuple[int], key: str) -> str:
        return key


class DialogLayer(urwid.Widget):
    """A dialog over a widget, sized to the dialog's wish but never bigger than the screen, with a
    blank one-character margin so no character of the page behind touches its frame."""

    _sizing = frozenset([urwid.BOX])
    _selectable = True
    no_cache = ["render"]

    def __init__(self, dialog: dialogs.Dialog, bottom: urwid.Widget) -> None:
        super().__init__()
        self.dialog, self.bottom = dialog, bottom

    def _overlay(self, size: tuple[int, int]) -> urwid.Overlay:
        cols, rows = size
        # a width/height <= 0 means "the screen less that much" (plans and logs want all the room)
        width = self.dialog.width if self.dialog.width > 0 else cols + self.dialog.width
        height = self.dialog.height if self.dialog.height > 0 else rows + self.dialog.height
        width, height = max(10, min(width, cols - 2)), max(5, min(height, rows - 2))
        framed = urwid.Overlay(self.dialog, urwid.AttrMap(urwid.SolidFill(" "), "body"), "center", width,
                               "middle", height)
        return urwid.Overlay(framed, self.bottom, "center", width + 2, "middle", height + 2)

    def render(self, size: tuple[int, int], focus: bool = False) -> urwid.Canvas:
        return self._overlay(size).render(size, focus)

    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        return self._overlay(size).keypress(size, key)


class App:
    def __init__(self, ctx: Context, mode: str = "node") -> None:
        self.ctx = ctx
        self.mode = mode
        self.pages: list[Page] = [cls(ctx, self) for cls in pages_for(mode)]
        if not self.pages:
            raise ValueError(f"no pages for mode {mode!r}")
        self.dialogs: list[dialogs.Dialog] = []
        self.locked = False
        self.lock_screen: LockScreen | None = None
        self.quit_requested = False
        self.exit_code = 0
        self.loop: urwid.MainLoop | None = None
        self.last_key = time.monotonic()
        self.install_state: dict[str, Any] = {}  # the installer flow's answers, shared by its pages
        self._shared: dict[str, Any] = {}
        self.current = self.pages[0]
        self.visited = {0}

        self.header = urwid.Text("", wrap="clip")
        self.clock_text = urwid.Text("", align="right", wrap="clip")
        self.footer = urwid.Text("")
        self.menu_walker = urwid.SimpleFocusListWalker(self._menu_items())
        self.menu = urwid.ListBox(self.menu_walker)
        self.body = urwid.WidgetPlaceholder(urwid.SolidFill(" "))
        menu_box = urwid.AttrMap(charset.box(self.menu, title="Steps" if mode == "install" else "Menu"), "menu")
        self.columns = urwid.Columns([(MENU_WIDTH, menu_box), urwid.Padding(self.body, left=1, right=1)])
        self.frame = urwid.Frame(urwid.AttrMap(self.columns, "body"),
                                 header=urwid.AttrMap(urwid.Columns([self.header, (CLOCK_WIDTH, self.clock_text)]),
                                                     "header"),
                                 footer=urwid.AttrMap(self.footer, "footer"))
        self.root = Root(self)
        ctx.worker.on_error = lambda exc: self.show_error("Background task failed", exc)
        ctx.worker.after_callbacks = self.redraw
        self.show_page(self.current)
        self.columns.focus_position = 1 if mode == "install" else 0

    # --- layout --------------------------------------------------------------------------------
    def _menu_items(self) -> list[urwid.Widget]:
        items = []
        for i, page in enumerate(self.pages):
            if self.mode == "install":
                mark = ">" if page is getattr(self, "current", None) else ("+" if i in getattr(self, "visited", ())
                                                                          else " ")
                label = f"{mark} {i + 1}. {page.name}"
            else:
                label = f" {page.name}"
                if page.hotkey:
                    label = f"{label:<{MENU_WIDTH - 8}} M-{page.hotkey}"
            attr = "menu_current" if page is getattr(self, "current", None) else "menu"
            items.append(urwid.AttrMap(_MenuItem(label, wrap="clip"), attr, "menu_focus"))
        return items

    def visible_widget(self, size: tuple[int, int]) -> urwid.Widget:
        self.update_header(size[0])
        self.update_footer()
        if self.locked and self.lock_screen is not None:
            return self.lock_screen
        widget: urwid.Widget = self.frame
        for dialog in self.dialogs:
            widget = DialogLayer(dialog, widget)
        return widget

    def update_header(self, cols: int = 80) -> None:
        """Version, hostname, mode and DRY RUN; a long hostname is shortened, never the mode."""
        now = self.ctx.clock().strftime("%Y-%m-%d %H:%M UTC")
        mode = "Installer" if self.mode == "install" else "Node"
        tail = f" | {mode}" + (" | DRY RUN" if self.ctx.dry_run else "")
        head = f" hcinode {self.ctx.version} | "
        host = shorten_hostname(self.ctx.facts.hostname, cols - CLOCK_WIDTH - len(head) - len(tail))
        markup: list[Any] = [f"{head}{host} | {mode}"]
        if self.ctx.dry_run:
            markup += [" | ", ("header_warn", "DRY RUN")]
        self.header.set_text(markup)
        self.clock_text.set_text(now + " ")

    def footer_keys(self) -> list[tuple[str, str]]:
        """Only the keys that do something on the current page."""
        page = self.current
        keys: list[tuple[str, str]] = []
        if self.mode == "node":
            keys.append(("Tab", "Switch"))
            keys.append(("F5", "Refresh"))
        if page.f10_label():
            keys.append(("F10", page.f10_label()))
        keys += list(page.keys)
        if self.mode == "install" and self.pages.index(page) > 0 and page.can_go_back:
            keys.append(("Esc", "Back"))
        if self.mode == "node":
            keys.append(("F12", "Lock"))
        keys.append(("Alt-Q", "Quit"))
        return keys

    def update_footer(self) -> None:
        markup: list[Any] = []
        for key, what in self.footer_keys():
            markup += [("footer_key", f" {key}"), f" {what} "]
        self.footer.set_text(markup)

    # --- navigation ----------------------------------------------------------------------------
    def show_page(self, page: Page) -> None:
        self.current = page
        self.visited.add(self.pages.index(page))
        page.on_show()
        self.body.original_widget = page.widget
        self.menu_walker[:] = self._menu_items()
        self.menu_walker.set_focus(self.pages.index(page))
        self.update_footer()

    def page_changed(self, page: Page) -> None:
        if page is self.current:
            self.body.original_widget = page.widget

    def shared(self, key: str, factory: Callable[[], Any]) -> Any:
        """One object shared by several pages (e.g. the node settings controller), made on first use."""
        if key not in self._shared:
            self._shared[key] = factory()
        return self._shared[key]

    def page(self, name: str) -> Page:
        for p in self.pages:
            if p.name == name or type(p).__name__ == name:
                return p
        raise KeyError(name)

    def go(self, name: str) -> None:
        """Show a page by name and put the keyboard focus on it."""
        self.show_page(self.page(name))
        self.columns.focus_position = 1

    def next_page(self) -> None:
        i = self.pages.index(self.current)
        if i + 1 < len(self.pages):
            self.show_page(self.pages[i + 1])
            self.columns.focus_position = 1

    def previous_page(self) -> None:
        i = self.pages.index(self.current)
        if i > 0 and self.current.can_go_back:
            self.show_page(self.pages[i - 1])
            self.columns.focus_position = 1

    # --- keys ----------------------------------------------------------------------------------
    def keypress(self, size: tuple[int, int], key: str) -> str | None:
        self.last_key = time.monotonic()
        if self.locked and self.lock_screen is not None:
            return self.lock_screen.keypress(size, key)
        if self.dialogs:
            return self.visible_widget(size).keypress(size, key)
        if key == "meta q":
            self.ask_quit()
            return None
        if key == "f10":
            self.current.on_apply()
            return None
        if self.mode == "install" and key == "esc":
            self.previous_page()
            return None
        if self.mode == "node":
            if key == "f5":
                self.current.on_show()
                self.page_changed(self.current)
                return None
            if key == "f12":
                self.lock()
                return None
            if key.startswith("meta ") and len(key) == 6:
                for page in self.pages:
                    if page.hotkey and page.hotkey.lower() == key[-1]:
                        self.go(page.name)
                        return None
            if key == "tab":
                self.columns.focus_position = 1 - self.columns.focus_position
                return None
            if self.columns.focus_position == 0:
                return self._menu_key(size, key)
        unhandled = self.frame.keypress(size, key)
        if unhandled is not None:
            unhandled = self.current.handle_key(unhandled)
        return unhandled

    def _menu_key(self, size: tuple[int, int], key: str) -> str | None:
        if key in ("enter", "right"):
            self.columns.focus_position = 1
            return None
        unhandled = self.frame.keypress(size, key)
        index = self.menu_walker.focus
        if index is not None and self.pages[index] is not self.current:
            self.show_page(self.pages[index])
        return unhandled

    def ask_quit(self) -> None:
        unapplied = [f"{p.name}: {what}" for p in self.pages if (what := p.unapplied())]
        if unapplied:
            self.open_dialog(dialogs.confirm(
                "Quit with unapplied changes?",
                ["These changes are not applied and will be lost:", *(f"  {u}" for u in unapplied), "",
                 "Leave the hcinode console anyway?"],
                self.quit, self.close_dialog, yes="Quit", no="Stay", default_no=True))
            return
        self.open_dialog(dialogs.confirm("Quit", "Leave the hcinode console?", self.quit, self.close_dialog))

    # --- dialogs -------------------------------------------------------------------------------
    def open_dialog(self, dialog: dialogs.Dialog) -> None:
        self.dialogs.append(dialog)
        self.redraw()

    def close_dialog(self) -> None:
        if self.dialogs:
            self.dialogs.pop()
        self.redraw()

    def show_message(self, title: str, text: str | list[str], width: int = 64) -> None:
        self.open_dialog(dialogs.message(title, text, self.close_dialog, width=width))

    def show_error(self, title: str, exc: BaseException | str) -> None:
        if isinstance(exc, InvalidInput):
            text, details = "The input is not valid; nothing was changed.", "\n".join(report_lines(exc.report))
        elif isinstance(exc, ApplyFailed):
            text, details = f"Step {exc.step_index} failed: {exc.step_title}", redact(str(exc))
        elif isinstance(exc, HcinodeError):
            lines = redact(str(exc)).splitlines() or ["error"]
            text, details = lines[0], "\n".join(lines)
        elif isinstance(exc, BaseException):
            text = f"{type(exc).__name__}: {redact(str(exc))}"
            details = redact("".join(traceback.format_exception(exc)))
        else:
            text, details = exc, ""
        self.open_dialog(dialogs.error(title, text, self.close_dialog, details=details))

    # --- applying plans ------------------------------------------------------------------------
    def apply_plan(self, plan: Plan, *, question: str = "Apply these changes?", changes: Sequence[str] = (),
                   actions: Mapping[str, Action] | None = None, runners: Runner | Mapping[str, Runner] | None = None,
                   on_done: Callable[[Any], Any] | None = None, journal_name: str = "tui",
                   execute: Callable[[Callable[[Any], None]], Any] | None = None) -> None:
        """Confirm and execute a plan; with --dry-run only show it (the machine is not changed).

        `changes` are the plan in sentences (one per change); the step list is behind Details.
        `execute(report)` replaces the default executor when a package applies its own plans
        (node_setup's apply adds its NetworkManager actions and the pending checkpoint).
        """
        if self.ctx.dry_run:
            self.open_dialog(dialogs.PlanDialog(
                "Dry run: nothing will be changed", question, plan, changes,
                self.close_dialog, self.close_dialog, yes="Close", no="Back"))
            return

        def go() -> None:
            self.close_dialog()
            self.run_plan(plan, actions=actions, runners=runners, on_done=on_done, journal_name=journal_name,
                          execute=execute)

        self.open_dialog(dialogs.PlanDialog(plan.title, question, plan, changes, go, self.close_dialog,
                                            yes="Apply", no="Cancel"))

    def run_plan(self, plan: Plan, *, actions: Mapping[str, Action] | None = None,
                 runners: Runner | Mapping[str, Runner] | None = None,
                 on_done: Callable[[Any], Any] | None = None, journal_name: str = "tui",
                 execute: Callable[[Callable[[Any], None]], Any] | None = None) -> None:
        progress = dialogs.ProgressDialog(plan.title, len(plan))
        self.open_dialog(progress)

        def work(report: Callable[[Any], None]) -> Any:
            if execute is not None:
                return execute(report)
            return pipeline.apply(plan, runners or LocalRunner(), name=journal_name, actions=actions,
                                  progress=report)

        def done(result: Any) -> None:
            self.remove_dialog(progress)
            if on_done is not None:
                on_done(result)

        def failed(exc: BaseException) -> None:
            self.remove_dialog(progress)
            self.show_error("Apply failed", exc)

        self.ctx.worker.submit(work, on_done=done, on_error=failed, on_progress=progress.update, name=plan.title)

    def remove_dialog(self, dialog: dialogs.Dialog) -> None:
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)
        self.redraw()

    # --- lock ----------------------------------------------------------------------------------
    def lock(self) -> None:
        from tui.lock import LockScreen

        if self.mode != "node" or self.locked:
            return
        if not self.ctx.services.has_password():
            self.show_message("Lock", "The console cannot be locked: root has no password and no member of "
                              "sudo or wheel has one, so nobody could unlock it. Set root's password on the "
                              "Security page first.")
            return
        self.locked = True
        self.lock_screen = LockScreen(self)
        self.redraw()

    def unlock(self) -> None:
        self.locked = False
        self.lock_screen = None
        self.redraw()

    def check_idle(self) -> None:
        idle = time.monotonic() - self.last_key
        if self.ctx.lock_timeout and not self.locked and idle >= self.ctx.lock_timeout \
                and self.ctx.services.has_password():
            self.lock()

    # --- running -------------------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw everything afresh on the next screen update.

        Invalidating only the root is not enough: urwid reuses cached canvases of unchanged
        widgets, and a widget that was empty when drawn (a form's message area, a results list)
        is not in its parent's cached canvas, so filling it would show nothing until another key.
        """
        urwid.CanvasCache.clear()
        self.root._invalidate()

    def quit(self) -> None:
        self.quit_requested = True
        raise urwid.ExitMainLoop()

    def _every(self, seconds: float, fn: Callable[[], bool | None]) -> None:
        def tick(loop: urwid.MainLoop, _data: Any) -> None:
            try:
                changed = fn()
            except Exception as exc:  # noqa: BLE001
                log.exception("timer failed")
                self.show_error("Timer failed", exc)
                changed = True
            if changed:
                self.redraw()
            loop.set_alarm_in(seconds, tick)

        assert self.loop is not None
        self.loop.set_alarm_in(seconds, tick)

    def refresh_every(self, seconds: int) -> int:
        """How often a live page re-reads the machine: every `seconds` while someone uses the
        console, IDLE_REFRESH once nobody pressed a key for ACTIVE_WINDOW. A console nobody looks at
        must not take the node's CPU (two of them re-reading every 10 s took a third of a TCG vCPU)."""
        return seconds if time.monotonic() - self.last_key < ACTIVE_WINDOW else max(seconds, IDLE_REFRESH)

    def run(self, colors: str = "auto", screen: urwid.BaseScreen | None = None,
            after_first_screen: Callable[[], None] | None = None) -> None:
        screen = screen or SerialSafeScreen()
        screen.set_terminal_properties(colors=pick_colors(colors))
        if not self.ctx.dry_run:
            # On the node's console Ctrl-C / Ctrl-Z must not drop the technician into a root shell.
            screen.tty_signal_keys(intr="undefined", quit="undefined", stop="undefined", susp="undefined")
        self.loop = urwid.MainLoop(self.root, PALETTE, screen=screen, handle_mouse=False)
        self.ctx.worker.attach(self.loop)
        self._every(5, self.check_idle)
        self._every(1, self.tick)
        if after_first_screen is not None:
            # due at once, this alarm runs before MainLoop.start()'s own first draw: draw here
            # (that one then finds nothing to send)
            loop = self.loop
            loop.set_alarm_in(0, lambda *_: (loop.draw_screen(), after_first_screen()))
        try:
            self.loop.run()
        finally:
            self.ctx.worker.detach(self.loop)

    def tick(self) -> bool:
        """Once a second: dialogs with a countdown, pages that follow live data. True when the whole
        screen must be drawn afresh (a countdown may end in another dialog); a clock's set_text
        invalidates its own canvas, and a background read redraws when its result is in (worker),
        so a second that only moved a clock draws only the clock."""
        countdowns = [d for d in self.dialogs if isinstance(d, dialogs.CountdownDialog)]
        for dialog in countdowns:
            dialog.tick()
        if self.lock_screen is not None:
            self.lock_screen.tick()
        tick = getattr(self.current, "tick", None)
        if tick is not None:
            tick()
        return bool(countdowns)
