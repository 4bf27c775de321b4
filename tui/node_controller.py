"""Controller of the installed-node pages: the node's settings as a `node_setup.NodeConfig`.

Pages edit a copy of the current NodeConfig (network devices, DNS, hostname, NTP, time zone,
keyboard, admin password, SSH); `plan(desired)` asks node_setup for the plan from the current
settings to the desired ones, which the console shows (--dry-run, confirm dialog) and applies.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from nodecore.facts import HostFacts
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner


def config_from_facts(facts: HostFacts, live: Sequence[Any] = ()) -> Any:
    """A NodeConfig describing what the node has now: each physical NIC with its addresses.

    The starting point of the Network page when node_setup has no saved config for this node (a
    freshly installed node, or one set up by hand). With NetworkManager's view (`live`:
    node_setup.nm.LiveDevice), each NIC takes its active profile's method, addresses, gateway and
    routes, and DNS the profiles' servers, so an edit saved from here keeps the gateway and DNS the
    node has. Without it a NIC with an address is shown as static with it (DHCP cannot be told).
    """
    from node_setup import Dns, Interface, IPv4, IPv6, NetworkConfig, NodeConfig

    by_name = {d.name: d for d in live}
    interfaces = []
    for nic in facts.nics:
        if nic.virtual:
            continue
        v4 = tuple(a for a in nic.addresses if ipaddress.ip_interface(a).version == 4)
        v6 = tuple(a for a in nic.addresses if ipaddress.ip_interface(a).version == 6)
        now = by_name.get(nic.name)
        ipv4 = now.profile_ipv4 if now is not None and now.profile_ipv4 else (IPv4("static", v4) if v4 else IPv4())
        ipv6 = now.profile_ipv6 if now is not None and now.profile_ipv6 else (IPv6("static", v6) if v6 else IPv6())
        interfaces.append(Interface(name=nic.name, mac=nic.mac, ipv4=ipv4, ipv6=ipv6))
    profiles = [d.profile_dns for d in live if d.profile_dns is not None]
    dns = Dns(servers=tuple(dict.fromkeys(s for p in profiles for s in p.servers)),
              search=tuple(dict.fromkeys(s for p in profiles for s in p.search)))
    return NodeConfig(hostname=facts.hostname, network=NetworkConfig(interfaces=tuple(interfaces), dns=dns))


def management_devices(config: Any, facts: HostFacts) -> set[str]:
    """The devices this node is most likely reached through: the ones with a gateway (or, with no
    gateway anywhere, the first NIC with an address), plus everything they are built on."""
    net = config.network
    devices = {d.name: d for d in net.devices()}
    found = {name for name, d in devices.items() if d.ipv4.gateway or d.ipv6.gateway}
    if not found:
        first = next((n.name for n in facts.nics if not n.virtual and n.addresses), "")
        found = {first} if first in devices else set()
    todo = list(found)
    while todo:  # a VLAN's parent, a bond's slaves and a bridge's ports carry the same traffic
        dev = devices.get(todo.pop())
        below = [getattr(dev, "parent", ""), *getattr(dev, "slaves", ()), *getattr(dev, "ports", ())]
        for name in below:
            if name and name not in found:
                found.add(name)
                todo.append(name)
    return found


class NodeController:
    """Holds the current and the edited (desired) NodeConfig of this node.

    `live`: plan against what NetworkManager has now and apply through node_setup (the real
    console); otherwise plan purely against `current` (captured facts, tests, demos).
    """

    def __init__(self, facts: HostFacts, current: Any = None, live: bool = False, dry_run: bool = True,
                 live_network: Sequence[Any] | None = None, system: Any = None) -> None:
        self.facts = facts
        self.live = live
        self.dry_run = dry_run
        # NetworkManager's view of every device (node_setup.nm.LiveDevice); None: not readable
        self.live_network = list(live_network) if live_network is not None else None
        if current is None and live:
            from node_setup.apply import confirmed_config

            current = confirmed_config()
        self.current = current if current is not None else config_from_facts(facts, self.live_network or ())
        # what the system has now (time zone, NTP, keyboard; node_setup.identity.read_time_keyboard):
        # shown, and the starting point where no saved setting says otherwise
        self.system = system
        if system is not None:
            self.current = replace(self.current, timezone=self.current.timezone or system.timezone,
                                   ntp_servers=self.current.ntp_servers or system.ntp_servers,
                                   keyboard=self.current.keyboard or system.keyboard)
        self.desired = self.current

    def update(self, **changes: Any) -> None:
        self.desired = replace(self.desired, **changes)

    def validate(self, config: Any = None) -> ValidationReport:
        from node_setup import validate

        return validate(config if config is not None else self.desired)

    def network_change(self) -> Any:
        """What the Network page applies: the network plus the hostname."""
        return self.desired

    def identity_change(self) -> Any:
        """What identity pages apply: the settings without the network (never touched by them)."""
        from node_setup import NetworkConfig

        return replace(self.desired, network=NetworkConfig())

    def plan(self, desired: Any, only: tuple[str, ...], rollback_timeout: int = 120) -> Plan:
        if self.live:
            from node_setup.apply import plan_for

            # plan_for warns on stderr when NetworkManager is absent (a dry run on a workstation);
            # the screen belongs to the console, so the warning goes to the log instead
            with contextlib.redirect_stderr(io.StringIO()):
                return plan_for(desired, rollback_timeout=rollback_timeout, only=only, offline_ok=self.dry_run)
        from node_setup import plan_apply

        return plan_apply(self.current, desired, rollback_timeout=rollback_timeout, only=only)

    def apply(self, desired: Any, plan: Plan, only: tuple[str, ...], rollback_timeout: int,
              progress: Callable[[Any], None]) -> Any:
        """Run in the background: node_setup applies; a network change then waits for confirm()."""
        from node_setup.apply import apply

        return apply(desired, plan=plan, only=only, rollback_timeout=rollback_timeout, progress=progress,
                     runner=LocalRunner())

    def confirm(self) -> list[str]:
        from node_setup.apply import confirm

        return confirm()

    def rollback(self) -> None:
        from node_setup.apply import rollback

        rollback()

    def dirty(self) -> bool:
        return bool(self.desired != self.current)

    def applied(self, concerns: tuple[str, ...] = ()) -> None:
        """The applied part of desired is now current (after a confirmed apply)."""
        for name in _fields(concerns):
            self.current = replace(self.current, **{name: getattr(self.desired, name)})

    def reset(self, concerns: tuple[str, ...] = ()) -> None:
        """Forget edits (of some concerns only): what the page shows is the node's settings again."""
        if not concerns:
            self.desired = self.current
            return
        for name in _fields(concerns):
            self.desired = replace(self.desired, **{name: getattr(self.current, name)})


