"""oVirt hosted-engine answer files (`hosted-engine --deploy --config-append=answers.conf`) -> a spec.

An answer file is otopi's environment in INI form: `[environment:default]` (or `:init`, `:override`,
`:enforce`; later sections win) with one `KEY=type:value` per line, type one of str, int, bool, none
(and otopi's multi-str, lines joined). `convert` maps the keys of MAPPED (the table in
docs/hosted-engine.md) onto the spec's fields; oVirt keys it has no use for (OVEHOSTED_NOTIF/...,
OVEHOSTED_VDSM/...) are returned as ignored, so the CLI can name them; a key that is not oVirt's, or
that looks like a misspelt mapped key, is an error naming it (exit 2). The admin password becomes a
0600 file the spec refers to: the spec on stdout never holds it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hosted_engine import layout
from hosted_engine.spec import DEFAULT_BRIDGE, parse_spec
from nodecore.report import ValidationReport
from nodecore.secrets import Secret

SECTION_RE = re.compile(r"\[environment:(default|init|override|enforce)\]")
LINE_RE = re.compile(r"(?P<key>[A-Za-z0-9_]+(?:/[A-Za-z0-9_.-]+)+)\s*=\s*(?P<type>[a-z-]+):(?P<value>.*)")
TYPES = ("str", "int", "bool", "none", "multi-str")
# the namespaces of ovirt-hosted-engine-setup's and otopi's environment: keys there that we do not map
# are oVirt's own settings (notifications, VDSM, the local bootstrap VM) and are ignored, named
OVIRT_PREFIXES = ("OVEHOSTED_", "OVESETUP_", "OTOPI_", "QUESTION/", "CORE/", "DIALOG/", "SYSTEM/", "NETWORK/",
                  "PACKAGER/", "COMMAND/", "LOG/", "INFO/")
PASSWORD_KEYS = ("OVEHOSTED_ENGINE/adminPassword", "QUESTION/1/ENGINE_ADMIN_PASSWORD")
# secrets we have no use for: their values are dropped at once (the engine VM gets no root password:
# root logs in with the key only)
DROPPED_SECRETS = ("OVEHOSTED_VM/cloudinitRootPwd", "QUESTION/1/CI_ROOT_PASSWORD")

# answer key -> the spec field(s) it fills (this table is docs/hosted-engine.md's)
MAPPED: dict[str, str] = {
    "OVEHOSTED_NETWORK/fqdn": "engine.fqdn",
    "OVEHOSTED_ENGINE/adminPassword": "engine.admin_password_file (the password goes to a 0600 file)",
    "QUESTION/1/ENGINE_ADMIN_PASSWORD": "engine.admin_password_file (as OVEHOSTED_ENGINE/adminPassword)",
    "OVEHOSTED_VM/rootSshPubkey": "engine.root_ssh_key",
    "OVEHOSTED_VM/cloudinitVMETCHOSTS": "engine.hosts (true: FQDN -> the static IP)",
    "OVEHOSTED_VM/cloudinitVMStaticCIDR": "network.ip and network.prefix (empty: network.mode dhcp)",
    "OVEHOSTED_NETWORK/gateway": "network.gateway",
    "OVEHOSTED_VM/cloudinitVMDNS": "network.dns (comma-separated)",
    "OVEHOSTED_VM/vmMACAddr": "network.mac",
    "OVEHOSTED_VM/vmMemSizeMB": "vm.memory_mib",
    "OVEHOSTED_VM/vmVCpus": "vm.vcpus",
    "OVEHOSTED_STORAGE/imgSizeGB": "vm.disk_gib",
    "OVEHOSTED_VM/ovfArchive": "appliance.path (a .qcow2; an OVA is ignored: the default appliance is used)",
    "OVEHOSTED_STORAGE/domainType": "(must be glusterfs)",
    "OVEHOSTED_STORAGE/storageDomainConnection": "storage.server and storage.volume (server:/volume)",
    "OVEHOSTED_STORAGE/mntOptions": "storage.backup_servers (backup-volfile-servers=a:b)",
    "OVEHOSTED_NETWORK/bridgeName": "bridge.name",
    "OVEHOSTED_NETWORK/bridgeIf": "bridge.nic and bridge.vlan (eth0, bond0 or eth0.100)",
}


@dataclass(frozen=True)
class Answer:
    key: str
    type: str
    value: Any  # str, int, bool or None; a password is a Secret
    line: int


@dataclass
class Conversion:
    spec: dict[str, Any] | None
    report: ValidationReport
    ignored: list[str] = field(default_factory=list)
    password: Secret | None = None


def parse_answers(text: str, source: str, report: ValidationReport) -> dict[str, Answer]:
    """The environment of an otopi answer file; problems (with their line) go to `report`."""
    answers: dict[str, Answer] = {}
    in_env = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            in_env = bool(SECTION_RE.fullmatch(line))
            if not in_env:
                report.warning(f"line {number}", f"section {line} is not an otopi environment section; "
                               "its keys are ignored", "answer files use [environment:default]")
            continue
        if not in_env:
            report.error(f"line {number}", "a key outside any [environment:...] section",
                         "put [environment:default] on the first line")
            continue
        match = LINE_RE.fullmatch(line)
        if not match:
            key = line.split("=", 1)[0].strip()
            report.error(key or f"line {number}", f"line {number} is not KEY=type:value",
                         "e.g. OVEHOSTED_NETWORK/fqdn=str:engine.example.com")
            continue
        key, kind, value = match["key"], match["type"], match["value"]
        secret = key in PASSWORD_KEYS or key in DROPPED_SECRETS
        parsed = _typed(key, kind, value, number, report, secret)
        if parsed is not _BAD:
            answers[key] = Answer(key, kind, parsed, number)
    return answers


_BAD = object()


def _typed(key: str, kind: str, value: str, number: int, report: ValidationReport, secret: bool) -> Any:
    if kind not in TYPES:
        report.error(key, f"line {number}: unknown otopi type {kind!r}", "use str:, int:, bool: or none:")
        return _BAD
    if secret:
        return Secret(value) if kind in ("str", "multi-str") and value else None
    if kind in ("str", "multi-str"):
        return value
    if kind == "none":
        return None
    if kind == "bool":
        if value not in ("True", "False"):
            report.error(key, f"line {number}: bool:{value} is not True or False")
            return _BAD
        return value == "True"
    try:
        return int(value)
    except ValueError:
        report.error(key, f"line {number}: int:{value} is not a whole number")
        return _BAD


def _int(answer: Answer, report: ValidationReport) -> int | None:
    """vmVCpus is a str in oVirt's own answer files, vmMemSizeMB an int or a str."""
    if isinstance(answer.value, int) and not isinstance(answer.value, bool):
        return answer.value
    if isinstance(answer.value, str) and answer.value.strip().isdigit():
        return int(answer.value)
    report.error(answer.key, f"{answer.value!r} is not a whole number")
    return None


