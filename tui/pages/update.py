"""Update: the images on this node (running, default, previous, staged), how the last trial boot went
and why; apply a new image from a source; roll back to the previous image.

F10 checks the source exactly as `hcinode update apply SOURCE` does (update.cli.prepare_apply: the
checksum, the manifest's version and architecture, the thin pool's space, the hyperconverged safety
checks) in the background, then shows the same plan in the plan dialog (a dry run only shows it).
Roll back asks first (No has the focus) and then shows the rollback plan like `update rollback`.
Everything goes through update's public API (Services.update_view reads, UpdateController
changes), never a subprocess; tests swap both for fakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import urwid

from nodecore.errors import InvalidInput
from nodecore.plan import Plan
from tui import dialogs
from tui.framework import Page, register
from tui.pages import scroll
from tui.widgets import Field, Form, button_row, kv, title

FIELD_MAP = {"SOURCE": "source", "--checksum": "checksum"}
# trial state -> how the console colours the "Last trial" line
TRIAL_ATTR = {"committed": "ok", "armed": "warning", "trying": "warning", "rolled-back": "error", "failed": "error"}


class UpdateController:
    """The console's door to update/ for changes: what the CLI's `apply` and `rollback` use (what
    the node's images are comes from Services.update_view, the read side)."""

    def prepare_apply(self, source: str, checksum: str) -> Any:
        from nodecore.runner import LocalRunner
        from update.cli import prepare_apply

        return prepare_apply(LocalRunner(), source, checksum=checksum)

    def prepare_rollback(self) -> tuple[str, Plan]:
        from nodecore.runner import LocalRunner
        from update.cli import prepare_rollback

        return prepare_rollback(LocalRunner())

    def run(self, plan: Plan, progress: Callable[[Any], None], journal: bool) -> Any:
        """Apply journals (a re-run after a power cut skips what was done); rollback does not (as the CLI)."""
        from nodecore import pipeline
        from nodecore.runner import LocalRunner
        from update.actions import ACTIONS
        from update.cli import JOURNAL

        return pipeline.apply(plan, LocalRunner(), name=JOURNAL, actions=ACTIONS, progress=progress, journal=journal)


def update_controller(page: Page) -> UpdateController:
    controller: UpdateController = page.app.shared("update", UpdateController)
    return controller


def changes_of(plan: Plan) -> list[str]:
    """The plan's summary as the dialog's sentences (the steps are behind Details)."""
    return [f"{key}: {value}" for key, value in plan.summary.items()]


@register
class UpdatePage(Page):
    name = "Update"
    rank = 65
    hotkey = "u"
    apply_label = "Check image"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()
        self.values: dict[str, str] = {}  # what was typed, kept across a rebuild

    @property
    def updates(self) -> UpdateController:
        return update_controller(self)

    def model(self) -> dict[str, Any]:
        return self.ctx.services.update_view()

    def on_show(self) -> None:
        self.values = self.form.values()
        self.invalidate()

    def content(self) -> urwid.Widget:
        view = self.model()
        rows: list[urwid.Widget] = [title("Update"), urwid.Divider()]
        if view.get("error"):
            rows += [urwid.Text(("error", f"No image information: {view['error']}")), urwid.Divider()]
        else:
            trial = view.get("trial") or {}
            staged = ", ".join(view.get("staged") or []) or "-"
            rows += [kv("Running", str(view["running"])), kv("Default", str(view["default"])),
                     kv("Previous", str(view["previous"] or "-")), kv("Staged", staged),
                     kv("Last trial", str(view["last"]), TRIAL_ATTR.get(str(trial.get("state", "")), "value")),
                     urwid.Divider()]
            if view["previous"]:
                rows += [button_row([(f"Roll back to {view['previous']}", self.ask_rollback)]), urwid.Divider()]
        self.form = form = Form()
        rows += [
            title("Apply an image"),
            urwid.Text("A node ISO, its squashfs (the PXE filesystem.squashfs) or an http(s) URL to either; it is "
                       "written beside the running image and boots once on trial."),
            urwid.Divider(),
            form.add(Field("source", "Source", self.values.get("source", ""),
                           hint="a path or an http(s) URL")),
            form.add(Field("checksum", "sha256", self.values.get("checksum", ""),
                           hint="empty: found beside the image")),
            form.messages, urwid.Divider(),
            button_row([("Check and apply (F10)", self.on_apply)]),
        ]
        return scroll(rows)

    def unapplied(self) -> str:
        return "the update source (not applied)" if self.form.values().get("source", "").strip() else ""

    # --- F10: source -> the same checks and plan as `hcinode update apply` ------------------------
    def on_apply(self) -> None:
        values = self.form.values()
        source, checksum = values["source"].strip(), values["checksum"].strip()
        if not source:
            self.form.fields["source"].set_error("give the image's path or URL")
            return
        checking = dialogs.Dialog("Checking the image", urwid.Filler(urwid.Text(
            f"{source}: checksum, version, architecture, thin pool space, cluster safety (a URL is "
            "downloaded first) ..."), valign="top"), [], width=60, height=8)
        self.app.open_dialog(checking)

        def done(prepared: Any) -> None:
            self.app.remove_dialog(checking)
            self.form.show_report(prepared.report, FIELD_MAP)
            question = "\n".join([f"Write image {prepared.version} beside the running one and arm its trial boot?",
                                   "Nothing changes for the running image; reboot afterwards to try the new one once.",
                                   *(f"Warning: {p.render()}" for p in prepared.report.warnings)])
            self.app.apply_plan(prepared.plan, question=question, changes=changes_of(prepared.plan),
                                execute=lambda progress: self.updates.run(prepared.plan, progress, journal=True),
                                on_done=lambda _r: self._applied(prepared.version), journal_name="update")

        def failed(exc: BaseException) -> None:
            self.app.remove_dialog(checking)
            if isinstance(exc, InvalidInput):
                self.form.show_report(exc.report, FIELD_MAP)
                self.app.show_message("The image was refused", [p.render() for p in exc.report.errors]
                                      + ["Nothing was changed."], width=76)
                return
            self.app.show_error("Could not check the image", exc)

        self.ctx.worker.submit(lambda _report: self.updates.prepare_apply(source, checksum), on_done=done,
                               on_error=failed, name="update-check")

    def _applied(self, version: str) -> None:
        self.values = {}
        self.invalidate()
        self.app.show_message("Image written", [f"Image {version} is written and armed.",
                                                "Reboot (Power page) to try it once; this page says how it went."])

    # --- roll back ---------------------------------------------------------------------------------
    def ask_rollback(self) -> None:
        view = self.model()
        text = urwid.Filler(urwid.Text(
            f"Make {view.get('previous')} the default again? The next boot runs it; {view.get('running')} "
            "stays on disk (`update prune` removes it)."), valign="top")
        # "No" first: it has the focus, and F10 and Esc mean No
        self.app.open_dialog(dialogs.Dialog("Roll back", text, [("No", self.app.close_dialog),
                                                                ("Roll back", self._rollback)],
                                            width=64, height=10, on_escape=self.app.close_dialog))

    def _rollback(self) -> None:
        self.app.close_dialog()
        try:
            to, plan = self.updates.prepare_rollback()
        except InvalidInput as exc:
            self.app.show_message("Cannot roll back", [p.render() for p in exc.report.errors])
            return
        self.app.apply_plan(plan, question=f"Roll back to {to}? Reboot afterwards to run it.",
                            changes=changes_of(plan),
                            execute=lambda progress: self.updates.run(plan, progress, journal=False),
                            on_done=lambda _r: self._rolled_back(to), journal_name="update")

    def _rolled_back(self, to: str) -> None:
        self.invalidate()
        self.app.show_message("Rolled back", f"{to} is the default: reboot (Power page) to run it.")
