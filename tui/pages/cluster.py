"""Cluster: join an engine (one pasted join string, or engine URL + CA pin + token), see the agent's
status, leave the cluster. Everything goes through the agent package's public API (agent.join,
agent.status) via ClusterController, never a subprocess; tests swap the controller for a fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import urwid

from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport
from tui import dialogs
from tui.framework import Page, register
from tui.pages import scroll
from tui.widgets import Field, Form, button_row, kv, title


class ClusterController:
    """The console's door to agent/ for changes: join and leave (what the node's cluster state is
comes from Services.cluster_view, the read side)."""

    def request(self, values: dict[str, str]) -> Any:
        from agent import join as joining

        options = {"start": joining.systemd_running()}
        if values.get("join", "").strip():
            return joining.request_from_join_string(values["join"], **options)
        return joining.request_from_parts(values.get("engine", ""), values.get("token", ""),
                                          values.get("pin", ""), **options)

    def validate(self, request: Any) -> ValidationReport:
        from agent import join as joining

        return joining.validate(request)

    def join(self, request: Any, progress: Callable[[Any], None], discovered: Callable[[Any], None]) -> Any:
        from agent import join as joining

        return joining.join(request, progress=progress, on_discovered=discovered)

    def leave(self, progress: Callable[[Any], None]) -> Any:
        from agent import join as joining
        from agent.status import agent_path

        return joining.leave(stop=joining.systemd_running(), progress=progress, agent_file=agent_path())


def cluster_controller(page: Page) -> ClusterController:
    controller: ClusterController = page.app.shared("cluster", ClusterController)
    return controller


FIELD_MAP = {"join string": "join", "engine": "engine", "ca-pin": "pin", "token": "token"}


@register
class ClusterPage(Page):
    name = "Cluster"
    rank = 55
    hotkey = "c"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()
        self.checked = ""  # the pin the last join checked

    @property
    def cluster(self) -> ClusterController:
        return cluster_controller(self)

    def model(self) -> dict[str, Any]:
        return self.ctx.services.cluster_view()

    def on_show(self) -> None:
        self.invalidate()

    def content(self) -> urwid.Widget:
        from agent.status import cluster_line, storage_line

        view = self.model()
        engine, status = view["engine"], view["status"]
        rows: list[urwid.Widget] = [title("Cluster"), urwid.Divider(),
                                    kv("Status", cluster_line(status, view["join"])),
                                    kv("Storage", storage_line(status))]
        if self.checked:
            rows.append(kv("Pin checked", self.checked, "ok"))
        rows.append(urwid.Divider())
        if engine:
            rows += [kv("Engine", engine["urls"][0]), kv("CA pin", engine["ca_pin"]),
                     kv("Host", f"{engine['name']} ({engine['host_id']})"),
                     kv("Sanlock host id", str(engine["sanlock_host_id"])), urwid.Divider(),
                     button_row([("Leave cluster", self.ask_leave)])]
            return scroll(rows)
        self.form = form = Form()
        rows += [
            urwid.Text("Paste the join string from `hcinode engine token create`, or give its parts:"),
            urwid.Divider(),
            form.add(Field("join", "Join string", "", mask="*", hint="hcinode-join:v1:... (one line)")),
            urwid.Divider(),
            form.add(Field("engine", "Engine URL", "", hint="https://engine.example:8443")),
            form.add(Field("pin", "CA pin", "", hint="sha256:... as the engine printed it")),
            form.add(Field("token", "Token", "", mask="*")),
            form.messages, urwid.Divider(),
            button_row([("Join (F10)", self.on_apply)]),
        ]
        return scroll(rows)

    def on_apply(self) -> None:
        if self.model()["engine"]:
            return
        values = self.form.values()
        try:
            request = self.cluster.request(values)
        except InvalidInput as exc:
            self.form.show_report(exc.report, FIELD_MAP)
            return
        report = self.cluster.validate(request)
        self.form.show_report(report, FIELD_MAP)
        if not report.ok:
            return
        url = request.urls[0]
        question = [f"Join the engine at {url}?",
                    f"Its CA is accepted only if its pin is {request.ca_pin}; the token is sent only then."]
        if self.ctx.dry_run:
            self.app.show_message("Dry run: nothing will be sent", question)
            return
        self.app.open_dialog(dialogs.confirm("Join the cluster", question, lambda: self._join(request),
                                             self.app.close_dialog, yes="Join", no="Cancel"))

    def _join(self, request: Any) -> None:
        self.app.close_dialog()
        progress = dialogs.ProgressDialog(f"Joining {request.urls[0]}", 3)
        self.app.open_dialog(progress)

        def work(report: Callable[[Any], None]) -> Any:
            return self.cluster.join(request, report, lambda d: report(("pin", d.pin)))

        def step(item: Any) -> None:
            if isinstance(item, tuple) and item[0] == "pin":
                self.checked = f"{item[1]} (matches)"
            else:
                progress.update(item)

        def done(result: Any) -> None:
            self.app.close_dialog()
            reg = result.registration
            self.checked = f"{result.discovery.pin} (matches)"
            self.invalidate()
            self.app.show_message("Joined", [f"Joined {reg.url} as {reg.name}.",
                                             f"The engine presented the pinned CA {result.discovery.pin}.",
                                             f"Certificate until {reg.expires_at}."], width=118)

        def failed(exc: BaseException) -> None:
            self.app.close_dialog()
            if isinstance(exc, InvalidInput):
                self.form.show_report(exc.report, FIELD_MAP)
                self.app.show_message("Could not join", [p.render() for p in exc.report.errors])
                return
            self.app.show_error("Could not join", exc)

        self.ctx.worker.submit(work, on_done=done, on_error=failed, on_progress=step, name="cluster-join")

    def ask_leave(self) -> None:
        engine = self.model()["engine"] or {}
        text = urwid.Filler(urwid.Text(
            f"Leave the cluster of {engine.get('urls', ['?'])[0]}? The agent stops and this node's key and "
            "certificate are deleted; the engine keeps the host until it is removed there."), valign="top")
        # "No" first: it has the focus, and F10 and Esc mean No
        self.app.open_dialog(dialogs.Dialog("Leave the cluster", text,
                                            [("No", self.app.close_dialog), ("Leave", self._leave)],
                                            width=64, height=10, on_escape=self.app.close_dialog))

    def _leave(self) -> None:
        self.app.close_dialog()
        if self.ctx.dry_run:
            self.app.show_message("Dry run", "Nothing was changed: the node stays in the cluster.")
            return

        def done(_result: Any) -> None:
            self.checked = ""
            self.invalidate()
            self.app.show_message("Left the cluster", "This node is no longer in the cluster.")

        self.ctx.worker.submit(lambda report: self.cluster.leave(report), on_done=done,
                               on_error=lambda exc: self.app.show_error("Could not leave", exc), name="cluster-leave")