def convert(text: str, source: str, password_file: str) -> Conversion:
    """Answer file text -> spec data (a dict ready for YAML) or the problems, each naming its key."""
    report = ValidationReport(source)
    answers = parse_answers(text, source, report)
    conversion = Conversion(None, report)
    for key in sorted(answers):
        if key in MAPPED or key in DROPPED_SECRETS:
            continue
        close = difflib.get_close_matches(key, list(MAPPED), n=1, cutoff=0.85)
        if close:
            report.error(key, "unknown key", f"did you mean {close[0]}?")
        elif key.startswith(OVIRT_PREFIXES):
            conversion.ignored.append(key)
        else:
            report.error(key, "unknown key: not an oVirt hosted-engine setting",
                         "remove it; docs/hosted-engine.md lists the keys that map")
    conversion.ignored.extend(k for k in DROPPED_SECRETS if k in answers)
    spec: dict[str, Any] = {"engine": {}, "network": {}, "vm": {}, "storage": {}, "bridge": {}}
    for key, apply in _APPLY.items():
        if key in answers:
            apply(answers[key], spec, report)
    for key in PASSWORD_KEYS:
        if key in answers and isinstance(answers[key].value, Secret):
            conversion.password = answers[key].value
    spec["engine"]["admin_password_file"] = password_file
    if answers.get("OVEHOSTED_VM/cloudinitVMETCHOSTS", Answer("", "", False, 0)).value is True and \
            spec["network"].get("ip") and spec["engine"].get("fqdn"):
        spec["engine"]["hosts"] = {spec["engine"]["fqdn"]: spec["network"]["ip"]}
    spec["bridge"].setdefault("name", DEFAULT_BRIDGE)
    spec = {k: v for k, v in spec.items() if v}
    if not report.ok:
        return conversion
    _, checked = parse_spec(spec, source)
    for problem in checked.problems:
        key = _key_for(problem.field)
        where = f"{key} (spec {problem.field})" if key else problem.field
        hint = problem.hint or (f"add {key} to the answer file" if key else "")
        if problem.severity == "error":
            report.error(where, problem.message, hint)
        else:
            report.warning(where, problem.message, hint)
    conversion.spec = spec if report.ok else None
    return conversion


def _key_for(spec_field: str) -> str:
    """The answer key that fills a spec field (for messages about the converted spec)."""
    top = spec_field.split("[")[0]
    for key, target in MAPPED.items():
        if key not in PASSWORD_KEYS[1:] and re.search(rf"\b{re.escape(top)}\b", target):
            return key
    return ""


