"""Pages as plugins, and the context they get.

A page is a class with `name` (menu label), `rank` (menu order), `hotkey` (Alt-letter),
`mode` ("node" for an installed node, "install" for the live-media installer flow), and:

- `model()`      the current values the page shows (read through its controller),
- `validators()` field name -> function(value) -> error message or "" (checked on every apply),
- `content()`    the urwid widget of the page (built once, rebuilt by `invalidate()`),
- `on_apply()`   what F10 / the Apply button does: validate, build a plan, hand it to the app.

Pages register themselves with `@register`; `tui.pages` imports every module in its folder, so a
later feature (Cluster, Gluster storage, Hosted Engine) adds a page by adding one module there.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import urwid

from nodecore import __version__
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport
from tui.worker import Worker

if TYPE_CHECKING:
    from tui.app import App
    from tui.services import Services


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    """Everything a page may use. Tests inject facts, clock and services for stable screens."""

    facts: HostFacts
    services: Services
    dry_run: bool = False
    clock: Callable[[], dt.datetime] = utc_now
    version: str = __version__
    worker: Worker = field(default_factory=Worker)
    lock_timeout: int = 900  # seconds of no keys before the console locks itself (0: never)
    # live: this machine's own state (NetworkManager, saved settings); False for captured facts and tests
    live: bool = False
    # re-reads this machine's facts (None: captured facts stay as they are)
    collect_facts: Callable[[], HostFacts] | None = None


class Page:
    name: ClassVar[str] = ""
    rank: ClassVar[int] = 100
    hotkey: ClassVar[str] = ""  # letter for Alt-<letter>
    mode: ClassVar[str] = "node"
    # extra footer keys this page handles: (key label, what it does)
    keys: ClassVar[tuple[tuple[str, str], ...]] = ()
    can_go_back: ClassVar[bool] = True  # installer steps after the point of no return say False
    # what F10 does on this page, for the footer ("": nothing, so the footer does not offer it)
    apply_label: ClassVar[str] = ""

    def __init__(self, ctx: Context, app: App) -> None:
        self.ctx = ctx
        self.app = app
        self._widget: urwid.Widget | None = None

    # --- the plugin interface ------------------------------------------------------------------
    def model(self) -> dict[str, Any]:
        return {}

    def validators(self) -> dict[str, Callable[[Any], str]]:
        return {}

    def content(self) -> urwid.Widget:
        raise NotImplementedError

    def on_apply(self) -> None:
        """F10. Pages without an apply action leave this as a no-op."""

    def f10_label(self) -> str:
        """The footer's F10 label now (a page whose F10 depends on its state overrides this)."""
        return self.apply_label

    def unapplied(self) -> str:
        """What this page has edited but not applied ("" if nothing): quitting asks first."""
        return ""

    def on_show(self) -> None:
        """Called each time the page becomes the current page (refresh live data here)."""

    def handle_key(self, key: str) -> str | None:
        """Page-level keys not consumed by its widgets (e.g. "f" for follow); return None if used."""
        return key

    # --- helpers -------------------------------------------------------------------------------
    @property
    def widget(self) -> urwid.Widget:
        if self._widget is None:
            self._widget = self.content()
        return self._widget

    def invalidate(self) -> None:
        self._widget = None
        self.app.page_changed(self)

    def validate(self, values: dict[str, Any]) -> ValidationReport:
        report = ValidationReport(source=self.name)
        for name, check in self.validators().items():
            problem = check(values.get(name))
            if problem:
                report.error(name, problem)
        return report


PAGES: list[type[Page]] = []


def register(cls: type[Page]) -> type[Page]:
    if cls not in PAGES:
        PAGES.append(cls)
    return cls


def load_pages() -> None:
    """Import every module of tui.pages so their @register runs (plugins by presence)."""
    import tui.pages

    for info in pkgutil.iter_modules(tui.pages.__path__):
        importlib.import_module(f"tui.pages.{info.name}")


def pages_for(mode: str) -> list[type[Page]]:
    load_pages()
    return sorted((p for p in PAGES if p.mode == mode), key=lambda p: (p.rank, p.name))
