"""Cross-field rules for a NodeConfig: every problem goes into one report, nothing stops early.

Each rule is a small function that adds to the report (anaconda's checks work the same way), so
the TUI can show all field errors of a form at once and the CLI exits 2 listing all of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from node_setup.model import Bond, Bridge, Interface, IPv4, IPv6, NetworkConfig, NodeConfig, Vlan
from nodecore import passwords, rules
from nodecore.config import check_text
from nodecore.report import ValidationReport

# the rules for single values are shared with the installer and the console (nodecore.rules)
ZONEINFO = rules.ZONEINFO

Device = Interface | Bond | Vlan | Bridge


def validate(config: NodeConfig, source: str = "") -> ValidationReport:
    """All problems of a NodeConfig (errors and warnings) with the field path of each."""
    report = ValidationReport(source)
    check_text(config, report)  # also for configs the console builds without the YAML loader
    check_network(config.network, report, "network")
    _check_identity(config, report)
    return report


def validate_network(network: NetworkConfig, source: str = "") -> ValidationReport:
    report = ValidationReport(source)
    check_text(network, report, "network")
    check_network(network, report, "network")
    return report


def _paths(network: NetworkConfig) -> Iterator[tuple[str, Device]]:
    for kind in ("interfaces", "bonds", "vlans", "bridges"):
        for i, dev in enumerate(getattr(network, kind)):
            yield f"network.{kind}[{i}]", dev


def check_network(net: NetworkConfig, report: ValidationReport, prefix: str = "network") -> None:
    paths = {dev.name: path.replace("network", prefix, 1) for path, dev in _paths(net)}
    _check_names(net, report, prefix)
    _check_interfaces(net, report, paths)
    _check_bonds(net, report, paths)
    _check_vlans(net, report, paths)
    _check_bridges(net, report, paths)
    _check_ports_have_no_ip(net, report, paths)
    _check_addresses(net, report, paths)
    _check_dns(net, report, prefix)
    _check_connectivity(net, report, prefix)


def _check_names(net: NetworkConfig, report: ValidationReport, prefix: str) -> None:
    seen: dict[str, str] = {}
    for path, dev in _paths(net):
        path = path.replace("network", prefix, 1)
        rules.add(report, f"{path}.name", rules.ifname(dev.name))
        if dev.name in seen:
            report.error(f"{path}.name", f"device name {dev.name!r} is used twice", f"also at {seen[dev.name]}")
        else:
            seen[dev.name] = path
        if dev.mtu and not 68 <= dev.mtu <= 65535:
            report.error(f"{path}.mtu", f"MTU {dev.mtu} is out of range", "use 68..65535 (1500, or 9000 for jumbo)")
        if dev.mtu and dev.mtu < 1280 and dev.ipv6.method != "disabled":
            report.error(f"{path}.mtu", f"MTU {dev.mtu} is below 1280, the minimum for IPv6",
                         "raise the MTU or disable IPv6 on this device")


def _check_interfaces(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    macs: dict[str, str] = {}
    for nic in net.interfaces:
        path = paths[nic.name]
        if not nic.mac:
            continue
        if rules.add(report, f"{path}.mac", rules.mac(nic.mac)):
            continue
        mac = nic.mac.lower()
        if mac in macs:
            report.error(f"{path}.mac", f"MAC {nic.mac} is also given for {macs[mac]}",
                         "each physical NIC has its own MAC")
        macs[mac] = nic.name


def _check_bonds(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    owner: dict[str, str] = {}
    nic_names = {n.name for n in net.interfaces}
    for bond in net.bonds:
        path = paths[bond.name]
        if not bond.slaves:
            report.error(f"{path}.slaves", f"bond {bond.name} has no slaves",
                         "list at least one NIC (two for redundancy)")
        elif len(bond.slaves) == 1:
            report.warning(f"{path}.slaves", f"bond {bond.name} has one slave: no redundancy")
        if len(set(bond.slaves)) != len(bond.slaves):
            report.error(f"{path}.slaves", f"bond {bond.name} lists a slave twice")
        for j, slave in enumerate(bond.slaves):
            where = f"{path}.slaves[{j}]"
            if slave not in nic_names:
                kind = "is not a physical interface" if net.device(slave) else "is not defined"
                report.error(where, f"slave {slave!r} {kind}", "bond slaves must be entries of network.interfaces")
                continue
            if slave in owner and owner[slave] != bond.name:
                report.error(where, f"NIC {slave} is in two bonds ({owner[slave]} and {bond.name})")
            owner[slave] = bond.name
            nic = net.device(slave)
            if nic is not None and nic.mtu and bond.mtu and nic.mtu != bond.mtu:
                report.error(where, f"MTU mismatch: slave {slave} has {nic.mtu}, bond {bond.name} has {bond.mtu}",
                             "give slaves the bond's MTU, or leave their MTU at 0")
        if bond.miimon < 0:
            report.error(f"{path}.miimon", "miimon must be 0 or more (milliseconds)")
        elif bond.miimon == 0 and "arp_interval" not in bond.options:
            report.warning(f"{path}.miimon", "no link monitoring (miimon 0 and no arp_interval)",
                           "a failed slave will not be noticed; use miimon: 100")
        for key, value in bond.options.items():
            rules.add(report, f"{path}.options.{key}", rules.bond_option(key, str(value), bond.mode))


def _check_vlans(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    seen: dict[tuple[str, int], str] = {}
    enslaved = {s for b in net.bonds for s in b.slaves}
    for vlan in net.vlans:
        path = paths[vlan.name]
        rules.add(report, f"{path}.id", rules.vlan_id(vlan.id))
        parent = net.device(vlan.parent)
        if parent is None:
            report.error(f"{path}.parent", f"parent {vlan.parent!r} is not defined",
                         "define it in network.interfaces or network.bonds")
        elif not isinstance(parent, Interface | Bond):
            report.error(f"{path}.parent", f"parent {vlan.parent!r} must be a NIC or a bond")
        elif vlan.parent in enslaved:
            report.error(f"{path}.parent", f"{vlan.parent} is a bond slave; put the VLAN on the bond instead")
        elif vlan.mtu and parent.mtu and vlan.mtu > parent.mtu:
            report.error(f"{path}.mtu", f"VLAN MTU {vlan.mtu} is larger than {vlan.parent}'s MTU {parent.mtu}")
        key = (vlan.parent, vlan.id)
        if key in seen:
            report.error(f"{path}.id", f"VLAN {vlan.id} on {vlan.parent} is defined twice (also {seen[key]})")
        seen[key] = vlan.name


def _check_bridges(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    owner: dict[str, str] = {}
    enslaved = {s: b.name for b in net.bonds for s in b.slaves}
    for bridge in net.bridges:
        path = paths[bridge.name]
        if not bridge.ports:
            report.warning(f"{path}.ports", f"bridge {bridge.name} has no ports: it reaches no network")
        for j, port in enumerate(bridge.ports):
            where = f"{path}.ports[{j}]"
            dev = net.device(port)
            if dev is None:
                report.error(where, f"port {port!r} is not defined")
            elif isinstance(dev, Bridge):
                report.error(where, f"port {port!r} is a bridge; bridges cannot be nested")
            elif port in enslaved:
                report.error(where, f"{port} is a slave of bond {enslaved[port]}; add the bond to the bridge")
            if port in owner:
                report.error(where, f"{port} is a port of two bridges ({owner[port]} and {bridge.name})")
            owner[port] = bridge.name
        if bridge.forward_delay and not 2 <= bridge.forward_delay <= 30:
            report.error(f"{path}.forward_delay", "forward_delay must be 2..30 seconds (or 0: not set)")
        if bridge.forward_delay and not bridge.stp:
            report.warning(f"{path}.forward_delay", "forward_delay only matters with stp: true")


def _check_ports_have_no_ip(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    controllers = {s: b.name for b in net.bonds for s in b.slaves}
    controllers.update({p: br.name for br in net.bridges for p in br.ports})
    for name, controller in controllers.items():
        dev = net.device(name)
        if dev is None:
            continue
        for fam in ("ipv4", "ipv6"):
            if getattr(dev, fam).method != "disabled":
                report.error(f"{paths[name]}.{fam}", f"{name} is a port of {controller} and cannot have its own "
                             f"{fam} settings", f"configure addresses on {controller}")


def _check_ip(ip: IPv4 | IPv6, version: int, path: str, report: ValidationReport,
              found: list[tuple[str, ipaddress.IPv4Interface | ipaddress.IPv6Interface]]) -> None:
    fam = f"ipv{version}"
    ifaces: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    for k, text in enumerate(ip.addresses):
        where = f"{path}.{fam}.addresses[{k}]"
        if "/" not in text:
            report.error(where, f"{text!r} has no prefix length", f"write it as {text}/{24 if version == 4 else 64}")
            continue
        try:
            iface = ipaddress.ip_interface(text)
        except ValueError:
            report.error(where, f"{text!r} is not an IPv{version} address with prefix")
            continue
        if iface.version != version:
            report.error(where, f"{text} is not an IPv{version} address")
            continue
        net = iface.network
        if version == 4 and net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
            report.error(where, f"{text} is the network or broadcast address of {net}")
            continue
        if iface.ip.is_multicast or iface.ip.is_unspecified or iface.ip.is_loopback:
            report.error(where, f"{iface.ip} cannot be a host address")
            continue
        ifaces.append(iface)
        found.append((where, iface))
    if ip.method == "static" and not ip.addresses:
        report.error(f"{path}.{fam}.addresses", "static method needs at least one address")
    if ip.method in ("disabled", "dhcp") and ip.addresses and not (version == 6 and ip.method == "dhcp"):
        report.error(f"{path}.{fam}.addresses", f"addresses are given but method is {ip.method}",
                     "use method: static")
    if ip.gateway:
        where = f"{path}.{fam}.gateway"
        try:
            gw = ipaddress.ip_address(ip.gateway)
        except ValueError:
            report.error(where, f"{ip.gateway!r} is not an IP address")
            gw = None
        if gw is not None:
            if gw.version != version:
                report.error(where, f"{gw} is not an IPv{version} address")
            elif ip.method == "disabled":
                report.error(where, f"a gateway is given but {fam} is disabled")
            elif ip.method == "static" and ifaces and not (version == 6 and gw.is_link_local):
                if not any(gw in i.network for i in ifaces):
                    report.error(where, f"gateway {gw} is outside the subnet(s) "
                                 + ", ".join(str(i.network) for i in ifaces),
                                 "the gateway must be reachable on this link")
                if any(gw == i.ip for i in ifaces):
                    report.error(where, f"gateway {gw} is this device's own address")
    for k, route in enumerate(ip.routes):
        where = f"{path}.{fam}.routes[{k}]"
        if ip.method == "disabled":
            report.error(where, f"a route is given but {fam} is disabled")
        try:
            dest = ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0") if route.to == "default" \
                else ipaddress.ip_network(route.to, strict=True)
            if dest.version != version:
                report.error(f"{where}.to", f"{route.to} is not an IPv{version} network")
        except ValueError as exc:
            report.error(f"{where}.to", f"{route.to!r} is not a network: {exc}", "e.g. 10.0.0.0/8")
        if route.via:
            try:
                via = ipaddress.ip_address(route.via)
                if via.version != version:
                    report.error(f"{where}.via", f"{via} is not an IPv{version} address")
                elif ifaces and not any(via in i.network for i in ifaces):
                    report.warning(f"{where}.via", f"next hop {via} is not in this device's subnets")
            except ValueError:
                report.error(f"{where}.via", f"{route.via!r} is not an IP address")
        if not 0 <= route.metric <= 0xFFFFFFFF:
            report.error(f"{where}.metric", "metric must be 0..4294967295")


def _check_addresses(net: NetworkConfig, report: ValidationReport, paths: dict[str, str]) -> None:
    found: list[tuple[str, ipaddress.IPv4Interface | ipaddress.IPv6Interface]] = []
    gateways4: list[str] = []
    gateways6: list[str] = []
    any_ip = False
    for dev in net.devices():
        path = paths[dev.name]
        _check_ip(dev.ipv4, 4, path, report, found)
        _check_ip(dev.ipv6, 6, path, report, found)
        any_ip = any_ip or dev.ipv4.method != "disabled" or dev.ipv6.method != "disabled"
        if dev.ipv4.gateway:
            gateways4.append(dev.name)
        if dev.ipv6.gateway:
            gateways6.append(dev.name)
    for i, (where, iface) in enumerate(found):
        for other_where, other in found[:i]:
            if iface.version != other.version:
                continue
            same_device = where.split(".ipv")[0] == other_where.split(".ipv")[0]
            if iface.ip == other.ip:
                report.error(where, f"duplicate address {iface.ip} (also at {other_where})")
            elif not same_device and iface.network.overlaps(other.network):
                report.error(where, f"subnet {iface.network} overlaps {other.network} at {other_where}",
                             "two devices on one subnet make routing ambiguous")
    for family, names in (("IPv4", gateways4), ("IPv6", gateways6)):
        # legal (NetworkManager orders the default routes by metric), but rarely meant
        if len(names) > 1:
            report.warning("network", f"several {family} default gateways (" + ", ".join(names) + ")",
                           "NetworkManager will prefer one by route metric; usually only the management "
                           "network has a gateway")
    if net.devices() and not any_ip:
        report.error("network", "no device has an IP address: the node would be unreachable",
                     "give the management device dhcp or a static address")


def _check_dns(net: NetworkConfig, report: ValidationReport, prefix: str) -> None:
    for i, server in enumerate(net.dns.servers):
        rules.add(report, f"{prefix}.dns.servers[{i}]", rules.ip_address(server))
    for i, domain in enumerate(net.dns.search):
        if not rules.is_hostname(domain):
            report.error(f"{prefix}.dns.search[{i}]", f"{domain!r} is not a valid domain name")
    if net.dns.servers and net.devices() and not any(d.ipv4.method != "disabled" or d.ipv6.method != "disabled"
                                                     for d in net.devices()):
        report.warning(f"{prefix}.dns", "DNS servers are given but no device has IP settings")


def _check_connectivity(net: NetworkConfig, report: ValidationReport, prefix: str) -> None:
    check = net.check
    if not 1 <= check.timeout <= 600:
        report.error(f"{prefix}.check.timeout", "timeout must be 1..600 seconds")
    if check.resolve and not rules.is_hostname(check.resolve):
        report.error(f"{prefix}.check.resolve", f"{check.resolve!r} is not a host name")
    if check.resolve and not net.dns.servers and not any(d.ipv4.method == "dhcp" or d.ipv6.method in ("auto", "dhcp")
                                                         for d in net.devices()):
        report.warning(f"{prefix}.check.resolve", "a name check is asked for but no DNS server is configured")
    for i, host in enumerate(check.hosts):
        rules.add(report, f"{prefix}.check.hosts[{i}]", rules.host(host))


def _check_identity(config: NodeConfig, report: ValidationReport) -> None:
    if config.hostname:
        rules.add(report, "hostname", rules.hostname(config.hostname))
    for i, server in enumerate(config.ntp_servers):
        rules.add(report, f"ntp_servers[{i}]", rules.host(server))
    if config.timezone:
        rules.add(report, "timezone", rules.timezone(config.timezone, ZONEINFO))
    if config.keyboard:
        rules.add(report, "keyboard", rules.keyboard(config.keyboard))
    if config.admin_password is not None:
        problem = password_problem(config.admin_password.reveal())
        if problem:
            report.error("admin_password", problem)
    _check_ssh(config, report)
    syslog = config.syslog
    if syslog is None:
        return
    if syslog.host:
        rules.add(report, "syslog.host", rules.host(syslog.host))
    if not 1 <= syslog.port <= 65535:
        report.error("syslog.port", f"port {syslog.port} is out of range", "1..65535 (514 is usual)")


def password_problem(value: str) -> str:
    """Why an admin password (plaintext, or a crypt hash starting with '$') is not acceptable, or ""."""
    if value.startswith("$"):
        problem = passwords.hash_problem(value)
        return f"the value looks like a crypt hash but {problem}" if problem else ""
    return passwords.password_problem(value)


def _check_ssh(config: NodeConfig, report: ValidationReport) -> None:
    ssh = config.ssh
    if ssh is None:
        return
    for i, key in enumerate(ssh.authorized_keys):
        rules.add(report, f"ssh.authorized_keys[{i}]", rules.ssh_key(key))
    if ssh.enabled and not ssh.password_login and not ssh.authorized_keys:
        report.warning("ssh", "SSH is on but password login is off and no key is given",
                       "only keys already on the node will work")
    if ssh.enabled and ssh.password_login and config.admin_password is None:
        report.warning("ssh.password_login", "password login is on but no admin password is set here")
