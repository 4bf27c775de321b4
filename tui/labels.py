"""What the console calls a ValidationReport field: the label the technician sees on the page,
with 1-based positions ("network.dns.servers[1]" -> "DNS server 2", "disks" -> "Target disks").

Every page shows problems through `problem_text` (a field's own error line, the form's message
area, the summary, the "not valid" dialogs), so a problem reads the same wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from nodecore.report import Problem, ValidationReport

# path (indices removed) -> (label of the whole, label of one item); "" : the item label is the whole's
LABELS: dict[str, tuple[str, str]] = {
    "disks": ("Target disks", "Target disk"), "ignoredisk": ("Target disks", ""), "clearpart": ("Target disks", ""),
    "storage": ("Storage", ""), "autopart": ("Storage", ""), "bootloader": ("Boot loader", ""),
    "liveimg": ("Install image", ""), "kickstart": ("Installer", ""), "lang": ("Language", ""),
    "hostname": ("Hostname", ""), "timezone": ("Time zone", ""), "keyboard": ("Keyboard layout", ""),
    "timesource": ("NTP servers", "NTP server"), "ntp_servers": ("NTP servers", "NTP server"),
    "ntp": ("NTP servers", "NTP server"),
    "rootpw": ("Admin password", ""), "admin_password": ("Admin password", ""), "password": ("Admin password", ""),
    "confirm": ("Again", ""), "sshkey": ("SSH keys", "SSH key"), "ssh": ("SSH", ""),
    "ssh.authorized_keys": ("Authorized keys", "Authorized key"), "keys": ("Authorized keys", "Authorized key"),
    "ssh.password_login": ("Password login", ""), "ssh.enabled": ("SSH server on", ""),
    "syslog.host": ("Syslog server", ""), "syslog.port": ("Syslog port", ""),
    "network": ("Network", ""), "nic": ("NIC", ""), "bootproto": ("IPv4", ""),
    "address": ("IPv4 address", ""), "gateway": ("IPv4 gateway", ""),
    "dns": ("DNS servers", "DNS server"), "dns.servers": ("DNS servers", "DNS server"),
    "servers": ("DNS servers", "DNS server"), "dns.search": ("Search domains", "Search domain"),
    "search": ("Search domains", "Search domain"),
    "check.hosts": ("Hosts to ping", "Host to ping"), "check.resolve": ("Name to resolve", ""),
    "check.timeout": ("Check timeout", ""),
    # within one device
    "ipv4": ("IPv4", ""), "ipv6": ("IPv6", ""), "ipv4.addresses": ("IPv4 address", "IPv4 address"),
    "ipv6.addresses": ("IPv6 address", "IPv6 address"), "ipv4.gateway": ("IPv4 gateway", ""),
    "ipv6.gateway": ("IPv6 gateway", ""), "ipv4.routes": ("IPv4 routes", "IPv4 route"),
    "ipv6.routes": ("IPv6 routes", "IPv6 route"), "mtu": ("MTU", ""), "id": ("VLAN id", ""),
    "parent": ("Parent", ""), "name": ("Name", ""), "mode": ("Mode", ""), "slaves": ("Slaves", "Slave"),
    "ports": ("Ports", "Port"), "mac": ("MAC", ""), "miimon": ("Link check interval", ""),
    "options": ("Bond options", ""), "stp": ("STP", ""), "forward_delay": ("Forward delay", ""),
}
DEVICE_KINDS = {"interfaces": "NIC", "bonds": "Bond", "vlans": "VLAN", "bridges": "Bridge"}
_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


def device_names(network: Any) -> dict[str, str]:
    """"interfaces[0]" -> "eno1" for a node_setup NetworkConfig (problems then name the device)."""
    return {f"{kind}[{i}]": dev.name for kind in DEVICE_KINDS for i, dev in enumerate(getattr(network, kind, ()))}


def field_label(path: str, devices: Mapping[str, str] | None = None) -> str:
    """The label for a report field path, positions counted from 1."""
    if path.startswith("kickstart:"):
        return f"Kickstart line {path.split(':', 1)[1]}"
    if path.startswith("--"):
        return path
    parts = [(m[1], [int(i) for i in re.findall(r"\d+", m[2])]) for m in _PART.finditer(path)]
    if len(parts) > 1 and parts[0] == ("network", []):
        parts = parts[1:]
    words: list[str] = []
    named = False  # a device name starts the label: keep its case ("eno1 MTU")
    if parts and parts[0][0] in DEVICE_KINDS and parts[0][1]:
        kind, (index, *_rest) = parts[0]
        name = (devices or {}).get(f"{kind}[{index}]")
        words.append(name or f"{DEVICE_KINDS[kind]} {index + 1}")
        named = bool(name)
        parts = parts[1:]
    while parts:
        for n in range(len(parts), 0, -1):  # the longest known prefix
            key = ".".join(name for name, _ in parts[:n])
            if key in LABELS:
                whole, one = LABELS[key]
                indices = parts[n - 1][1]
                words.append(f"{one or whole} {indices[0] + 1}" if indices else whole)
                parts = parts[n:]
                break
        else:
            name, indices = parts.pop(0)
            words.append(name.replace("_", " ") + "".join(f" {i + 1}" for i in indices))
    text = " ".join(words) or path
    return text if named else text[:1].upper() + text[1:]


def item_label(path: str) -> str:
    """The label of one item of a list field ("network.dns.servers[1]" -> "DNS server 2"), for an
    error shown under that field; "" when the path is not one item of a list."""
    if not path.endswith("]"):
        return ""
    tail = re.sub(r"^(network\.)?((interfaces|bonds|vlans|bridges)\[\d+\]\.)?", "", path)
    return field_label(tail)


def problem_text(problem: Problem, devices: Mapping[str, str] | None = None, with_label: bool = True) -> str:
    """"Target disks: choose at least one disk"; a warning says so ("Warning: Hostname: ...")."""
    text = problem.message + (f" ({problem.hint})" if problem.hint else "")
    if with_label and problem.field:
        text = f"{field_label(problem.field, devices)}: {text}"
    return text if problem.severity == "error" else f"Warning: {text}"


def report_lines(report: ValidationReport | Iterable[Problem], devices: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of a report as the console shows it, errors first."""
    problems = list(report)
    ordered = [p for p in problems if p.severity == "error"] + [p for p in problems if p.severity != "error"]
    return [problem_text(p, devices) for p in ordered]