# node_setup's concerns -> the NodeConfig fields each one owns
CONCERN_FIELDS = {"network": ("network", "hostname"), "hostname": ("hostname",), "ntp": ("ntp_servers",),
                  "timezone": ("timezone",), "keyboard": ("keyboard",), "ssh": ("ssh",),
                  "password": ("admin_password",), "syslog": ("syslog",)}


def _fields(concerns: tuple[str, ...]) -> list[str]:
    return sorted({name for c in concerns for name in CONCERN_FIELDS.get(c, ())})

ROLLBACK_SECONDS = 60  # the console's countdown; NetworkManager's own timer is twice that


def apply_settings(app: Any, node: NodeController, desired: Any, only: tuple[str, ...], what: str,
                   network: bool = False) -> None:
    """Validate, show the plan (dry run) or confirm and apply it; a network change then asks
    "Keep these settings?" with a countdown and rolls back unless kept."""
    from tui import dialogs

    report = node.validate(desired)
    if not report.ok:
        from tui.labels import device_names, report_lines

        app.show_message("The settings are not valid", report_lines(report, device_names(desired.network)))
        return
    plan = node.plan(desired, only, rollback_timeout=ROLLBACK_SECONDS * 2)
    if not plan.steps:
        app.show_message(what, "Nothing to apply: the node already has these settings.")
        return
    concerns = only + (("network",) if network else ())

    def execute(report_progress: Callable[[Any], None]) -> Any:
        return node.apply(desired, plan, only, ROLLBACK_SECONDS * 2, report_progress)

    def finished(outcome: Any) -> None:
        status = outcome.status
        if not getattr(status, "pending", False):
            node.applied(concerns)
            app.show_message(what, "Applied.")
            return
        seconds = int(min(ROLLBACK_SECONDS, max(5, getattr(status, "seconds_remaining", ROLLBACK_SECONDS) - 5)))

        def keep() -> None:
            app.close_dialog()

            def kept(_saved: Any) -> None:
                node.applied(concerns)
                app.show_message(what, "Kept and saved.")
            app.ctx.worker.submit(lambda _r: node.confirm(), on_done=kept, name="network-confirm")

        def revert() -> None:
            app.close_dialog()

            def reverted(_none: Any) -> None:
                node.reset(concerns)
                app.show_message(what, "Rolled back: the previous settings are active again.")
            app.ctx.worker.submit(lambda _r: node.rollback(), on_done=reverted, name="network-rollback")

        app.open_dialog(dialogs.CountdownDialog(
            "The new network settings are active. If you can still reach this node, keep them.",
            seconds, keep, revert))

    from node_setup.plan import change_summary

    app.apply_plan(plan, question=f"Apply {what}?", changes=change_summary(plan, desired), execute=execute,
                   on_done=finished)
