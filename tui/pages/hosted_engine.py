"""Hosted Engine: deploy the engine VM onto the Gluster engine volume from a form, or see its status.

With no deployment on this host the page is the hosted-engine spec as a form (the bridge and the
NIC under it picked from this node's NICs), checked by the same rules as `hcinode hosted-engine
deploy` (hosted_engine.spec); F10 runs the read-only preflight, shows its report with the labels of
the form, and opens the plan dialog (one sentence per change, the steps behind Details); the deploy
runs in the background with the usual progress dialog. Once this host serves a deployment
(host.json) the page shows `hosted_engine.status`: the engine, this host's state and score, every
host's row, global maintenance, re-read every REFRESH_EVERY seconds; and the maintenance buttons
(global, local, none), which call `hosted_engine.maintenance.set_maintenance` as the CLI does.

The admin password typed here is a Secret from the field on: it is written only into the 0600 file
the spec names (engine.admin_password_file), right before the plan runs, and never logged or shown.
Everything goes through hosted_engine's public API via HostedEngineController, never a subprocess;
tests swap the controller for a fake.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import urwid

from nodecore.plan import Plan
from nodecore.report import Problem, ValidationReport
from nodecore.secrets import Secret
from tui import dialogs
from tui.framework import Page, register
from tui.labels import field_label
from tui.pages import scroll
from tui.widgets import Choice, Field, Form, Toggle, button_row, kv, table, title

REFRESH_EVERY = 10  # seconds between status re-reads while the page is shown
SOURCE = "Hosted Engine page"

# form field -> (the label the technician sees, the spec path its value goes to)
FIELDS: dict[str, tuple[str, str]] = {
    "fqdn": ("Engine FQDN", "engine.fqdn"),
    "password": ("Admin password", "engine.admin_password_file"),
    "confirm": ("Again", ""),
    "password_file": ("Password file", "engine.admin_password_file"),
    "ssh_key": ("Root SSH key", "engine.root_ssh_key"),
    "mode": ("Addressing", "network.mode"),
    "ip": ("Engine IP", "network.ip"),
    "prefix": ("Prefix", "network.prefix"),
    "gateway": ("Gateway", "network.gateway"),
    "dns": ("DNS servers", "network.dns"),
    "mac": ("MAC", "network.mac"),
    "hosts": ("Hosts entry", "engine.hosts"),
    "memory": ("Memory (MiB)", "vm.memory_mib"),
    "vcpus": ("vCPUs", "vm.vcpus"),
    "disk": ("Disk (GiB)", "vm.disk_gib"),
    "appliance": ("Appliance", "appliance.path"),
    "sha256": ("Appliance sha256", "appliance.sha256"),
    "server": ("Gluster server", "storage.server"),
    "volume": ("Volume", "storage.volume"),
    "backup": ("Backup servers", "storage.backup_servers"),
    "mount_root": ("Mount root", "storage.mount_root"),
    "bridge": ("Bridge", "bridge.name"),
    "nic": ("NIC", "bridge.nic"),
    "vlan": ("VLAN", "bridge.vlan"),
    "io_timeout": ("Sanlock io_timeout", "sanlock.io_timeout"),
}
# spec path (or its prefix) -> form field, for putting a spec or preflight problem under its field;
# the password field comes before the file field, so a password problem shows where it was typed
FIELD_MAP: dict[str, str] = {path: name for name, (_label, path) in reversed(FIELDS.items()) if path}
FIELD_MAP.update({"appliance.url": "appliance", "bridge.bond": "nic", "engine.hosts": "hosts"})
# what preflight says without a field of the form
LOOSE_LABELS = {"(host)": "This host", "(deployment)": "Deployment"}
NUMBERS = ("prefix", "memory", "vcpus", "disk", "io_timeout")
# the maintenance buttons of the status view: mode -> (button, what it does)
MAINTENANCE: dict[str, tuple[str, str]] = {
    "global": ("Global maintenance", "No HA agent starts, stops or moves the engine VM (on every host)."),
    "local": ("Local maintenance", "This host runs no engine: score 0; a running engine moves to another host first."),
    "none": ("End maintenance", "Global and this host's local maintenance end; the agents manage the engine again."),
}


def label_of(path: str) -> str:
    """The label the technician sees for a spec or preflight field path."""
    best = ""
    for prefix in FIELD_MAP:
        if (path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")) and \
                len(prefix) > len(best):
            best = prefix
    if best:
        label = FIELDS[FIELD_MAP[best]][0]
        rest = path[len(best):]
        index = rest[1:-1] if rest.startswith("[") and rest.endswith("]") and rest[1:-1].isdigit() else ""
        return f"{label} {int(index) + 1}" if index else label
    return LOOSE_LABELS.get(path) or field_label(path)


def problem_line(problem: Problem) -> str:
    """A problem as the page shows it: "Engine FQDN: ... (hint)", warnings marked."""
    text = problem.message + (f" ({problem.hint})" if problem.hint else "")
    if problem.field:
        text = f"{label_of(problem.field)}: {text}"
    return text if problem.severity == "error" else f"Warning: {text}"


class HostedEngineController:
    """The console's door to hosted_engine/ for the deploy: the spec's rules, preflight + plan, the
    password file, the deploy (what this host serves now comes from Services.hosted_engine_view)."""

    def default_password_file(self) -> str:
        from hosted_engine.answers import default_password_file

        return default_password_file()

    def parse(self, data: dict[str, Any]) -> tuple[Any, ValidationReport]:
        from hosted_engine.spec import parse_spec

        return parse_spec(data, SOURCE)

    def password_problem(self, password: Secret) -> str:
        """The engine's admin password policy (the rule preflight applies to the password file)."""
        from engine.auth import password_policy_problem

        return password_policy_problem(password.reveal())

    def prepare(self, spec: Any) -> tuple[ValidationReport, Plan]:
        """Preflight (read-only) and the plan made from what it found."""
        from hosted_engine import deploy
        from nodecore.runner import LocalRunner

        return deploy.prepare(spec, LocalRunner())

    def change_summary(self, plan: Plan, spec: Any) -> list[str]:
        from hosted_engine.plan import change_summary

        return change_summary(plan, spec)

    def write_password(self, path: str, password: Secret) -> None:
        from hosted_engine.answers import write_password_file

        write_password_file(path, password)

    def deploy(self, spec: Any, report: ValidationReport, plan: Plan, progress: Callable[[Any], None]) -> Any:
        from hosted_engine import deploy
        from nodecore.runner import LocalRunner

        return deploy.run_deploy(spec, LocalRunner(), report, plan, progress=progress, log_path=None)

    def set_maintenance(self, mode: str) -> str:
        """`hcinode hosted-engine maintenance MODE` (the same function); InvalidInput says why not."""
        from hosted_engine.maintenance import set_maintenance

        return set_maintenance(mode).message


