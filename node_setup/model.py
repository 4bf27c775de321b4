"""The declarative model of a node's network and identity (frozen dataclasses; YAML in and out).

The type hints are the schema that `nodecore.config.load_config` checks; the cross-field rules
(a NIC in two bonds, a gateway outside its subnet, ...) live in `node_setup.validate`.

Names: every device has a `name`. For a physical NIC the name is the kernel name to match when no
`mac` is given; with a `mac` the NIC is matched by MAC only (so a NIC renamed by the kernel is
followed) and the name is the label other devices refer to (bond slaves, VLAN parents).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nodecore.config import dump_yaml, load_config, load_config_file, load_yaml_text
from nodecore.report import ValidationReport
from nodecore.secrets import Secret

BondMode = Literal["active-backup", "balance-xor", "802.3ad", "balance-rr", "broadcast", "balance-tlb",
                   "balance-alb"]


@dataclass(frozen=True)
class Route:
    to: str  # "10.0.0.0/8" or "default"
    via: str = ""  # next hop; empty: on-link through the device
    metric: int = 0


@dataclass(frozen=True)
class IPv4:
    # disabled: no IPv4 on this device (ports of a bond or bridge must be disabled)
    method: Literal["disabled", "dhcp", "static"] = "disabled"
    addresses: tuple[str, ...] = ()  # CIDR, e.g. "198.51.100.10/24"
    gateway: str = ""
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class IPv6:
    # auto: SLAAC (+DHCPv6 when the router says so); dhcp: DHCPv6 only
    method: Literal["disabled", "auto", "dhcp", "static"] = "disabled"
    addresses: tuple[str, ...] = ()  # CIDR, e.g. "2001:db8::10/64"
    gateway: str = ""
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str = ""
    mtu: int = 0  # 0: leave the kernel/driver default
    ipv4: IPv4 = field(default_factory=IPv4)
    ipv6: IPv6 = field(default_factory=IPv6)


@dataclass(frozen=True)
class Bond:
    name: str
    slaves: tuple[str, ...] = ()  # Interface names
    mode: BondMode = "active-backup"
    miimon: int = 100
    # further bonding options as the kernel names them, e.g. {"lacp_rate": "fast", "xmit_hash_policy": "layer3+4"}
    options: dict[str, str] = field(default_factory=dict)
    mtu: int = 0
    ipv4: IPv4 = field(default_factory=IPv4)
    ipv6: IPv6 = field(default_factory=IPv6)


@dataclass(frozen=True)
class Vlan:
    name: str  # e.g. "bond0.100"
    parent: str  # an Interface or Bond name
    id: int
    mtu: int = 0
    ipv4: IPv4 = field(default_factory=IPv4)
    ipv6: IPv6 = field(default_factory=IPv6)


@dataclass(frozen=True)
class Bridge:
    name: str  # the management bridge, e.g. "ovirtmgmt"
    ports: tuple[str, ...] = ()  # Interface, Bond or Vlan names
    stp: bool = False
    forward_delay: int = 0  # seconds; 0 so a port forwards at once (no STP on a host bridge)
    mtu: int = 0
    ipv4: IPv4 = field(default_factory=IPv4)
    ipv6: IPv6 = field(default_factory=IPv6)


@dataclass(frozen=True)
class Dns:
    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()


@dataclass(frozen=True)
class Connectivity:
    """What `apply` checks before it offers to keep new settings (a failed check rolls back)."""

    gateway: bool = True  # ping every configured default gateway
    resolve: str = ""  # a name to resolve through the configured DNS servers
    hosts: tuple[str, ...] = ()  # addresses that must answer a ping, e.g. the engine
    timeout: int = 30  # seconds to wait for devices to activate and for answers


@dataclass(frozen=True)
class NetworkConfig:
    interfaces: tuple[Interface, ...] = ()
    bonds: tuple[Bond, ...] = ()
    vlans: tuple[Vlan, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    dns: Dns = field(default_factory=Dns)
    check: Connectivity = field(default_factory=Connectivity)

    def devices(self) -> list[Interface | Bond | Vlan | Bridge]:
        """All devices in activation order: NICs, bonds, VLANs, bridges."""
        return [*self.interfaces, *self.bonds, *self.vlans, *self.bridges]

    def device(self, name: str) -> Interface | Bond | Vlan | Bridge | None:
        for dev in self.devices():
            if dev.name == name:
                return dev
        return None


@dataclass(frozen=True)
class Ssh:
    enabled: bool = True
    password_login: bool = False
    root_login: bool = True  # key-based root login stays possible unless this is false
    authorized_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Syslog:
    host: str = ""  # empty: no remote logging
    port: int = 514
    protocol: Literal["udp", "tcp"] = "udp"


@dataclass(frozen=True)
class NodeConfig:
    hostname: str = ""
    network: NetworkConfig = field(default_factory=NetworkConfig)
    ntp_servers: tuple[str, ...] = ()
    timezone: str = ""  # e.g. "Europe/Berlin"; empty: leave as is
    keyboard: str = ""  # console keymap / XKB layout, e.g. "us", "de"
    # plaintext (hashed with yescrypt before it is written anywhere) or an existing crypt hash ("$y$...", "$6$...")
    admin_password: Secret | None = None
    ssh: Ssh | None = None  # None: leave the SSH server as it is
    syslog: Syslog | None = None  # None: leave logging as it is


def load_node_config(data: object, report: ValidationReport, path: str = "") -> NodeConfig | None:
    """YAML data -> NodeConfig; schema problems go to `report` (see `validate` for the rules)."""
    return load_config(NodeConfig, data, report, path)


def load_node_config_text(text: str, source: str = "<text>") -> tuple[NodeConfig | None, ValidationReport]:
    report = ValidationReport(source)
    return load_node_config(load_yaml_text(text, source), report), report


def load_node_config_file(path: str) -> NodeConfig:
    """Load a YAML file; raises InvalidInput with every schema problem (validate() adds the rules)."""
    return load_config_file(NodeConfig, path)


def dump_node_config(config: NodeConfig) -> str:
    """YAML text of the config (the admin password is masked; store the hash instead, see identity)."""
    return dump_yaml(config)
