"""First-boot settings: the kickstart's network and identity as node_setup's model.

The installer never writes NetworkManager keyfiles itself: it translates `network`, hostname,
NTP, time zone and keyboard into `node_setup.model.NodeConfig` and lets
`node_setup.render_into_root` write them into the target, so the installed node's files are the
same ones the console and `hcinode network apply` write.
"""

from __future__ import annotations

import ipaddress
import re

from installer.config import InstallConfig, NetworkDevice
from nodecore.facts import HostFacts
from nodecore.rules import BOND_MODE_NUMBERS, MAC_RE
from nodecore.runner import Runner


def bootif_mac(cmdline: str) -> str:
    """pxelinux/iPXE's BOOTIF=01-52-54-00-12-34-56 -> 52:54:00:12:34:56."""
    m = re.search(r"(?:^|\s)BOOTIF=(?:01-)?([0-9A-Fa-f]{2}(?:[-:][0-9A-Fa-f]{2}){5})(?:\s|$)", cmdline)
    return m.group(1).replace("-", ":").lower() if m else ""


def resolve_device(name: str, facts: HostFacts | None, cmdline: str = "") -> tuple[str, str]:
    """(interface name, MAC to match) for a kickstart --device value."""
    nics = [n for n in (facts.nics if facts else ()) if not n.virtual]
    if name == "bootif":
        mac = bootif_mac(cmdline)
        nic = next((n for n in nics if n.mac.lower() == mac), None) if mac else None
        nic = nic or next((n for n in nics if n.link), None) or (nics[0] if nics else None)
        return (nic.name, nic.mac.lower()) if nic else ("eth0", "")
    if name == "link":
        nic = next((n for n in nics if n.link), None) or (nics[0] if nics else None)
        return (nic.name, nic.mac.lower()) if nic else ("eth0", "")
    if MAC_RE.fullmatch(name):
        mac = name.replace("-", ":").lower()
        nic = next((n for n in nics if n.mac.lower() == mac), None)
        return (nic.name if nic else "nic-" + mac.replace(":", "")[-6:], mac)
    return name, ""


def _ipv4(d: NetworkDevice) -> dict[str, object]:
    if d.noipv4 or d.bootproto == "none" or (d.bootproto == "static" and not d.ip):
        return {"method": "disabled"}
    if d.bootproto == "dhcp":
        return {"method": "dhcp"}
    prefix = ipaddress.ip_network(f"0.0.0.0/{d.netmask}").prefixlen if d.netmask else 32
    addr = d.ip if "/" in d.ip else f"{d.ip}/{prefix}"
    out: dict[str, object] = {"method": "static", "addresses": [addr]}
    if d.gateway:
        out["gateway"] = d.gateway
    return out


def _ipv6(d: NetworkDevice) -> dict[str, object]:
    if d.noipv6:
        return {"method": "disabled"}
    if d.ipv6 in ("", "auto"):
        return {"method": "auto"}
    if d.ipv6 == "dhcp":
        return {"method": "dhcp"}
    out: dict[str, object] = {"method": "static", "addresses": [d.ipv6]}
    if d.ipv6gateway:
        out["gateway"] = d.ipv6gateway
    return out


def node_settings(config: InstallConfig, facts: HostFacts | None = None, cmdline: str = "") -> dict[str, object]:
    """node_setup's NodeConfig as plain data (what its YAML loader takes)."""
    interfaces: dict[str, dict[str, object]] = {}
    bonds, vlans, bridges = [], [], []
    servers: list[str] = []

    def nic(ref: str, addressed: NetworkDevice | None = None) -> str:
        name, mac = resolve_device(ref, facts, cmdline)
        entry = interfaces.setdefault(name, {"name": name})
        if mac:
            entry["mac"] = mac
        if addressed is not None:
            entry["ipv4"], entry["ipv6"] = _ipv4(addressed), _ipv6(addressed)
            if addressed.mtu:
                entry["mtu"] = addressed.mtu
        return name

    virtual = config.network.virtual_names
    vlan_names: dict[str, str] = {}  # kickstart name (bootif.120) -> interface name (eno1.120)

    def vlan_name(d: NetworkDevice) -> str:
        if d.connection_name not in vlan_names:
            parent = d.device if d.device in virtual else resolve_device(d.device, facts, cmdline)[0]
            vlan_names[d.connection_name] = d.interfacename or f"{parent}.{d.vlanid}"
        return vlan_names[d.connection_name]

    for d in config.network.devices:
        if d.kind == "vlan" and d.onboot:
            vlan_name(d)
    for d in config.network.devices:
        if not d.onboot:
            continue  # node_setup profiles always come up at boot; --onboot=no devices stay unconfigured
        servers += [s for s in d.nameservers if s not in servers]
        if d.kind == "bond":
            opts = dict(o.split("=", 1) for o in re.split(r"[,;]", d.bondopts) if "=" in o)
            mode = opts.pop("mode", "active-backup")
            bond: dict[str, object] = {"name": d.device, "slaves": [nic(s) for s in d.bondslaves],
                                       "mode": BOND_MODE_NUMBERS.get(mode, mode),  # mode=1: active-backup
                                       "miimon": int(opts.pop("miimon", "100")), "options": opts,
                                       "ipv4": _ipv4(d), "ipv6": _ipv6(d)}
            if d.mtu:
                bond["mtu"] = d.mtu
            bonds.append(bond)
        elif d.kind == "bridge":
            bridges.append({"name": d.device, "ports": [vlan_names.get(s, s) if s in virtual else nic(s)
                                                        for s in d.bridgeslaves],
                            "ipv4": _ipv4(d), "ipv6": _ipv6(d), **({"mtu": d.mtu} if d.mtu else {})})
        elif d.kind == "vlan":
            parent = d.device if d.device in virtual else nic(d.device)
            vlans.append({"name": vlan_name(d), "parent": parent, "id": d.vlanid,
                          "ipv4": _ipv4(d), "ipv6": _ipv6(d), **({"mtu": d.mtu} if d.mtu else {})})
        else:
            nic(d.device, d)
    network: dict[str, object] = {"interfaces": list(interfaces.values()), "bonds": bonds, "vlans": vlans,
                                  "bridges": bridges}
    if servers:
        network["dns"] = {"servers": servers}
    password_login = bool(config.rootpw.hash and not config.rootpw.locked) or any(
        u.password_hash and not u.locked for u in config.users)
    root_keys = [k.key for k in config.sshkeys if k.username == "root"]
    out: dict[str, object] = {
        "hostname": config.hostname or "hcinode", "network": network,
        "ntp_servers": [] if config.time.nontp else list(config.time.ntpservers),
        "timezone": config.time.timezone, "keyboard": config.keyboard,
        "ssh": {"enabled": True, "password_login": password_login, "authorized_keys": root_keys},
    }
    return out


def write_node_settings(data: dict[str, object], target: str, runner: Runner) -> list[str]:
    """Validate with node_setup and write its files into the target root."""
    from node_setup.firstboot import render_into_root
    from node_setup.model import load_node_config
    from nodecore.report import ValidationReport

    report = ValidationReport("first-boot settings")
    node = load_node_config(data, report)
    report.raise_if_errors()
    assert node is not None
    return render_into_root(node, target, runner)
