"""Checks before anything is written: small functions that each add to one ValidationReport.

`validate(config)` looks at the config alone (what `--validate` runs, like ksvalidator plus our
semantics); `check_host(config, facts)` adds what needs the machine: disks, NICs, sizes (what
`--dry-run` and the real install run). Every problem is reported, never just the first.

One rule set: single values are judged by `nodecore.rules` / `nodecore.passwords` (the same
functions node_setup and the console call), and `check_first_boot` runs node_setup's own
validation on exactly the settings the install will hand to node_setup, so nothing that
node_setup refuses is found only at install time, after the disks were erased.
"""

from __future__ import annotations

import ipaddress
import re

from installer.config import InstallConfig, NetworkDevice
from installer.firstboot import node_settings
from installer.storage import FSTYPES, resolve_layout
from nodecore import rules
from nodecore.config import check_text
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport

USERNAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
RESERVED_USERS = ("root", "daemon", "bin", "sys", "nobody", "sshd", "qemu", "libvirt-qemu", "gluster")


def _at(line: int) -> str:
    return f"kickstart:{line}" if line else "kickstart"


def validate(config: InstallConfig, report: ValidationReport | None = None,
             facts: HostFacts | None = None) -> ValidationReport:
    report = report if report is not None else ValidationReport(source="kickstart")
    check_text(config, report)  # no control character in any value (script bodies may have newlines)
    check_hostname(config, report)
    check_network(config, report)
    check_accounts(config, report)
    check_locale(config, report)
    check_bootloader(config, report)
    check_payload(config, report)
    check_scripts(config, report)
    resolve_layout(config, None, report)  # storage consistency that needs no disks
    check_first_boot(config, report, facts)
    return report


def check_host(config: InstallConfig, facts: HostFacts, report: ValidationReport | None = None) -> ValidationReport:
    """Everything `validate` checks, plus the disks and NICs of this (or a captured) machine."""
    report = validate(config, report, facts)
    check_nics(config, facts, report)
    # disks, sizes, sector sizes, boot media: resolving the layout against the facts reports them
    resolve_layout(config, facts, report, storage_only_host=True)
    return report


def check_hostname(config: InstallConfig, report: ValidationReport) -> None:
    name = config.network.hostname
    if not name:
        report.warning("network.hostname", "no hostname given; the node will be called 'hcinode'",
                       "add --hostname=NAME to a network line")
        return
    line = next((d.lineno for d in config.network.devices if d.lineno), 0)
    rules.add(report, _at(line), rules.hostname(name))


