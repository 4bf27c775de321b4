"""Controller of the installed-node pages: the node's settings as a `node_setup.NodeConfig`.

Pages edit a copy of the current NodeConfig (network devices, DNS, hostname, NTP, time zone,
keyboard, admin password, SSH); `plan(desired)` asks node_setup for the plan from the current
settings to the desired ones, which the console shows (--dry-run, confirm dialog) and applies.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from nodecore.facts import HostFacts
from nodecore.plan import Plan
from nodecore.report import ValidationReport


def config_from_facts(facts: HostFacts) -> Any:
    """A NodeConfig describing what the kernel shows now: each physical NIC with its addresses.

    The starting point of the Network page when node_setup has no saved config for this node.
    It cannot know DHCP from static, so NICs with an address are shown as static with it.
    """
    from node_setup import Interface, IPv4, IPv6, NetworkConfig, NodeConfig

    interfaces = []
    for nic in facts.nics:
        if nic.virtual:
            continue
        v4 = tuple(a for a in nic.addresses if ipaddress.ip_interface(a).version == 4)
        v6 = tuple(a for a in nic.addresses if ipaddress.ip_interface(a).version == 6)
        interfaces.append(Interface(name=nic.name, mac=nic.mac,
                                    ipv4=IPv4("static", v4) if v4 else IPv4(),
                                    ipv6=IPv6("static", v6) if v6 else IPv6()))
    return NodeConfig(hostname=facts.hostname, network=NetworkConfig(interfaces=tuple(interfaces)))


class NodeController:
    """Holds the current and the edited (desired) NodeConfig of this node."""

    def __init__(self, facts: HostFacts, current: Any = None) -> None:
        self.facts = facts
        self.current = current if current is not None else config_from_facts(facts)
        self.desired = self.current

    def update(self, **changes: Any) -> None:
        self.desired = replace(self.desired, **changes)

    def update_network(self, **changes: Any) -> None:
        self.desired = replace(self.desired, network=replace(self.desired.network, **changes))

    def validate(self, config: Any = None) -> ValidationReport:
        from node_setup import validate

        return validate(config if config is not None else self.desired)

    def plan(self, rollback_timeout: int = 120) -> Plan:
        from node_setup import plan_apply

        return plan_apply(self.current, self.desired, rollback_timeout=rollback_timeout)

    def dirty(self) -> bool:
        return bool(self.desired != self.current)

    def applied(self) -> None:
        """The desired settings are now the node's settings (after a confirmed apply)."""
        self.current = self.desired

    def reset(self) -> None:
        self.desired = self.current
