"""The live-media installer flow: welcome, keyboard/time, disks, network, hostname, password,
summary (the plan and the disks to be erased), progress, done.

Each step validates its own fields with the installer's checks before F10 moves on; the summary
runs every check against this machine. The answers become one `installer.InstallConfig`
(see tui.install_flow), the same object a kickstart produces.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import urwid

from nodecore.config import human_size
from nodecore.executor import Progress
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner
from nodecore.secrets import Secret
from tui import dialogs, install_flow
from tui.charset import progress_bar, rule
from tui.framework import Page, register
from tui.labels import problem_text, report_lines
from tui.pages import scroll
from tui.pages.power import power_plan
from tui.widgets import Choice, Field, Form, ScrollText, button_row, kv, title

EXIT_RESCUE = 3  # `hcinode tui` exit code asking the console service for a rescue shell
# one install at a time across tty1 and the serial console (each runs its own `hcinode tui`)
INSTALL_LOCK = "/run/hcinode/install.lock"


def take_install_lock(path: str = INSTALL_LOCK) -> tuple[int | None, str]:
    """(fd, "") when this console may install; (None, who) when another console already does.

    An flock dies with its process, so a crashed console never blocks the next install."""
    import fcntl
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        who = os.read(fd, 200).decode("utf-8", "replace").strip() or "another console"
        os.close(fd)
        return None, who
    os.ftruncate(fd, 0)
    os.write(fd, f"the console on {_tty_name()} (pid {os.getpid()})\n".encode())
    return fd, ""


def _tty_name() -> str:
    import os

    try:
        return os.ttyname(0).removeprefix("/dev/")
    except OSError:
        return "an unknown terminal"


class InstallStep(Page):
    mode = "install"
    intro = ""
    heading = ""  # the page's title when it differs from its (short) menu name
    apply_label = "Next"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()

    @property
    def answers(self) -> install_flow.Answers:
        state = self.app.install_state
        if "answers" not in state:
            state["answers"] = install_flow.Answers(nic=install_flow.default_nic(self.ctx.facts),
                                                    append=install_flow.console_args(self.ctx.facts))
        answers: install_flow.Answers = state["answers"]
        return answers

    def fields(self) -> list[urwid.Widget]:
        return []

    def save(self, values: dict[str, Any]) -> None:
        """Copy the form values into the answers."""

    def check(self) -> ValidationReport:
        return self.validate(self.form.values())

    def content(self) -> urwid.Widget:
        self.form = Form()
        body: list[urwid.Widget] = [title(self.heading or self.name), urwid.Divider()]
        if self.intro:
            body += [urwid.Text(self.intro), urwid.Divider()]
        body += self.fields()
        body += [self.form.messages, urwid.Divider(), self.nav()]
        return scroll(body)

    def nav(self) -> urwid.Widget:
        return button_row([("Back", self.app.previous_page), ("Next (F10)", self.on_apply)])

    def on_apply(self) -> None:
        self.save(self.form.values())
        report = self.check()
        self.form.show_report(report, self.field_map())
        if report.ok:
            self.app.next_page()

    def field_map(self) -> dict[str, str]:
        return {}


@register
class WelcomePage(InstallStep):
    name = "Welcome"
    rank = 10
    intro = ("This installs hcinode, a hyperconverged virtualization node, on this machine's disks. "
             "Nothing is written before you confirm the summary.")

    def fields(self) -> list[urwid.Widget]:
        f = self.ctx.facts
        info = [kv("Machine", f"{f.cpu.model}"), kv("Memory", human_size(f.memory_bytes)),
                kv("Firmware", f.firmware.upper()), kv("Disks", str(len(f.disks))), urwid.Divider()]
        choice = self.form.add(Choice("action", "What to do", [
            ("install", "Install hcinode"), ("rescue", "Rescue shell"), ("reboot", "Reboot")], self.answers.action))
        return [*info, choice]

    def nav(self) -> urwid.Widget:
        return button_row([("Next (F10)", self.on_apply)])

    def save(self, values: dict[str, Any]) -> None:
        self.answers.action = values["action"]

    def on_apply(self) -> None:
        self.save(self.form.values())
        if self.answers.action == "rescue":
            self.app.exit_code = EXIT_RESCUE
            self.app.quit()
        elif self.answers.action == "reboot":
            self.app.apply_plan(power_plan("reboot", self.ctx.facts.hostname), question="Reboot now?",
                                journal_name="tui-power")
        else:
            self.app.next_page()


@register
class KeyboardTimePage(InstallStep):
    name = "Keyboard/time"
    heading = "Keyboard and time"
    rank = 20

    def fields(self) -> list[urwid.Widget]:
        a = self.answers
        return [
            self.form.add(Field("keyboard", "Keyboard layout", a.keyboard, hint="e.g. us, de, fr, gb, es, it")),
            self.form.add(Field("timezone", "Time zone", a.timezone, hint="e.g. UTC, Europe/Berlin")),
            self.form.add(Field("ntp", "NTP servers", " ".join(a.ntp_servers),
                                hint="space separated; empty: the defaults of the node")),
        ]

    def save(self, values: dict[str, Any]) -> None:
        self.answers.keyboard = values["keyboard"].strip()
        self.answers.timezone = values["timezone"].strip()
        self.answers.ntp_servers = install_flow.split_list(values["ntp"])

    def check(self) -> ValidationReport:
        from installer.checks import check_locale

        report = ValidationReport()
        check_locale(install_flow.to_install_config(self.answers), report)
        return report

    def field_map(self) -> dict[str, str]:
        return {"timezone": "timezone", "timesource": "ntp", "keyboard": "keyboard"}


@register
class DisksPage(InstallStep):
    name = "Target disks"
    rank = 30
    intro = "Choose the disk(s) to install on. EVERYTHING on the chosen disks will be erased."

    def fields(self) -> list[urwid.Widget]:
        self.boxes: dict[str, urwid.CheckBox] = {}
        rows: list[urwid.Widget] = []
        for d in install_flow.candidate_disks(self.ctx.facts):
            label = f"{d.name:<8}{human_size(d.size):>8}  {(d.model or '-')[:24]}"
            if d.is_4kn:
                label += "  4Kn"
            if d.is_boot_media:
                rows.append(urwid.Text(("dim", f"    {label}: boot media")))
                continue
            box = urwid.CheckBox(label, d.name in self.answers.disks)
            # a changed choice makes the old "choose at least one disk" stale: it goes at once
            urwid.connect_signal(box, "change", lambda *_: self.form.messages.contents.clear())
            self.boxes[d.name] = box
            rows.append(urwid.AttrMap(box, None, "button_focus"))
            if d.in_use:
                rows.append(urwid.Padding(urwid.Text(("warning", f"has data: {self._use(d)}")), left=4))
        self.error = urwid.Text("")
        return [*rows, self.error]

    @staticmethod
    def _use(d: Any) -> str:
        kinds = sorted({c.fstype for c in d.children for c in c.walk() if c.fstype})
        parts = [f"{d.partition_table} partition table" if d.partition_table else "",
                 f"{len(d.children)} partition(s)" if d.children else "", ", ".join(kinds)]
        return ", ".join(p for p in parts if p) or "a signature"

    def save(self, values: dict[str, Any]) -> None:
        self.answers.disks = tuple(name for name, box in self.boxes.items() if box.state)

    def check(self) -> ValidationReport:
        from installer.storage import resolve_layout

        report = ValidationReport()
        if not self.answers.disks:
            report.error("disks", "choose at least one disk")
        else:
            resolve_layout(install_flow.to_install_config(self.answers), self.ctx.facts, report)
        return report


@register
class InstallNetworkPage(InstallStep):
    name = "Network"
    rank = 40
    intro = "The network used during the install and on first boot (change it later on the Network page)."

    def fields(self) -> list[urwid.Widget]:
        a = self.answers
        nics = [(n.name, f"{n.name:<11}{n.mac}  {'link up' if n.link else 'no link'}"
                 + (f" {n.speed_mbps // 1000}G" if n.speed_mbps and n.speed_mbps >= 1000 else ""))
                for n in self.ctx.facts.nics if not n.virtual]
        return [
            self.form.add(Choice("nic", "NIC", nics, a.nic)),
            self.form.add(Choice("bootproto", "IPv4", [("dhcp", "DHCP"), ("static", "static")], a.bootproto)),
            self.form.add(Field("address", "IPv4 address", a.address, hint="CIDR, e.g. 192.0.2.10/24 (static only)")),
            self.form.add(Field("gateway", "IPv4 gateway", a.gateway)),
            self.form.add(Field("dns", "DNS servers", " ".join(a.dns), hint="space separated")),
        ]

    def save(self, values: dict[str, Any]) -> None:
        a = self.answers
        a.nic, a.bootproto = values["nic"], values["bootproto"]
        a.address, a.gateway = values["address"].strip(), values["gateway"].strip()
        a.dns = install_flow.split_list(values["dns"])

    def check(self) -> ValidationReport:
        from installer.checks import check_network

        report = ValidationReport()
        a = self.answers
        for i, server in enumerate(a.dns):  # each entry named by its position: "DNS server 2: ..."
            try:
                ipaddress.ip_address(server)
            except ValueError:
                report.error(f"dns[{i}]", f"{server!r} is not an IP address")
        if a.bootproto == "static" and not a.address:
            report.error("address", "a static address is required (or choose DHCP)")
        elif a.bootproto == "static":
            try:
                ipaddress.ip_interface(a.address)
            except ValueError:
                report.error("address", f"{a.address!r} is not an IPv4 address with a prefix, e.g. 192.0.2.10/24")
        if not report.ok:
            return report
        check_network(install_flow.to_install_config(a), report)
        return report

    def field_map(self) -> dict[str, str]:
        return {"kickstart": "address"}


@register
class HostnamePage(InstallStep):
    name = "Hostname"
    rank = 50

    def fields(self) -> list[urwid.Widget]:
        return [self.form.add(Field("hostname", "Hostname", self.answers.hostname,
                                    hint="fully qualified, e.g. node01.example.com"))]

    def save(self, values: dict[str, Any]) -> None:
        self.answers.hostname = values["hostname"].strip()

    def check(self) -> ValidationReport:
        from installer.checks import check_hostname

        report = ValidationReport()
        if not self.answers.hostname:
            report.error("hostname", "a hostname is required")
            return report
        check_hostname(install_flow.to_install_config(self.answers), report)
        return report

    def field_map(self) -> dict[str, str]:
        return {"kickstart": "hostname", "network.hostname": "hostname"}


@register
class PasswordPage(InstallStep):
    name = "Admin password"
    rank = 60
    intro = "The password of the admin account (root) for the console and SSH."

    def fields(self) -> list[urwid.Widget]:
        self.strength = urwid.Text("")
        pw = self.form.add(Field("password", "Password", "", mask="*"))
        urwid.connect_signal(pw.edit, "postchange", lambda *_: self._show_strength(pw.value))
        return [pw, self.form.add(Field("confirm", "Again", "", mask="*")), urwid.Padding(self.strength, left=20)]

    def _show_strength(self, text: str) -> None:
        problems = install_flow.password_problems(text)
        if not text:
            self.strength.set_text("")
        elif problems:
            self.strength.set_text(("warning", "weak: " + "; ".join(problems)))
        else:
            self.strength.set_text(("ok", install_flow.password_strength(text)))

    def save(self, values: dict[str, Any]) -> None:
        if values["password"]:
            self.answers.password = Secret(values["password"])
            self.answers.password_hash = ""

    def check(self) -> ValidationReport:
        values = self.form.values()
        report = ValidationReport()
        problems = install_flow.password_problems(values["password"])
        if not values["password"] and self.answers.password is not None:
            return report  # already set on an earlier visit
        if problems:
            report.error("password", "; ".join(problems))
        elif values["password"] != values["confirm"]:
            report.error("confirm", "the two passwords differ")
        return report


@register
class SummaryPage(InstallStep):
    name = "Summary"
    rank = 70
    apply_label = "Install"

    def content(self) -> urwid.Widget:
        a, facts = self.answers, self.ctx.facts
        report = install_flow.check(a, facts)
        self.report = report
        body: list[urwid.Widget] = [title("Summary"), urwid.Divider()]
        erase = [facts.disk(n) for n in a.disks]
        erase_text = ", ".join(f"{d.name} ({human_size(d.size)} {d.model})".replace(" )", ")")
                               for d in erase if d is not None) or "none chosen"
        body += [
            kv("Disks to ERASE", erase_text, "error"),
            kv("Keyboard / zone", f"{a.keyboard} / {a.timezone}"),
            kv("Network", f"{a.nic or 'first NIC with link'}: "
               + (f"static {a.address} gw {a.gateway or '-'}" if a.bootproto == "static" else "DHCP")),
            kv("Hostname", a.hostname or "-"),
            kv("Admin password", "set" if a.password is not None else "NOT SET", "value" if a.password else "error"),
            kv("Kernel arguments", a.append or "-"),
            urwid.Divider(),
        ]
        if not report.ok:
            body.append(urwid.Text(("error", "Fix these before installing:")))
        body += [urwid.Text(("error" if p.severity == "error" else "warning", line))
                 for p, line in zip(report, map(problem_text, report), strict=True)]
        body += [urwid.Divider(), title("Storage layout")]
        body += [urwid.Text(line, wrap="clip") for line in install_flow.layout_lines(a, facts)]
        if report.ok and install_flow.plan_available():
            # the same text `hcinode install --dry-run` prints for the equivalent kickstart
            plan = install_flow.build_install_plan(a, facts)
            body += [urwid.Divider(), title("Install plan")]
            body += [urwid.Text(line, wrap="clip") for line in plan.render_text().splitlines()]
        body[2:2] = [button_row([("Back", self.app.previous_page), ("Install (F10)", self.on_apply)]), urwid.Divider()]
        return scroll(body)

    def on_show(self) -> None:
        self._widget = None  # the answers may have changed: recheck every time

    def on_apply(self) -> None:
        a, facts = self.answers, self.ctx.facts
        report = install_flow.check(a, facts)
        if not report.ok:
            self.app.show_message("Cannot install yet", report_lines(report))
            return
        if not install_flow.plan_available():
            self.app.show_message("Installer not available",
                                  "This build's installer has no install plan; nothing was changed.")
            return
        install = install_flow.build_install(a, facts)
        plan = install.plan
        erase = ", ".join(a.disks)
        question = f"Install hcinode? ALL DATA on {erase} will be ERASED."
        if self.ctx.dry_run:
            self.app.apply_plan(plan, question=question)
            return

        def go() -> None:
            self.app.close_dialog()
            installing = self.app.page("Installing")
            assert isinstance(installing, InstallingPage)
            self.app.go("Installing")
            installing.start(install)

        self.app.open_dialog(dialogs.confirm("Erase and install", question, go, self.app.close_dialog,
                                             yes="Erase and install", no="Cancel", details=plan.render_text()
                                             .splitlines(), width=-6, height=-4))


@register
class InstallingPage(InstallStep):
    name = "Installing"
    rank = 80
    can_go_back = False
    apply_label = ""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.bar = progress_bar()
        self.current = urwid.Text("Waiting for the summary to be confirmed.")
        self.lines: list[str] = []
        self.steps = ScrollText([])
        self.plan: Plan | None = None
        self.install: Any = None  # installer.install.Install
        self.state = "idle"  # idle | running | failed | done
        self.runner: Runner | None = None  # tests inject a RecordingRunner; the console uses LocalRunner
        self.lock_path = INSTALL_LOCK
        self.lock_fd: int | None = None  # held until the console exits: the machine is being installed

    def content(self) -> urwid.Widget:
        return urwid.Pile([("pack", title("Installing")), ("pack", urwid.Divider()), ("pack", self.current),
                           ("pack", self.bar), ("pack", rule()), self.steps])

    def start(self, install: Any) -> None:
        """Run the installer's own orchestration (installer.install) in the background."""
        if self.state == "running":
            return
        if self.lock_fd is None:
            self.lock_fd, who = take_install_lock(self.lock_path)
            if self.lock_fd is None:
                self.current.set_text(("error", f"Not started: {who} is already installing."))
                self.app.show_message("Another install is running",
                                      f"{who} is installing hcinode on this machine. Only one install can run "
                                      "at a time; wait for it to finish, or use that console.")
                return
        self.install, self.plan, self.state = install, install.plan, "running"

        def work(report: Any) -> Any:
            return install_flow.run_install(install, self.runner or LocalRunner(), report)

        self.ctx.worker.submit(work, on_done=self._done, on_error=self._failed, on_progress=self.update,
                               name="install")

    def update(self, p: Progress) -> None:
        self.bar.set_completion(p.percent)
        self.current.set_text(f"Step {p.index}/{p.total}: {p.title}")
        mark = {"running": "..", "done": "ok", "skipped": "--", "failed": "!!"}.get(p.state, "  ")
        line = f"[{mark}] {p.index:>2}. {p.title}"
        if self.lines and self.lines[-1][4:] == line[4:]:
            self.lines[-1] = line
        else:
            self.lines.append(line)
        self.steps.set_lines(self.lines, follow=True)
        self.app.redraw()

    def _done(self, _result: Any) -> None:
        self.state = "done"
        self.app.go("Done")

    def _failed(self, exc: BaseException) -> None:
        self.state = "failed"
        self.current.set_text(("error", "The install failed. F10 retries and resumes after the last finished step."))
        self.app.show_error("Install failed", exc)

    def f10_label(self) -> str:
        return "Retry" if self.state == "failed" else ""

    def on_apply(self) -> None:
        if self.state == "failed" and self.install is not None:
            self.start(self.install)


@register
class DonePage(InstallStep):
    name = "Done"
    rank = 90
    can_go_back = False
    apply_label = "Reboot"

    def content(self) -> urwid.Widget:
        a = self.answers
        return scroll([
            title("hcinode is installed"), urwid.Divider(),
            urwid.Text(f"hcinode was installed on {', '.join(a.disks) or '-'} as {a.hostname or 'hcinode'}. "
                       "Remove the install media, then reboot into the installed node."),
            urwid.Divider(),
            button_row([("Reboot (F10)", self.on_apply)]),
        ])

    def on_apply(self) -> None:
        self.app.apply_plan(power_plan("reboot", self.answers.hostname or self.ctx.facts.hostname),
                            question="Reboot into the installed node now?", journal_name="tui-power")