def _set_fqdn(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    spec["engine"]["fqdn"] = a.value or ""


def _set_key(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value:
        spec["engine"]["root_ssh_key"] = a.value


def _set_cidr(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    value = (a.value or "").strip()
    if not value or value.lower() == "dhcp":
        spec["network"]["mode"] = "dhcp"
        return
    address, slash, prefix = value.partition("/")
    if not slash or not prefix.isdigit():
        report.error(a.key, f"{value!r} is not an address/prefix", "e.g. 192.0.2.10/24")
        return
    spec["network"].update({"mode": "static", "ip": address, "prefix": int(prefix)})


def _set_gateway(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value:
        spec["network"]["gateway"] = a.value


def _set_dns(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    servers = [s.strip() for s in (a.value or "").split(",") if s.strip()]
    if servers:
        spec["network"]["dns"] = servers


def _set_mac(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value:
        spec["network"]["mac"] = a.value


def _set_int(section: str, name: str) -> Callable[[Answer, dict[str, Any], ValidationReport], None]:
    def apply(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
        value = _int(a, report)
        if value is not None:
            spec[section][name] = value
    return apply


def _set_ovf(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value and str(a.value).endswith(".qcow2"):
        spec["appliance"] = {"path": a.value}
    elif a.value:
        report.warning(a.key, f"{a.value} is not a .qcow2 engine appliance (oVirt's OVA does not boot here)",
                       "the spec uses the default build/engine-appliance.qcow2")


def _set_domain_type(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value not in (None, "", "glusterfs"):
        report.error(a.key, f"storage type {a.value!r}: the hosted engine here runs on a Gluster volume",
                     "use domainType=str:glusterfs with storageDomainConnection=str:host1:/engine")


def _set_connection(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    server, sep, volume = (a.value or "").partition(":")
    volume = volume.lstrip("/")
    if not sep or not server or not volume or "/" in volume:
        report.error(a.key, f"{a.value!r} is not server:/volume", "e.g. host1.example.com:/engine")
        return
    spec["storage"].update({"server": server, "volume": volume})


def _set_mount_options(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    for option in (a.value or "").split(","):
        name, _, value = option.strip().partition("=")
        if name in ("backup-volfile-servers", "backupvolfile-server") and value:
            spec["storage"]["backup_servers"] = [s for s in value.split(":") if s]
        elif name:
            report.warning(a.key, f"mount option {name!r} is not used",
                           "the engine volume is mounted as gluster_setup mounts it")


def _set_bridge_name(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    if a.value:
        spec["bridge"]["name"] = a.value


def _set_bridge_if(a: Answer, spec: dict[str, Any], report: ValidationReport) -> None:
    device = a.value or ""
    base, dot, vid = device.rpartition(".")
    if dot and vid.isdigit() and base:
        spec["bridge"].update({"nic": base, "vlan": int(vid)})
    elif device:
        spec["bridge"]["nic"] = device


_APPLY: Mapping[str, Callable[[Answer, dict[str, Any], ValidationReport], None]] = {
    "OVEHOSTED_NETWORK/fqdn": _set_fqdn,
    "OVEHOSTED_VM/rootSshPubkey": _set_key,
    "OVEHOSTED_VM/cloudinitVMStaticCIDR": _set_cidr,
    "OVEHOSTED_NETWORK/gateway": _set_gateway,
    "OVEHOSTED_VM/cloudinitVMDNS": _set_dns,
    "OVEHOSTED_VM/vmMACAddr": _set_mac,
    "OVEHOSTED_VM/vmMemSizeMB": _set_int("vm", "memory_mib"),
    "OVEHOSTED_VM/vmVCpus": _set_int("vm", "vcpus"),
    "OVEHOSTED_STORAGE/imgSizeGB": _set_int("vm", "disk_gib"),
    "OVEHOSTED_VM/ovfArchive": _set_ovf,
    "OVEHOSTED_STORAGE/domainType": _set_domain_type,
    "OVEHOSTED_STORAGE/storageDomainConnection": _set_connection,
    "OVEHOSTED_STORAGE/mntOptions": _set_mount_options,
    "OVEHOSTED_NETWORK/bridgeName": _set_bridge_name,
    "OVEHOSTED_NETWORK/bridgeIf": _set_bridge_if,
}


def default_password_file() -> str:
    return os.path.join(layout.host_state_dir(), "admin-password")


def write_password_file(path: str, password: Secret) -> None:
    """The password alone, mode 0600 from the first byte (never a moment readable by others)."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, password.reveal().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def render(spec: Mapping[str, Any], source: str) -> str:
    head = (f"# hosted-engine spec converted from the oVirt answer file {source}\n"
            "# (hcinode hosted-engine import-answers; docs/hosted-engine.md). Review it, then:\n"
            "#   hcinode hosted-engine deploy THIS-FILE --dry-run\n")
    return head + yaml.safe_dump(dict(spec), sort_keys=False, default_flow_style=False, width=4096)
