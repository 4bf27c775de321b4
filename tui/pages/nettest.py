"""Test network: ping the gateways, reach a host (e.g. the engine), resolve a name."""

from __future__ import annotations

from typing import Any

import urwid

from tui.framework import Page, register
from tui.pages import scroll
from tui.pages.network import node_controller
from tui.widgets import Field, Form, button_row, kv, title


def gateways(config: Any) -> list[str]:
    from node_setup.plan import gateways_of

    return gateways_of(config.network)


@register
class TestNetworkPage(Page):
    name = "Test network"
    rank = 30
    hotkey = "t"
    apply_label = "Run test"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()
        self.results = urwid.Pile([])
        self.running = False

    def content(self) -> urwid.Widget:
        self.form = form = Form()
        gws = gateways(node_controller(self).current)
        return scroll([
            title("Test the management network"),
            urwid.Divider(),
            kv("Gateways", " ".join(gws) or "none configured"),
            form.add(Field("hosts", "Hosts to ping", "", hint="e.g. the engine's address; space separated")),
            form.add(Field("name", "Name to resolve", "", hint="checks DNS, e.g. engine.example.com")),
            urwid.Divider(),
            button_row([("Run test (F10)", self.on_apply)]),
            urwid.Divider(),
            self.results,
        ])

    def on_apply(self) -> None:
        if self.running:
            return
        values = self.form.values()
        gws = gateways(node_controller(self).current)
        hosts = values["hosts"].replace(",", " ").split()
        name = values["name"].strip()
        services = self.ctx.services
        self.running = True
        self._show([urwid.Text(("dim", "testing ..."))])

        def run(_report: Any) -> list[tuple[str, str, bool, str]]:
            return services.network_test(gws, hosts, name)

        def done(results: list[tuple[str, str, bool, str]]) -> None:
            self.running = False
            if not results:
                self._show([urwid.Text(("warning", "Nothing to test: no gateway configured; give a host or a name."))])
                return
            rows: list[urwid.Widget] = []
            for kind, target, ok, detail in results:
                rows.append(urwid.Text([("ok" if ok else "error", " ok  " if ok else "FAIL "), f"{kind:8s} {target}"]))
                if detail:
                    rows.append(urwid.Padding(urwid.Text(("dim", detail)), left=5))
            passed = all(r[2] for r in results)
            rows.append(urwid.Text(("ok", "All checks passed.") if passed else ("error", "Some checks failed.")))
            self._show(rows)

        def failed(exc: BaseException) -> None:
            self.running = False
            self._show([urwid.Text(("error", f"The test could not run: {exc}"))])

        self.ctx.worker.submit(run, on_done=done, on_error=failed, name="network-test")

    def _show(self, widgets: list[urwid.Widget]) -> None:
        self.results.contents[:] = [(w, self.results.options()) for w in widgets]
        self.app.redraw()