def _ip(value: str, version: int | None = None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    return addr if version is None or addr.version == version else None


def check_network(config: InstallConfig, report: ValidationReport) -> None:
    seen: dict[str, int] = {}
    enslaved: dict[str, str] = {}
    for d in config.network.devices:
        at = _at(d.lineno)
        if not d.device:
            report.error(at, "network: --device is required (a name, a MAC, 'link' or 'bootif')")
        key = d.connection_name
        if key in seen:
            report.error(at, f"network: device {key!r} is configured twice (first at line {seen[key]})")
        seen[key] = d.lineno
        if d.device and rules.mac(d.device) and d.device not in ("link", "bootif"):
            _network(report, at, rules.ifname(d.device))
        if d.interfacename:
            _network(report, at, rules.ifname(d.interfacename))
        if d.kind in ("bond", "bridge") and d.device in ("link", "bootif"):
            report.error(at, f"network: a {d.kind} needs a name for --device (not {d.device!r})")
        _check_ipv4(d, at, report)
        _check_ipv6(d, at, report)
        for ns in d.nameservers:
            if rules.ip_address(ns):
                report.error(at, f"network: nameserver {ns!r} is not an IP address", "DNS servers are given by address")
        if d.vlanid is not None:
            _network(report, at, rules.vlan_id(d.vlanid))
        if d.mtu is not None and not 576 <= d.mtu <= 9216:
            report.error(at, f"network: --mtu={d.mtu} is outside 576-9216")
        for slave in d.bondslaves + d.bridgeslaves:
            if slave in enslaved:
                report.error(at, f"network: {slave} is already a slave of {enslaved[slave]}")
            enslaved[slave] = d.device
        if d.bondopts:
            opts: dict[str, str] = {}
            for o in re.split(r"[,;]", d.bondopts):
                key, _, val = o.partition("=")
                if key:
                    opts[key] = val
            _network(report, at, rules.bond_mode(opts.get("mode", "active-backup")))
            # further options are node_setup's rule (check_first_boot), with this line's number
            if "miimon" in opts and not opts["miimon"].isdigit():
                report.error(at, f"network: bond miimon={opts['miimon']!r} is not a number")
        if d.bondopts and not d.bondslaves:
            report.error(at, "network: --bondopts without --bondslaves")
    for d in config.network.devices:
        if d.device in enslaved and (d.ip or d.bootproto == "static") and d.vlanid is None:
            report.error(_at(d.lineno), f"network: {d.device} is a slave of {enslaved[d.device]} and cannot "
                         "have its own address")


def _network(report: ValidationReport, at: str, bad: rules.Bad | None) -> None:
    if bad is not None:
        report.error(at, f"network: {bad.message}", bad.hint)


def _check_ipv4(d: NetworkDevice, at: str, report: ValidationReport) -> None:
    if d.bootproto != "static" or d.noipv4:
        if d.bootproto == "dhcp" and (d.ip or d.netmask):
            report.error(at, "network: --ip/--netmask given with --bootproto=dhcp", "use --bootproto=static")
        return
    if not d.ip and d.ipv6 not in ("", "auto", "dhcp"):
        return  # static IPv6 only
    ip = _ip(d.ip, 4)
    if ip is None:
        report.error(at, f"network: --bootproto=static needs a valid --ip (got {d.ip!r})")
        return
    try:
        net = ipaddress.ip_network(f"{d.ip}/{d.netmask}", strict=False) if d.netmask else None
    except ValueError:
        report.error(at, f"network: --netmask={d.netmask!r} is not a netmask")
        return
    if net is None:
        if "/" not in d.ip:
            report.error(at, "network: --bootproto=static needs --netmask")
        return
    if d.gateway:
        gw = _ip(d.gateway, 4)
        if gw is None:
            report.error(at, f"network: --gateway={d.gateway!r} is not an IPv4 address")
        elif gw not in net:
            report.error(at, f"network: gateway {d.gateway} is outside {net}")
        elif gw == ip:
            report.error(at, "network: the gateway is the node's own address")
    if ip in (net.network_address, net.broadcast_address) and net.prefixlen < 31:
        report.error(at, f"network: {d.ip} is the network or broadcast address of {net}")


def _check_ipv6(d: NetworkDevice, at: str, report: ValidationReport) -> None:
    if d.ipv6 in ("", "auto", "dhcp"):
        if d.ipv6gateway:
            report.error(at, "network: --ipv6gateway needs a static --ipv6 address")
        return
    try:
        iface = ipaddress.IPv6Interface(d.ipv6)
    except ValueError:
        report.error(at, f"network: --ipv6={d.ipv6!r} is not auto, dhcp or ADDRESS/PREFIX")
        return
    if "/" not in d.ipv6:
        report.error(at, f"network: --ipv6={d.ipv6} needs a prefix length (e.g. /64)")
    if d.ipv6gateway:
        gw = _ip(d.ipv6gateway.split("%")[0], 6)
        if gw is None:
            report.error(at, f"network: --ipv6gateway={d.ipv6gateway!r} is not an IPv6 address")
        elif not gw.is_link_local and gw not in iface.network:
            report.error(at, f"network: IPv6 gateway {d.ipv6gateway} is outside {iface.network}")


def check_accounts(config: InstallConfig, report: ValidationReport) -> None:
    rp = config.rootpw
    if not rp.hash and not rp.locked:
        report.error("rootpw", "no root password given", "add 'rootpw --iscrypted HASH' or 'rootpw --lock' "
                     "with an sshkey or a user")
    names = set()
    for u in config.users:
        at = _at(u.lineno)
        if not USERNAME.fullmatch(u.name):
            report.error(at, f"user: {u.name!r} is not a valid user name")
        if u.uid is not None and u.uid < 1000:
            # uid 0 is a second root; below 1000 Debian's system accounts live
            report.error(at, f"user {u.name}: uid {u.uid} is " + ("root's" if u.uid == 0 else "a system account's"),
                         "leave --uid out, or give 1000 or more")
        if u.name in RESERVED_USERS:
            report.error(at, f"user: {u.name!r} is a system account")
        if u.name in names:
            report.error(at, f"user: {u.name!r} is defined twice")
        names.add(u.name)
    for k in config.sshkeys:
        if k.username != "root" and k.username not in names:
            report.error("sshkey", f"sshkey for {k.username!r}, who is neither root nor a user of this kickstart")
        bad = rules.ssh_key(k.key.strip())
        rules.add(report, "sshkey", bad and rules.Bad(f"sshkey for {k.username}: {bad.message}", bad.hint))
    can_log_in = bool(rp.hash and not rp.locked) or any(k.username == "root" for k in config.sshkeys) or any(
        (u.password_hash and not u.locked) or any(k.username == u.name for k in config.sshkeys) for u in config.users)
    if not can_log_in:
        report.error("rootpw", "nobody could log in to the installed node",
                     "give root a password or an sshkey, or add a user with a password or key")


def check_locale(config: InstallConfig, report: ValidationReport) -> None:
    rules.add(report, "timezone", rules.timezone(config.time.timezone))
    for server in config.time.ntpservers:
        rules.add(report, "timesource", rules.host(server))
    rules.add(report, "keyboard", rules.keyboard(config.keyboard))
    if not re.fullmatch(r"[a-zA-Z]{2,3}(_[A-Z]{2})?(\.[A-Za-z0-9-]+)?(@\w+)?", config.lang):
        report.error("lang", f"{config.lang!r} is not a locale name", "e.g. en_US.UTF-8")


def check_bootloader(config: InstallConfig, report: ValidationReport) -> None:
    b = config.bootloader
    if b.timeout is not None and not 0 <= b.timeout <= 600:
        report.error("bootloader", f"--timeout={b.timeout} is outside 0-600 seconds")
    for arg in b.append.split():
        if arg.startswith(("inst.", "boot=live", "BOOTIF=")):
            report.error("bootloader", f"--append {arg!r} is an installer argument; the installed node "
                         "would reinstall or boot live")
    if b.location == "none":
        report.warning("bootloader", "--location=none: the node will not boot from its disk by itself")


def check_payload(config: InstallConfig, report: ValidationReport) -> None:
    p = config.payload
    if p.url and not re.fullmatch(r"(https?|file)://\S+", p.url):
        report.error("liveimg", f"--url={p.url!r}: only http://, https:// and file:// are supported")
    elif p.url.startswith("http://") and not p.checksum:
        # anyone on the path could hand the installer another root file system
        report.error("liveimg", "an image over plain http:// needs --checksum=SHA256",
                     "add --checksum (sha256sum of the image) or use https://")
    if p.checksum and not re.fullmatch(r"[0-9a-f]{64}", p.checksum):
        report.error("liveimg", "--checksum must be a SHA-256 (64 hex digits)")


def check_scripts(config: InstallConfig, report: ValidationReport) -> None:
    for s in config.scripts:
        if not s.interpreter.startswith("/"):
            report.error(_at(s.lineno), f"%{s.kind}: --interpreter must be an absolute path")
        if not s.body.strip():
            report.warning(_at(s.lineno), f"%{s.kind} is empty")
        if s.log and not s.log.startswith("/"):
            report.error(_at(s.lineno), f"%{s.kind}: --log must be an absolute path")


# node_setup's field paths -> the kickstart command they come from
_NODE_FIELDS = (("keyboard", "keyboard"), ("timezone", "timezone"), ("ntp_servers", "timesource"),
                ("hostname", "network.hostname"), ("ssh", "sshkey"))


def check_first_boot(config: InstallConfig, report: ValidationReport, facts: HostFacts | None = None) -> None:
    """node_setup's rules on the settings the install hands it (install step 7), checked now.

    Errors, and the network warnings (two default gateways, ...): node_setup's other warnings are
    about settings the installer makes elsewhere (the root password). A problem the kickstart's own
    checks already reported (the same words, or an error on the same line) is not repeated.
    """
    from node_setup import load_node_config
    from node_setup import validate as node_validate

    try:
        data = node_settings(config, facts, facts.kernel_cmdline if facts else "")
    except ValueError:
        return  # the kickstart checks name the malformed value (e.g. --bondopts=miimon=x)
    stage = ValidationReport()
    node = load_node_config(data, stage)
    if node is not None:
        stage.extend(node_validate(node))
    said = {p.message for p in report.errors} | {p.field for p in report.errors}
    for p in stage.errors:
        where = _kickstart_field(p.field, data, config)
        if p.message not in said and where not in said:
            report.error(where, p.message, p.hint)
            said.add(p.message)
    said |= {p.message for p in report.warnings}
    for p in stage.warnings:
        if p.field.startswith("network") and p.message not in said:
            report.warning(_kickstart_field(p.field, data, config), p.message, p.hint)
            said.add(p.message)


def _kickstart_field(path: str, data: dict[str, object], config: InstallConfig) -> str:
    for prefix, command in _NODE_FIELDS:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return command
    m = re.match(r"network\.(interfaces|bonds|vlans|bridges)\[(\d+)\]", path)
    if m:
        network = data["network"]
        assert isinstance(network, dict)
        name = network[m.group(1)][int(m.group(2))]["name"]
        for d in config.network.devices:
            if name in (d.device, d.connection_name) or name in d.bondslaves + d.bridgeslaves:
                return _at(d.lineno)
    line = next((d.lineno for d in config.network.devices if d.lineno), 0)
    return _at(line) if path.startswith("network") else f"first-boot settings: {path}"


def check_nics(config: InstallConfig, facts: HostFacts, report: ValidationReport) -> None:
    virtual = config.network.virtual_names
    for d in config.network.devices:
        names = [d.device] if d.kind in ("ethernet", "vlan") else list(d.bondslaves + d.bridgeslaves)
        for name in names:
            if name in ("link", "bootif", "") or name in virtual:
                continue
            if facts.nic(name) is None:
                known = ", ".join(f"{n.name} ({n.mac})" for n in facts.nics) or "none"
                report.error(_at(d.lineno), f"network: no NIC {name!r} on this machine", f"NICs: {known}")


__all__ = ["validate", "check_host", "FSTYPES"]
