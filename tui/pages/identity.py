"""Security (admin password, SSH) and Time & keyboard: node settings applied through node_setup.

Both edit the shared NodeController's desired config and apply only their own concerns
(`only=`), so changing the keyboard never rewrites the SSH configuration and never touches the network.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import urwid

from nodecore.report import ValidationReport
from nodecore.secrets import Secret
from tui.framework import Page, register
from tui.node_controller import NodeController, apply_settings
from tui.pages import scroll
from tui.pages.network import node_controller
from tui.widgets import Field, Form, Toggle, button_row, kv, title


class SettingsPage(Page):
    concerns: tuple[str, ...] = ()
    what = "settings"
    apply_label = "Apply"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()

    @property
    def node(self) -> NodeController:
        return node_controller(self)

    def read(self, values: dict[str, Any], report: ValidationReport) -> dict[str, Any]:
        """Form values -> NodeConfig field changes; problems the model cannot hold go to `report`."""
        raise NotImplementedError

    def field_map(self) -> dict[str, str]:
        return {}

    def on_apply(self) -> None:
        report = ValidationReport()
        changes = self.read(self.form.values(), report)
        if report.ok:
            candidate = replace(self.node.desired, **changes)
            full = self.node.validate(candidate)
            mine = [p for p in full.problems if p.field.split(".")[0].split("[")[0] in self.field_map()]
            report = ValidationReport(problems=mine)
        self.form.show_report(report, self.field_map())
        if not report.ok:
            return
        self.node.update(**changes)
        concerns = self.changed_concerns(changes)
        if not concerns:
            self.app.show_message(self.name, "Nothing to apply: the settings are unchanged.")
            return
        apply_settings(self.app, self.node, self.node.identity_change(), concerns, self.what)

    def unapplied(self) -> str:
        if not self.form.fields:  # never shown: nothing typed
            return ""
        concerns = self.changed_concerns(self.read(self.form.values(), ValidationReport()))
        return ", ".join(concerns) + " changed" if concerns else ""

    def changed_concerns(self, changes: dict[str, Any]) -> tuple[str, ...]:
        fields = {"admin_password": "password", "ssh": "ssh", "timezone": "timezone", "ntp_servers": "ntp",
                  "keyboard": "keyboard"}
        current = self.node.current
        return tuple(fields[k] for k, v in changes.items() if k in fields and getattr(current, k) != v)

    def buttons(self) -> urwid.Widget:
        return button_row([("Apply (F10)", self.on_apply)])


@register
class SecurityPage(SettingsPage):
    name = "Security"
    rank = 40
    hotkey = "e"
    concerns = ("password", "ssh")
    what = "the security settings"

    def content(self) -> urwid.Widget:
        self.form = form = Form()
        from node_setup import Ssh

        ssh = self.node.desired.ssh or Ssh()  # None: not managed yet; show the defaults it would get
        self.strength = urwid.Text("")
        pw = form.add(Field("password", "New password", "", mask="*", hint="empty: keep the current one"))
        urwid.connect_signal(pw.edit, "postchange", lambda *_: self._strength(pw.value))
        return scroll([
            title("Admin password"),
            kv("Account", self.ctx.services.admin_user),
            pw, form.add(Field("confirm", "Again", "", mask="*")), urwid.Padding(self.strength, left=20),
            urwid.Divider(),
            title("SSH"),
            form.add(Toggle("ssh_enabled", "SSH server on", ssh.enabled)),
            form.add(Toggle("ssh_password", "Password login", ssh.password_login)),
            _multiline(form.add(Field("keys", "Authorized keys", "\n".join(ssh.authorized_keys),
                                      hint="one OpenSSH public key per line (Enter adds a line)"))),
            form.messages, urwid.Divider(), self.buttons(),
        ])

    def _strength(self, text: str) -> None:
        from node_setup import password_problem
        from nodecore.passwords import strength

        problem = password_problem(text) if text else ""
        self.strength.set_text(("warning", problem) if problem else (("ok", strength(text)) if text else ""))

    def field_map(self) -> dict[str, str]:
        return {"admin_password": "password", "password": "password", "confirm": "confirm", "ssh": "keys"}

    def read(self, values: dict[str, Any], report: ValidationReport) -> dict[str, Any]:
        from node_setup import Ssh, password_problem

        changes: dict[str, Any] = {}
        if values["password"]:
            problem = password_problem(values["password"])
            if problem:
                report.error("password", problem)
            elif values["password"] != values["confirm"]:
                report.error("confirm", "the two passwords differ")
            else:
                changes["admin_password"] = Secret(values["password"])
        keys = tuple(line.strip() for line in values["keys"].splitlines() if line.strip())
        ssh = Ssh(enabled=values["ssh_enabled"], password_login=values["ssh_password"],
                  root_login=(self.node.desired.ssh or Ssh()).root_login, authorized_keys=keys)
        if ssh != (self.node.current.ssh or Ssh()):  # unmanaged SSH stays unmanaged until changed here
            changes["ssh"] = ssh
        return changes


def _multiline(field: Field) -> Field:
    field.edit.multiline = True
    return field


@register
class TimeKeyboardPage(SettingsPage):
    name = "Keyboard/time"
    rank = 50
    hotkey = "k"
    concerns = ("timezone", "ntp", "keyboard")
    what = "time and keyboard settings"

    def content(self) -> urwid.Widget:
        self.form = form = Form()
        d = self.node.desired
        self.clock = urwid.Text("")
        self.tick()
        return scroll([
            title("Keyboard and time"),
            urwid.Columns([(20, urwid.Text(("label", "Time now"))), self.clock]),
            *self.system_rows(),
            urwid.Divider(),
            form.add(Field("timezone", "Time zone", d.timezone, hint="e.g. UTC, Europe/Berlin; empty: unchanged")),
            form.add(Field("ntp", "NTP servers", " ".join(d.ntp_servers), hint="space separated")),
            form.add(Field("keyboard", "Keyboard layout", d.keyboard, hint="e.g. us, de, fr, gb; empty: unchanged")),
            form.messages, urwid.Divider(), self.buttons(),
        ])

    def system_rows(self) -> list[urwid.Widget]:
        """What the node has now, read from its files (the fields below are what F10 applies)."""
        now = self.node.system
        if now is None:
            return [kv("On this node", "not read (captured facts)", "dim")]
        return [kv("Time zone now", now.timezone or "not set (UTC)"),
                kv("NTP servers now", " ".join(now.ntp_servers) or "none configured"),
                kv("Keyboard now", now.keyboard or "not set")]

    def tick(self) -> None:
        """Once a second (the app's timer): the clock on this page moves."""
        self.clock.set_text(("value", self.ctx.clock().strftime("%Y-%m-%d %H:%M:%S UTC")))

    def field_map(self) -> dict[str, str]:
        return {"timezone": "timezone", "ntp_servers": "ntp", "keyboard": "keyboard"}

    def read(self, values: dict[str, Any], report: ValidationReport) -> dict[str, Any]:
        return {"timezone": values["timezone"].strip(), "keyboard": values["keyboard"].strip(),
                "ntp_servers": tuple(values["ntp"].replace(",", " ").split())}