def host_rows(hosts: Any) -> list[urwid.Widget]:
    """Every host's row (hosted_engine.status.HostRow); the state comes last and wraps, never cut."""
    def engine(h: Any) -> str:
        vm, health = h.engine_status.get("vm", "?"), h.engine_status.get("health", "?")
        return f"{vm}, {health}" if vm == "up" else vm

    rows = table(["Id", "Hostname", "Engine", "Score", "State"],
                 [[str(h.host_id), h.hostname, engine(h), str(h.score),
                   (h.problem or h.state) + ("" if h.up_to_date else " (stale)")] for h in hosts],
                 [4, 20, 11, 6])
    for row in rows[1:]:
        row.set_wrap_mode("space")
    return rows


def he_controller(page: Page) -> HostedEngineController:
    controller: HostedEngineController = page.app.shared("hosted-engine", HostedEngineController)
    return controller


def bridge_options(facts: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(bridges, NICs) to pick from: the node's bridges plus a new ovirtmgmt; its physical NICs and
    bonds (a device with an address says so: that is the one this host is reached through)."""
    from hosted_engine.spec import DEFAULT_BRIDGE

    bridges = [(n.name, f"{n.name} (exists)") for n in facts.nics if n.virtual and n.name.startswith(("br", "ovirt"))]
    if DEFAULT_BRIDGE not in {name for name, _ in bridges}:
        bridges.append((DEFAULT_BRIDGE, f"{DEFAULT_BRIDGE} (new)"))
    nics = []
    for n in facts.nics:
        if n.virtual and not n.name.startswith("bond"):
            continue
        state = "up" if n.link else "down"
        nics.append((n.name, f"{n.name} ({state}{', ' + n.addresses[0] if n.addresses else ''})"))
    return bridges, nics


@register
class HostedEnginePage(Page):
    name = "Hosted Engine"
    rank = 58
    hotkey = "h"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.form = Form()
        self.view: dict[str, Any] | None = None
        self.read_once = False
        self._reading = False
        self._ticks = 0
        # the last F10's report (form and preflight), shown under "Preflight"; updated in place, so
        # what is typed (the password too) stays in its fields
        self.report_box = urwid.Pile([])
        self.values: dict[str, Any] = {}  # what was typed, kept across a rebuild (never the password)

    @property
    def he(self) -> HostedEngineController:
        return he_controller(self)

    def f10_label(self) -> str:
        return "" if self.view else "Preflight"

    def model(self) -> dict[str, Any]:
        return {"deployed": self.view is not None, "values": self.form.values()}

    # --- reading the status ------------------------------------------------------------------------
    def on_show(self) -> None:
        if self._reading:
            return
        self._reading = True

        def got(view: dict[str, Any] | None) -> None:
            self._reading = False
            changed = view != self.view or not self.read_once
            self.view, self.read_once = view, True
            if changed:
                self._keep_values()
                self.invalidate()

        def failed(exc: BaseException) -> None:
            self._reading = False
            self.read_once = True

        services = self.ctx.services
        self.ctx.worker.submit(lambda _report: services.hosted_engine_view(), on_done=got, on_error=failed,
                               name="hosted-engine")

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % self.app.refresh_every(REFRESH_EVERY) == 0:
            self.on_show()

    def _keep_values(self) -> None:
        self.values = {k: v for k, v in self.form.values().items() if k not in ("password", "confirm")}

    # --- the page ------------------------------------------------------------------------------------
    def content(self) -> urwid.Widget:
        if self.view is not None:
            return scroll(self.status_rows(self.view))
        return scroll(self.form_rows())

    def status_rows(self, view: dict[str, Any]) -> list[urwid.Widget]:
        from agent.status import hosted_engine_line

        host, agent, status = view["host"], view["agent"], view["status"]
        rows: list[urwid.Widget] = [title("Hosted Engine"), urwid.Divider()]
        up = [h for h in (status.hosts if status else ()) if h.engine_status.get("vm") == "up"]
        if up:
            where = ", ".join(f"{h.hostname} (id {h.host_id})" for h in up)
            health = up[0].engine_status.get("health", "unknown")
            rows.append(kv("Engine", f"{view['engine_fqdn'] or '?'}: up on {where}, health {health}",
                           "ok" if health == "good" and len(up) == 1 else "warning"))
        else:
            rows.append(kv("Engine", f"{view['engine_fqdn'] or '?'}: down on every host that reports", "error"))
        if host is not None:
            rows.append(kv("Deployment", host.deployment))
            rows.append(kv("This host", f"id {host.host_id}: " + (hosted_engine_line(agent) if agent else
                                                                  "the HA agent has not written its state")))
        if agent and agent.get("reason"):
            rows.append(kv("", str(agent["reason"]), "dim"))
        if agent:
            rows.append(kv("Lease", str(agent.get("lease", "unknown"))))
        if status is not None:
            words = {True: ("ENABLED", "warning"), False: ("off", "value"),
                     None: ("UNKNOWN (the global slot is unreadable)", "error")}
            text, attr = words[status.global_maintenance]
            rows.append(kv("Global maintenance", text, attr))
            rows += [urwid.Divider(), title("Hosts")]
            rows += host_rows(status.hosts)
            if not status.hosts:
                rows.append(urwid.Text(("dim", "no host has written its metadata slot yet")))
            rows.append(urwid.Text(("dim", f"up to date judged by: {status.liveness_source}; "
                                           f"re-read every {REFRESH_EVERY} s")))
            rows += [urwid.Divider(), title("Maintenance"),
                     button_row([(MAINTENANCE[mode][0], functools.partial(self.on_maintenance, mode))
                                 for mode in MAINTENANCE])]
        if view["error"]:
            rows += [urwid.Divider(), urwid.Text(("error", view["error"]))]
        return rows

    def on_maintenance(self, mode: str) -> None:
        """Ask, then set the maintenance mode in the background (hosted_engine.maintenance)."""
        label, what = MAINTENANCE[mode]
        if self.ctx.dry_run:
            self.app.show_message("Dry run: nothing will be changed", f"{label}: {what}")
            return

        def done(message: str) -> None:
            self.app.show_message(label, message)
            self.on_show()

        def go() -> None:
            self.app.close_dialog()
            self.ctx.worker.submit(lambda _report: self.he.set_maintenance(mode), on_done=done,
                                   on_error=lambda exc: self.app.show_error(label, exc),
                                   name="hosted-engine-maintenance")

        self.app.open_dialog(dialogs.confirm(label, f"{what}\nSet it now?", go, self.app.close_dialog))

    def form_rows(self) -> list[urwid.Widget]:
        from hosted_engine.spec import DEFAULT_APPLIANCE, DEFAULT_MOUNT_ROOT, NetworkSpec, SanlockSpec, VmSpec

        self.form = form = Form()
        v = self.values
        bridges, nics = bridge_options(self.ctx.facts)

        def field(name: str, value: str, **kwargs: Any) -> Field:
            return form.add(Field(name, FIELDS[name][0], str(v.get(name, value)), **kwargs))

        def choice(name: str, options: list[tuple[str, str]], value: str) -> Choice:
            return form.add(Choice(name, FIELDS[name][0], options or [("", "none found")], v.get(name, value)))

        vm, net = VmSpec(), NetworkSpec()
        rows: list[urwid.Widget] = [
            title("Hosted Engine"),
            urwid.Text("Not deployed on this host. Deploy the engine as a VM on the Gluster engine volume:"),
            urwid.Divider(), title("Engine"),
            field("fqdn", "", hint="e.g. engine.example.com; resolves to the engine IP"),
            form.add(Field("password", FIELDS["password"][0], "", mask="*",
                           hint="the engine's admin; empty: the file below as it is")),
            form.add(Field("confirm", FIELDS["confirm"][0], "", mask="*")),
            field("password_file", self.he.default_password_file(), hint="the password is written here, 0600"),
            field("ssh_key", "", hint="root's key on the engine VM (optional)"),
            urwid.Divider(), title("Engine network"),
            choice("mode", [("static", "static"), ("dhcp", "DHCP (give the MAC)")], v.get("mode", net.mode)),
            field("ip", ""), field("prefix", str(net.prefix)), field("gateway", ""),
            field("dns", "", hint="space separated"),
            field("mac", "", hint="empty: derived from the FQDN"),
            form.add(Toggle("hosts", FIELDS["hosts"][0], bool(v.get("hosts", False)))),
            urwid.Padding(urwid.Text(("dim", "FQDN -> IP into /etc/hosts (where DNS has no entry)")), left=20),
            urwid.Divider(), title("Engine VM"),
            field("memory", str(vm.memory_mib)), field("vcpus", str(vm.vcpus)), field("disk", str(vm.disk_gib)),
            field("appliance", DEFAULT_APPLIANCE, hint="a .qcow2 path, or an https:// URL (then the sha256)"),
            field("sha256", ""),
            urwid.Divider(), title("Engine volume"),
            field("server", "", hint="the Gluster server of the volume"),
            field("volume", "engine"), field("backup", "", hint="the volume's other servers, space separated"),
            field("mount_root", DEFAULT_MOUNT_ROOT),
            urwid.Divider(), title("Management bridge"),
            choice("bridge", bridges, bridges[0][0]),
            choice("nic", nics, next((n for n, text in nics if "," in text), nics[0][0] if nics else "")),
            field("vlan", "", hint="empty: no VLAN"),
            field("io_timeout", str(SanlockSpec().io_timeout), hint="seconds (sanlock's default 10)"),
            urwid.Divider(), title("Preflight"),
        ]
        if not self.report_box.contents:
            self._report_lines([("dim", "F10 checks the form, then this host (read-only), then shows the plan.")])
        rows += [self.report_box, urwid.Divider(), button_row([("Preflight and deploy (F10)", self.on_apply)])]
        return rows

    # --- F10: form -> spec -> preflight -> plan ---------------------------------------------------------
    def spec_data(self, values: dict[str, Any], report: ValidationReport) -> dict[str, Any]:
        """The spec as YAML data from the form; what is not even a number goes to `report`."""
        def words(name: str) -> list[str]:
            return str(values[name]).replace(",", " ").split()

        numbers: dict[str, int] = {}
        for name in NUMBERS + ("vlan",):
            text = str(values[name]).strip()
            if text.isdigit():
                numbers[name] = int(text)
            elif text or name != "vlan":
                report.error(FIELDS[name][1], f"{text!r} is not a number" if text else "missing")
        fqdn, mode = str(values["fqdn"]).strip(), values["mode"]
        network: dict[str, Any] = {"mode": mode, "dns": words("dns")}
        if mode == "static":
            network.update(ip=str(values["ip"]).strip(), gateway=str(values["gateway"]).strip())
            if "prefix" in numbers:
                network["prefix"] = numbers["prefix"]
        if str(values["mac"]).strip():
            network["mac"] = str(values["mac"]).strip()
        engine: dict[str, Any] = {"fqdn": fqdn, "admin_password_file": str(values["password_file"]).strip()}
        if str(values["ssh_key"]).strip():
            engine["root_ssh_key"] = str(values["ssh_key"]).strip()
        if values["hosts"] and mode == "static":
            engine["hosts"] = {fqdn: network["ip"]}
        source = str(values["appliance"]).strip()
        appliance = {"url": source} if source.startswith(("http://", "https://")) else {"path": source}
        if str(values["sha256"]).strip():
            appliance["sha256"] = str(values["sha256"]).strip()
        vm = {key: numbers[name] for key, name in (("memory_mib", "memory"), ("vcpus", "vcpus"), ("disk_gib", "disk"))
              if name in numbers}
        data: dict[str, Any] = {
            "engine": engine, "network": network, "vm": vm, "appliance": appliance,
            "storage": {"server": str(values["server"]).strip(), "volume": str(values["volume"]).strip(),
                        "backup_servers": words("backup"), "mount_root": str(values["mount_root"]).strip()},
            "bridge": {"name": values["bridge"], "nic": values["nic"], **({"vlan": numbers["vlan"]}
                                                                         if "vlan" in numbers else {})},
        }
        if "io_timeout" in numbers:
            data["sanlock"] = {"io_timeout": numbers["io_timeout"]}
        return data

    def check_password(self, values: dict[str, Any], report: ValidationReport) -> Secret | None:
        """The typed password as a Secret (None: none typed, the file is used as it is)."""
        if not values["password"]:
            if values["confirm"]:
                report.error("engine.admin_password_file", "type the password in both fields")
            return None
        password = Secret(values["password"])
        problem = self.he.password_problem(password)
        if problem:
            report.error("engine.admin_password_file", problem)
        elif values["password"] != values["confirm"]:
            report.error("confirm", "the two passwords differ")
        return password

    def _report_lines(self, lines: list[tuple[str, str]]) -> None:
        self.report_box.contents[:] = [(urwid.Text(line), self.report_box.options()) for line in lines]

    def report_text(self) -> list[str]:
        """The Preflight section's lines as shown."""
        return [str(w.text) for w, _ in self.report_box.contents]

    def show(self, report: ValidationReport, heading: str) -> None:
        """Every problem under its field, and all of them (with their labels) under Preflight."""
        order = list(FIELDS)

        def where(p: Problem) -> int:  # in the order of the form, what belongs to no field last
            name = next((FIELD_MAP[k] for k in sorted(FIELD_MAP, key=len, reverse=True)
                         if p.field == k or p.field.startswith((k + ".", k + "["))), "")
            return order.index(name) if name else len(order)

        problems = sorted(report.errors, key=where) + sorted(report.warnings, key=where)
        self._report_lines([("value" if report.ok else "error", heading)]
                           + [("error" if p.severity == "error" else "warning", problem_line(p)) for p in problems])
        self.form.show_report(ValidationReport(problems=list(report.errors)), FIELD_MAP)
        self.form.messages.contents[:] = []  # the Preflight section lists them, with their labels
        self._focus_first_error()

    def _focus_first_error(self) -> None:
        """Put the cursor on the first field with a problem (the form is taller than the screen)."""
        listbox = getattr(self.widget, "listbox", None)
        if listbox is None:
            return
        for i, w in enumerate(listbox.body):
            if isinstance(w, Field) and w.error:
                listbox.set_focus(i)
                return

    def on_apply(self) -> None:
        if self.view is not None:
            return
        values = self.form.values()
        report = ValidationReport(SOURCE)
        password = self.check_password(values, report)
        data = self.spec_data(values, report)
        spec, spec_report = self.he.parse(data)
        report.extend(spec_report)
        if not report.ok or spec is None:
            self.show(report, "The form has problems (nothing was checked on this host):")
            return
        checking = dialogs.Dialog("Preflight", urwid.Filler(urwid.Text(
            f"Checking this host for {spec.engine.fqdn} (read-only): names, addresses, the volume, libvirt, "
            "sanlock, memory, the appliance ..."), valign="top"), [], width=60, height=7)
        self.app.open_dialog(checking)

        def done(result: tuple[ValidationReport, Plan]) -> None:
            self.app.remove_dialog(checking)
            preflight, plan = result
            if password is not None:
                # the password is checked above; the file it goes to is written only when the plan runs
                preflight = ValidationReport(preflight.source, problems=[
                    p for p in preflight if p.field != "engine.admin_password_file"])
            preflight.extend(ValidationReport(problems=list(report.warnings)))
            if not preflight.ok:
                self.show(preflight, "Preflight found problems (nothing was changed):")
                return
            self.show(preflight, "Preflight passed.")
            self.confirm(spec, preflight, plan, password)

        def failed(exc: BaseException) -> None:
            self.app.remove_dialog(checking)
            self.app.show_error("Preflight failed", exc)

        self.ctx.worker.submit(lambda _report: self.he.prepare(spec), on_done=done, on_error=failed,
                               name="hosted-engine-preflight")

    def confirm(self, spec: Any, report: ValidationReport, plan: Plan, password: Secret | None) -> None:
        def execute(progress: Callable[[Any], None]) -> Any:
            if password is not None:
                self.he.write_password(spec.engine.admin_password_file, password)
            return self.he.deploy(spec, report, plan, progress)

        def finished(_result: Any) -> None:
            self.report_box.contents[:] = []
            self.app.show_message("Hosted engine deployed", [
                f"The engine {spec.engine.fqdn} is healthy and this host is enrolled.",
                "The HA agent keeps the engine VM running; this page shows its status."])
            self.on_show()

        question = (f"Deploy the hosted engine {spec.engine.fqdn} on {spec.volume_source}?\n"
                    "This takes a while (the engine's first boot); a stopped deploy resumes on the next run.")
        self.app.apply_plan(plan, question=question, changes=self.he.change_summary(plan, spec),
                            execute=execute, on_done=finished, journal_name="hosted-engine")

    def unapplied(self) -> str:
        if self.view is None and str(self.form.values().get("fqdn", "")).strip():
            return "the hosted-engine form (not deployed)"
        return ""

