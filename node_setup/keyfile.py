"""NetworkManager keyfiles from the model: the one persisted form of the node's network.

The same text is used everywhere: the installer writes it into the target root for first boot, and
the live backend hands it to NetworkManager (parsed by libnm's own keyfile reader), so what a node
boots with is exactly what was tested on the running node.

Profile ids are the device names; uuids are derived from type and name (uuid5), so a re-render of
the same model gives byte-identical files and the plan can tell "changed" from "new" by uuid.
Every profile carries `[user] hcinode.managed=1`, so profiles hcinode made are recognisable in
NetworkManager later.
"""

from __future__ import annotations

import ipaddress
import uuid

from node_setup.model import Bond, Bridge, Interface, IPv4, IPv6, NetworkConfig, NodeConfig, Vlan

KEYFILE_DIR = "etc/NetworkManager/system-connections"  # relative to a root
UUID_NAMESPACE = uuid.UUID("6f1d3a52-52b8-4c3e-9a8e-0c9f2b7d4e11")
MANAGED_KEY = "hcinode.managed"

Device = Interface | Bond | Vlan | Bridge


def nm_type(dev: Device) -> str:
    if isinstance(dev, Interface):
        return "ethernet"
    if isinstance(dev, Bond):
        return "bond"
    if isinstance(dev, Vlan):
        return "vlan"
    return "bridge"


def profile_uuid(dev: Device) -> str:
    return str(uuid.uuid5(UUID_NAMESPACE, f"hcinode/{nm_type(dev)}/{dev.name}"))


def keyfile_name(dev: Device) -> str:
    return f"{dev.name}.nmconnection"


def controllers(net: NetworkConfig) -> dict[str, Bond | Bridge]:
    """port name -> the bond or bridge it belongs to."""
    out: dict[str, Bond | Bridge] = {}
    for bond in net.bonds:
        out.update({s: bond for s in bond.slaves})
    for bridge in net.bridges:
        out.update({p: bridge for p in bridge.ports})
    return out


def dns_device(net: NetworkConfig) -> str:
    """The device that carries the DNS settings: the first with a default gateway, else the first with IP."""
    ports = controllers(net)
    candidates = [d for d in net.devices() if d.name not in ports]
    for dev in candidates:
        if dev.ipv4.gateway or dev.ipv6.gateway:
            return dev.name
    for dev in candidates:
        if dev.ipv4.method != "disabled" or dev.ipv6.method != "disabled":
            return dev.name
    return ""


def _section(lines: list[str], name: str, items: list[tuple[str, str]]) -> None:
    if not items:
        return
    lines.append(f"[{name}]")
    lines.extend(f"{k}={v}" for k, v in items)
    lines.append("")


def _routes(ip: IPv4 | IPv6, version: int) -> list[tuple[str, str]]:
    items = []
    for n, route in enumerate(ip.routes, 1):
        dest = ("0.0.0.0/0" if version == 4 else "::/0") if route.to == "default" else route.to
        value = dest + ("," + route.via if route.via or route.metric else "")
        if route.metric:
            value += f",{route.metric}"
        items.append((f"route{n}", value))
    return items


def _ipv4(ip: IPv4, dns: tuple[str, ...], search: tuple[str, ...]) -> list[tuple[str, str]]:
    method = {"disabled": "disabled", "dhcp": "auto", "static": "manual"}[ip.method]
    items = [(f"address{n}", a) for n, a in enumerate(ip.addresses, 1)]
    if ip.gateway:
        items.append(("gateway", ip.gateway))
    if dns:
        items.append(("dns", "".join(f"{s};" for s in dns)))
        if ip.method == "dhcp":
            items.append(("ignore-auto-dns", "true"))  # the configured servers win over DHCP's
    if search:
        items.append(("dns-search", "".join(f"{s};" for s in search)))
    items.append(("method", method))
    items.extend(_routes(ip, 4))
    return items


def _ipv6(ip: IPv6, dns: tuple[str, ...], search: tuple[str, ...]) -> list[tuple[str, str]]:
    method = {"disabled": "disabled", "auto": "auto", "dhcp": "dhcp", "static": "manual"}[ip.method]
    items = [(f"address{n}", a) for n, a in enumerate(ip.addresses, 1)]
    if ip.gateway:
        items.append(("gateway", ip.gateway))
    if dns:
        items.append(("dns", "".join(f"{s};" for s in dns)))
    if search and ip.method != "disabled":
        items.append(("dns-search", "".join(f"{s};" for s in search)))
    items.append(("method", method))
    items.extend(_routes(ip, 6))
    return items


def render_profile(net: NetworkConfig, dev: Device) -> str:
    """One keyfile for one device."""
    ports = controllers(net)
    controller = ports.get(dev.name)
    conn: list[tuple[str, str]] = [("id", dev.name), ("uuid", profile_uuid(dev)), ("type", nm_type(dev))]
    if not (isinstance(dev, Interface) and dev.mac):
        conn.append(("interface-name", dev.name))  # a NIC with a MAC is matched by MAC only (survives renames)
    conn.append(("autoconnect", "true"))
    if isinstance(dev, Bond | Bridge):
        conn.append(("autoconnect-slaves", "1"))  # activating the bond/bridge brings its ports up with it
    if controller is not None:
        conn.append(("master", profile_uuid(controller)))
        conn.append(("slave-type", nm_type(controller)))
    lines: list[str] = []
    _section(lines, "connection", conn)
    wired: list[tuple[str, str]] = []
    if isinstance(dev, Interface) and dev.mac:
        wired.append(("mac-address", dev.mac.upper()))
    if dev.mtu:
        wired.append(("mtu", str(dev.mtu)))
    _section(lines, "ethernet", wired)
    if isinstance(dev, Bond):
        opts = {"mode": dev.mode, "miimon": str(dev.miimon), **{k: str(v) for k, v in dev.options.items()}}
        _section(lines, "bond", sorted(opts.items()))
    elif isinstance(dev, Vlan):
        parent = net.device(dev.parent)
        _section(lines, "vlan", [("flags", "1"), ("id", str(dev.id)),
                                 ("parent", profile_uuid(parent) if parent is not None else dev.parent)])
    elif isinstance(dev, Bridge):
        items = [("stp", "true" if dev.stp else "false")]
        if dev.stp and dev.forward_delay:
            items.append(("forward-delay", str(dev.forward_delay)))
        _section(lines, "bridge", items)
    if controller is None:
        carries_dns = dns_device(net) == dev.name
        servers = net.dns.servers if carries_dns else ()
        v4 = tuple(s for s in servers if ipaddress.ip_address(s).version == 4)
        v6 = tuple(s for s in servers if ipaddress.ip_address(s).version == 6)
        search = net.dns.search if carries_dns else ()
        _section(lines, "ipv4", _ipv4(dev.ipv4, v4, search))
        _section(lines, "ipv6", _ipv6(dev.ipv6, v6, search if dev.ipv4.method == "disabled" else ()))
    _section(lines, "user", [(MANAGED_KEY, "1")])
    return "\n".join(lines)


def render_keyfiles(config: NodeConfig | NetworkConfig) -> dict[str, str]:
    """filename -> keyfile text for every device, in activation order (NICs, bonds, VLANs, bridges)."""
    net = config.network if isinstance(config, NodeConfig) else config
    return {keyfile_name(dev): render_profile(net, dev) for dev in net.devices()}
