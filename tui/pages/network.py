"""Network: the NIC table, the configured devices (NICs, bonds, VLANs, bridges), DNS; apply with
the plan shown first and the "Keep these settings?" countdown after it.

Every edit is validated with node_setup's rules for the whole config, and each problem is shown
under the field it belongs to (node_setup reports paths like `network.vlans[0].ipv4.addresses`).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import replace
from typing import Any

import urwid

from nodecore.report import ValidationReport
from tui import dialogs
from tui.framework import Page, register
from tui.labels import device_names
from tui.node_controller import NodeController, apply_settings, management_devices
from tui.pages import scroll
from tui.widgets import Choice, Field, Form, button, button_row, kv, table, title

KINDS = {"interfaces": "NIC", "bonds": "bond", "vlans": "VLAN", "bridges": "bridge"}
BOND_MODES = [("active-backup", "active-backup"), ("802.3ad", "802.3ad (LACP)"), ("balance-xor", "balance-xor")]


def node_controller(page: Page) -> NodeController:
    ctx = page.ctx
    return page.app.shared(
        "node", lambda: NodeController(ctx.facts, live=ctx.live, dry_run=ctx.dry_run,
                                       live_network=ctx.services.live_network(),
                                       system=ctx.services.time_keyboard()))


def describe(dev: Any) -> str:
    parts = []
    if hasattr(dev, "slaves"):
        parts.append(f"{dev.mode} of {'+'.join(dev.slaves) or '-'}")
    if hasattr(dev, "parent"):
        parts.append(f"id {dev.id} on {dev.parent}")
    if hasattr(dev, "ports"):
        parts.append(f"ports {'+'.join(dev.ports) or '-'}")
    for fam in (dev.ipv4, dev.ipv6):
        if fam.method == "static":
            parts.append(" ".join(fam.addresses) + (f" gw {fam.gateway}" if fam.gateway else ""))
        elif fam.method != "disabled":
            parts.append(f"{'v6 ' if fam is dev.ipv6 else ''}{fam.method}")
    return ", ".join(parts) or "no address"


def live_rows(live: list[Any] | None, names: set[str] | None = None) -> list[urwid.Widget]:
    """Gateway, DNS and routes as NetworkManager has them now (of the devices in `names`, or all)."""
    if live is None:
        return [kv("Gateway", "not read (no NetworkManager here, or captured facts)", "dim")]
    devices = [d for d in live if names is None or d.name in names]
    gateways = [f"{g} on {d.name}" for d in devices for g in (d.ipv4_gateway, d.ipv6_gateway) if g]
    dns = list(dict.fromkeys(s for d in devices for s in d.dns))
    search = list(dict.fromkeys(s for d in devices for s in d.dns_search))
    routes = [f"{r.to}{f' via {r.via}' if r.via else ''} on {d.name}" for d in devices for r in d.routes]
    return [kv("Gateway", ", ".join(gateways) or "none"),
            kv("DNS", " ".join(dns) + (f"; search {' '.join(search)}" if search else "") or "none"),
            kv("Routes", "\n".join(routes) or "none besides the gateway")]


@register
class NetworkPage(Page):
    name = "Network"
    rank = 20
    hotkey = "n"
    apply_label = "Apply"
    keys = (("B", "Bond"), ("V", "VLAN"), ("D", "DNS"))
    letters = {"a": "interfaces", "b": "bonds", "v": "vlans", "r": "bridges"}

    @property
    def node(self) -> NodeController:
        return node_controller(self)

    def model(self) -> dict[str, Any]:
        return {"desired": self.node.desired, "dirty": self.node.dirty()}

    def content(self) -> urwid.Widget:
        f = self.ctx.facts
        body: list[urwid.Widget] = [title("Network interfaces")]
        body += table(["Name", "Link", "Speed", "MAC", "Driver"], [], [11, 6, 6, 19])
        for n in f.nics:
            speed = f"{n.speed_mbps // 1000}G" if n.speed_mbps and n.speed_mbps >= 1000 else (
                f"{n.speed_mbps}M" if n.speed_mbps else "-")
            body += table([], [[n.name, "up" if n.link else "down", speed, n.mac, n.driver or "-"]], [11, 6, 6, 19])[1:]
            if n.addresses:
                body.append(urwid.Padding(urwid.Text(("dim", " ".join(n.addresses))), left=11))
        body += [urwid.Divider(), title("In NetworkManager now"), *live_rows(self.node.live_network)]
        body += [urwid.Divider(), title("Configuration" + ("  (changed, not applied: F10)"
                                                            if self.node.dirty() else ""))]
        net = self.node.desired.network
        for kind in KINDS:
            for i, dev in enumerate(getattr(net, kind)):
                label = f"{dev.name:<11}{KINDS[kind]:<7}{describe(dev)}"
                body.append(button(label, functools.partial(self.edit, kind, i)))
        dns = net.dns
        body.append(button(f"{'Hostname':<18}{self.node.desired.hostname or '-'}", self.edit_dns))
        body.append(button(f"{'DNS':<18}{' '.join(dns.servers) or 'no servers'}"
                           + (f"; search {' '.join(dns.search)}" if dns.search else ""), self.edit_dns))
        body += [urwid.Divider(),
                 button_row([("Add NIC (A)", lambda: self.edit("interfaces", None)),
                             ("Create bond (B)", lambda: self.edit("bonds", None)),
                             ("Add VLAN (V)", lambda: self.edit("vlans", None)),
                             ("Add bridge (R)", lambda: self.edit("bridges", None))]),
                 button_row([("Apply (F10)", self.on_apply), ("Discard changes", self.discard)])]
        return scroll(body)

    def on_show(self) -> None:
        if self._widget is not None:  # shown before (F5, or back from another page): read NetworkManager again
            self.node.live_network = self.ctx.services.live_network()
            self._widget = None

    def handle_key(self, key: str) -> str | None:
        if key.lower() in self.letters:
            self.edit(self.letters[key.lower()], None)
            return None
        if key.lower() == "d":
            self.edit_dns()
            return None
        return key

    def unapplied(self) -> str:
        node = self.node
        changed = [what for what, name in (("network", "network"), ("hostname", "hostname"))
                   if getattr(node.desired, name) != getattr(node.current, name)]
        return " and ".join(changed) + " settings" if changed else ""

    def discard(self) -> None:
        if not self.node.dirty():
            return

        def really() -> None:
            self.app.close_dialog()
            self.node.reset()
            self.invalidate()

        self.app.open_dialog(dialogs.confirm(
            "Discard changes?", "Forget the changes made on this page since the last apply?",
            really, self.app.close_dialog, yes="Discard", no="Keep editing", default_no=True))

    def edit(self, kind: str, index: int | None) -> None:
        self.app.open_dialog(DeviceEditor(self, kind, index))

    def edit_dns(self) -> None:
        self.app.open_dialog(DnsEditor(self))

    def saved(self) -> None:
        self.app.close_dialog()
        self.invalidate()

    def on_apply(self) -> None:
        if not self.node.dirty():
            self.app.show_message("Network", "Nothing to apply: the settings are unchanged.")
            return
        apply_settings(self.app, self.node, self.node.network_change(), ("hostname",), "the network settings",
                       network=True)


class _FormDialog(dialogs.Dialog):
    def __init__(self, title_text: str, widgets: list[urwid.Widget], buttons: list[tuple[str, Any]],
                 on_escape: Any, height: int = -4) -> None:
        self.listbox = scroll(widgets)
        super().__init__(title_text, self.listbox, buttons, width=68, height=height, on_escape=on_escape)
        self.pile.focus_position = 0  # start on the first field


class DeviceEditor(_FormDialog):
    """Add or edit one device; OK validates the whole config with node_setup's rules."""

    def __init__(self, page: NetworkPage, kind: str, index: int | None) -> None:
        self.page, self.kind, self.index = page, kind, index
        node = page.node
        net = node.desired.network
        self.devices = list(getattr(net, kind))
        self.path_index = index if index is not None else len(self.devices)
        dev = self.devices[index] if index is not None else None
        self.form = form = Form()
        nic_names = [n.name for n in page.ctx.facts.nics if not n.virtual]
        widgets: list[urwid.Widget] = []
        if kind == "interfaces":
            configured = {d.name for d in net.interfaces}
            options = [(n, n) for n in nic_names if dev is not None and n == dev.name or n not in configured]
            widgets.append(form.add(Choice("name", "NIC", options or [("", "all NICs are configured")],
                                           dev.name if dev else (options[0][0] if options else ""))))
        elif kind == "bonds":
            widgets.append(form.add(Field("name", "Name", dev.name if dev else self._free_name("bond"))))
            self.slave_boxes = {n: urwid.CheckBox(n, dev is not None and n in dev.slaves) for n in nic_names}
            widgets.append(urwid.Columns([(20, urwid.Text(("label", "Slaves"))),
                                          urwid.Pile([urwid.AttrMap(b, None, "button_focus")
                                                      for b in self.slave_boxes.values()])]))
            widgets.append(form.add(Choice("mode", "Mode", BOND_MODES, dev.mode if dev else "active-backup")))
        elif kind == "vlans":
            slaves = {s for b in net.bonds for s in b.slaves}
            parents = [(d.name, d.name) for d in (*net.interfaces, *net.bonds) if d.name not in slaves]
            widgets.append(form.add(Choice("parent", "Parent", parents or [("", "add a NIC or bond first")],
                                           dev.parent if dev else (parents[0][0] if parents else ""))))
            widgets.append(form.add(Field("id", "VLAN id", str(dev.id) if dev else "", hint="1-4094")))
        elif kind == "bridges":
            widgets.append(form.add(Field("name", "Name", dev.name if dev else "ovirtmgmt")))
            names = [d.name for d in (*net.interfaces, *net.bonds, *net.vlans)]
            self.port_boxes = {n: urwid.CheckBox(n, dev is not None and n in dev.ports) for n in names}
            widgets.append(urwid.Columns([(20, urwid.Text(("label", "Ports"))),
                                          urwid.Pile([urwid.AttrMap(b, None, "button_focus")
                                                      for b in self.port_boxes.values()] or [urwid.Text("-")])]))
        v4, v6 = (dev.ipv4, dev.ipv6) if dev else (None, None)
        widgets += [
            form.add(Choice("ipv4", "IPv4", [("disabled", "none"), ("dhcp", "DHCP"), ("static", "static")],
                            v4.method if v4 else ("disabled" if kind == "bonds" else "static"))),
            form.add(Field("address", "IPv4 address", " ".join(v4.addresses) if v4 else "",
                           hint="CIDR, e.g. 192.0.2.10/24")),
            form.add(Field("gateway", "IPv4 gateway", v4.gateway if v4 else "")),
            form.add(Choice("ipv6", "IPv6", [("disabled", "none"), ("auto", "auto (SLAAC)"), ("dhcp", "DHCPv6"),
                                             ("static", "static")], v6.method if v6 else "disabled")),
            form.add(Field("address6", "IPv6 address", " ".join(v6.addresses) if v6 else "")),
            form.add(Field("gateway6", "IPv6 gateway", v6.gateway if v6 else "")),
            form.add(Field("mtu", "MTU", str(dev.mtu) if dev and dev.mtu else "", hint="empty: default")),
            form.messages,
        ]
        buttons: list[tuple[str, Any]] = [("OK", self.ok)]
        if dev is not None:
            buttons.append(("Remove", self.remove))
        buttons.append(("Cancel", page.app.close_dialog))
        verb = "Edit" if dev else {"interfaces": "Add", "bonds": "Create", "vlans": "Add", "bridges": "Add"}[kind]
        super().__init__(f"{verb} {KINDS[kind]}", widgets, buttons, page.app.close_dialog)

    def _free_name(self, prefix: str) -> str:
        taken = {d.name for d in self.page.node.desired.network.devices()}
        return next(f"{prefix}{i}" for i in range(100) if f"{prefix}{i}" not in taken)

    def build(self, v: dict[str, Any], report: ValidationReport) -> Any:
        """The device from the form; problems the model cannot even hold go straight to the report."""
        from node_setup import Bond, Bridge, Interface, IPv4, IPv6, Vlan

        def ints(name: str, default: int = 0) -> int:
            text = str(v.get(name, "")).strip()
            if not text:
                return default
            if not text.isdigit():
                report.error(name, f"{text!r} is not a number")
                return default
            return int(text)

        def addresses(name: str, version: int) -> tuple[str, ...]:
            out = []
            for item in str(v[name]).replace(",", " ").split():
                try:
                    iface = ipaddress.ip_interface(item)
                except ValueError:
                    report.error(name, f"{item!r} is not an IPv{version} address with a prefix")
                    continue
                if iface.version != version or "/" not in item:
                    report.error(name, f"{item!r} is not an IPv{version} address with a prefix "
                                 f"(e.g. {'192.0.2.10/24' if version == 4 else '2001:db8::10/64'})")
                    continue
                out.append(item)
            return tuple(out)

        # the device as it was, with only what this form shows replaced: what the form does not show
        # (routes, bond options and miimon, STP, the MAC of a renamed NIC) is kept, never dropped
        old = self.devices[self.index] if self.index is not None else None
        old4, old6 = (old.ipv4, old.ipv6) if old is not None else (IPv4(), IPv6())
        ipv4 = replace(old4, method=v["ipv4"], addresses=addresses("address", 4) if v["ipv4"] == "static" else (),
                       gateway=v["gateway"].strip() if v["ipv4"] == "static" else "")
        ipv6 = replace(old6, method=v["ipv6"], addresses=addresses("address6", 6) if v["ipv6"] == "static" else (),
                       gateway=v["gateway6"].strip() if v["ipv6"] == "static" else "")
        shown: dict[str, Any] = {"mtu": ints("mtu"), "ipv4": ipv4, "ipv6": ipv6}
        if self.kind == "interfaces":
            nic = self.page.ctx.facts.nic(v["name"])
            mac = nic.mac if nic else (old.mac if old is not None and old.name == v["name"] else "")
            return replace(old or Interface(name=v["name"]), name=v["name"], mac=mac, **shown)
        if self.kind == "bonds":
            slaves = tuple(n for n, b in self.slave_boxes.items() if b.state)
            return replace(old or Bond(name=""), name=v["name"].strip(), slaves=slaves, mode=v["mode"], **shown)
        if self.kind == "vlans":
            vid = ints("id")
            if not str(v["id"]).strip():
                report.error("id", "a VLAN id is required")
            return replace(old or Vlan(name="", parent="", id=0), name=f"{v['parent']}.{vid}", parent=v["parent"],
                           id=vid, **shown)
        ports = tuple(n for n, b in self.port_boxes.items() if b.state)
        return replace(old or Bridge(name=""), name=v["name"].strip(), ports=ports, **shown)

    def network_with(self, dev: Any | None) -> Any:
        """The whole network with this device put in (or removed); bond slaves and bridge ports
        become plain ports (no address of their own), added as NICs when they were not listed."""
        from node_setup import Interface, IPv4, IPv6

        net = self.page.node.desired.network
        devices = list(self.devices)
        if dev is None:
            del devices[self.path_index]
        elif self.index is None:
            devices.append(dev)
        else:
            devices[self.index] = dev
        net = replace(net, **{self.kind: tuple(devices)})
        members = tuple(getattr(dev, "slaves", ())) + tuple(getattr(dev, "ports", ())) if dev else ()
        if members:
            nics = list(net.interfaces)
            for name in members:
                found = [i for i, d in enumerate(nics) if d.name == name]
                if found:
                    nics[found[0]] = replace(nics[found[0]], ipv4=IPv4(), ipv6=IPv6())
                elif self.page.ctx.facts.nic(name) is not None:
                    nics.append(Interface(name=name, mac=self.page.ctx.facts.nic(name).mac))  # type: ignore[union-attr]
            net = replace(net, interfaces=tuple(nics))
            for kind in ("bonds", "vlans"):
                if kind != self.kind:
                    net = replace(net, **{kind: tuple(replace(d, ipv4=IPv4(), ipv6=IPv6()) if d.name in members
                                                      else d for d in getattr(net, kind))})
        return net

    def field_map(self) -> dict[str, str]:
        base = f"network.{self.kind}[{self.path_index}]"
        return {f"{base}.ipv4.addresses": "address", f"{base}.ipv4.gateway": "gateway",
                f"{base}.ipv4": "ipv4", f"{base}.ipv6.addresses": "address6", f"{base}.ipv6.gateway": "gateway6",
                f"{base}.ipv6": "ipv6", f"{base}.mtu": "mtu", f"{base}.id": "id", f"{base}.parent": "parent",
                f"{base}.name": "name", f"{base}.mode": "mode", f"{base}.mac": "name"}

    def ok(self) -> None:
        report = ValidationReport()
        dev = self.build(self.form.values(), report)
        if report.ok:
            node = self.page.node
            candidate = replace(node.desired, network=self.network_with(dev))
            full = node.validate(candidate)
            # problems of other devices that existed before this edit are not this form's business
            report.extend(ValidationReport(problems=[p for p in full.errors]))
        self.form.show_report(report, self.field_map(), device_names(self.page.node.desired.network))
        if report.ok:
            self.page.node.update(network=self.network_with(dev))
            self.page.saved()

    def remove(self) -> None:
        node, app = self.page.node, self.page.app
        name = self.devices[self.path_index].name

        def really() -> None:
            if app.dialogs and app.dialogs[-1] is not self:
                app.close_dialog()  # the question
            node.update(network=self.network_with(None))
            self.page.saved()

        if name not in management_devices(node.current, self.page.ctx.facts):
            really()
            return
        app.open_dialog(dialogs.confirm(
            "Remove the management interface?",
            [f"{name} carries this node's management network (its gateway or address).",
             "After applying, the node may no longer be reachable over the network.", "",
             f"Remove {name} anyway?"],
            really, app.close_dialog, yes="Remove", no="Keep it", default_no=True))


class DnsEditor(_FormDialog):
    def __init__(self, page: NetworkPage) -> None:
        self.page = page
        dns = page.node.desired.network.dns
        self.form = Form()
        widgets = [self.form.add(Field("hostname", "Hostname", page.node.desired.hostname)),
                   self.form.add(Field("servers", "DNS servers", " ".join(dns.servers), hint="space separated")),
                   self.form.add(Field("search", "Search domains", " ".join(dns.search))), self.form.messages]
        super().__init__("Hostname and DNS", widgets, [("OK", self.ok), ("Cancel", page.app.close_dialog)],
                         page.app.close_dialog, height=12)

    def ok(self) -> None:
        v = self.form.values()
        node = self.page.node
        dns = replace(node.desired.network.dns, servers=tuple(v["servers"].replace(",", " ").split()),
                      search=tuple(v["search"].split()))
        candidate = replace(node.desired, hostname=v["hostname"].strip(),
                            network=replace(node.desired.network, dns=dns))
        report = node.validate(candidate)
        self.form.show_report(report, {"network.dns.servers": "servers", "network.dns.search": "search",
                                       "hostname": "hostname"})
        if report.ok:
            node.update(network=candidate.network, hostname=candidate.hostname)
            self.page.saved()
