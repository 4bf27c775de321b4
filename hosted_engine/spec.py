"""The hosted-engine spec: the engine VM, its network, its disk source, the Gluster engine volume,
the management bridge, sanlock. Frozen dataclasses + validation, every problem at once.

The YAML schema is the dataclasses below (nodecore.config reports type problems and unknown keys);
`validate()` adds the checks that judge values (the one rule per concept in nodecore.rules and
nodecore.inputs) and the cross-field ones (static needs an address, DHCP needs a MAC). The admin
password is never in the spec: `engine.admin_password_file` names a 0600 file that holds it, so a
spec can be printed, journaled and put into a plan as it is.
"""

from __future__ import annotations

import ipaddress
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Literal

from nodecore import rules
from nodecore.config import load_config, load_yaml_file
from nodecore.inputs import path_problem
from nodecore.report import ValidationReport

DEFAULT_APPLIANCE = "build/engine-appliance.qcow2"
DEFAULT_MOUNT_ROOT = "/mnt/glusterSD"  # gluster_setup's mount_root default: the same mount serves both
DEFAULT_BRIDGE = "ovirtmgmt"
MIN_MEMORY_MIB = 1024  # the appliance (Debian + PostgreSQL + the engine) boots in 1.5 GiB under TCG
MAX_MEMORY_MIB = 4 * 1024 * 1024
MAX_VCPUS = 256
MIN_DISK_GIB = 4
MAX_DISK_GIB = 64 * 1024
IO_TIMEOUT_RANGE = (1, 60)
# bookworm's `group virt` sets network.ping-timeout 20: sanlock kills a lease holder at
# 8 * io_timeout, which must stay well above it or one brick failure kills the engine VM
GLUSTER_PING_TIMEOUT = 20

VOLUME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
# the libvirt/qemu MAC prefix oVirt uses too (hosted-engine-setup's default 00:16:3e is Xen's OUI)
MAC_PREFIX = "52:54:00"
_UUID_NAMESPACE = uuid.UUID("9d3b3e64-0c55-4c4e-9d3f-6a1f6c1c5e01")


@dataclass(frozen=True)
class EngineSpec:
    fqdn: str
    # a file (mode 0600, owned by root) holding the engine's admin password: the deploy hashes it
    # for the seed and signs in with it to make this host's join token
    admin_password_file: str
    # one authorized_keys line for root on the engine VM (empty: no ssh login as root)
    root_ssh_key: str = ""
    # name -> address entries preflight accepts where DNS does not answer (labs, test harnesses);
    # they also go into the engine VM's /etc/hosts
    hosts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkSpec:
    mode: Literal["static", "dhcp"] = "static"
    ip: str = ""
    prefix: int = 24
    gateway: str = ""
    dns: tuple[str, ...] = ()
    # the engine VM's MAC (required for dhcp, so the DHCP server's reservation finds it; for static
    # the default is derived from the FQDN, the same on every run)
    mac: str = ""


@dataclass(frozen=True)
class VmSpec:
    memory_mib: int = 4096
    vcpus: int = 2
    disk_gib: int = 50


@dataclass(frozen=True)
class ApplianceSpec:
    path: str = DEFAULT_APPLIANCE
    url: str = ""  # http(s) URL; then sha256 is required
    sha256: str = ""


@dataclass(frozen=True)
class StorageSpec:
    server: str
    volume: str = "engine"
    backup_servers: tuple[str, ...] = ()
    mount_root: str = DEFAULT_MOUNT_ROOT


@dataclass(frozen=True)
class BondSpec:
    name: str
    slaves: tuple[str, ...]
    mode: str = "active-backup"


@dataclass(frozen=True)
class BridgeSpec:
    name: str = DEFAULT_BRIDGE
    # what the bridge sits on: a NIC, or a bond; optionally a VLAN on top of either
    nic: str = ""
    bond: BondSpec | None = None
    vlan: int = 0


@dataclass(frozen=True)
class SanlockSpec:
    io_timeout: int = 10


@dataclass(frozen=True)
class TestSpec:
    # run the engine VM under TCG (no KVM): test harnesses only, the engine is ~10x slower
    allow_tcg: bool = False


@dataclass(frozen=True)
class HostedEngineSpec:
    engine: EngineSpec
    network: NetworkSpec
    storage: StorageSpec
    bridge: BridgeSpec = field(default_factory=BridgeSpec)
    vm: VmSpec = field(default_factory=VmSpec)
    appliance: ApplianceSpec = field(default_factory=ApplianceSpec)
    sanlock: SanlockSpec = field(default_factory=SanlockSpec)
    test: TestSpec = field(default_factory=TestSpec)

    @property
    def deployment_uuid(self) -> str:
        """Stable for the same engine on the same volume: a re-run (or a resume) finds its directory."""
        key = f"{self.engine.fqdn.lower()}\0{self.storage.server}\0{self.storage.volume}"
        return str(uuid.uuid5(_UUID_NAMESPACE, key))

    @property
    def mac(self) -> str:
        if self.network.mac:
            return self.network.mac.lower()
        digest = uuid.uuid5(_UUID_NAMESPACE, "mac\0" + self.engine.fqdn.lower()).bytes
        return MAC_PREFIX + "".join(f":{b:02x}" for b in digest[:3])

    @property
    def mount_point(self) -> str:
        """Where the engine volume is mounted (gluster_setup's client mount of that volume)."""
        return f"{self.storage.mount_root.rstrip('/')}/{self.storage.volume}"

    @property
    def volume_source(self) -> str:
        return f"{self.storage.server}:/{self.storage.volume}"

    @property
    def appliance_path(self) -> str:
        """The appliance file on this host (a URL is downloaded next to the deployment's journal)."""
        return os.path.abspath(self.appliance.path)


def validate(spec: HostedEngineSpec, report: ValidationReport) -> None:
    """Value and cross-field checks; every problem goes to `report` with its field."""
    _check_engine(spec.engine, report)
    _check_network(spec.network, report)
    _check_vm(spec.vm, report)
    _check_appliance(spec.appliance, report)
    _check_storage(spec.storage, report)
    _check_bridge(spec.bridge, report)
    _check_sanlock(spec.sanlock, report)
    ip = spec.network.ip
    for name, address in spec.engine.hosts.items():
        if name.lower() == spec.engine.fqdn.lower() and spec.network.mode == "static" and ip and address != ip:
            report.error(f"engine.hosts.{name}", f"says {address}, but network.ip is {ip}",
                         "make the hosts entry and network.ip the same address")


def _check_engine(engine: EngineSpec, report: ValidationReport) -> None:
    rules.add(report, "engine.fqdn", rules.hostname(engine.fqdn))
    if "." not in engine.fqdn.strip("."):
        report.error("engine.fqdn", f"{engine.fqdn!r} is not fully qualified",
                     "write the engine's full DNS name, e.g. engine.example.com")
    problem = path_problem(engine.admin_password_file)
    if problem:
        report.error("engine.admin_password_file", problem,
                     "name a 0600 file holding the admin password (import-answers writes one)")
    if engine.root_ssh_key:
        rules.add(report, "engine.root_ssh_key", rules.ssh_key(engine.root_ssh_key))
    for name, address in engine.hosts.items():
        where = f"engine.hosts.{name}"
        if not rules.is_hostname(name):
            report.error(where, f"{name!r} is not a host name")
        rules.add(report, where, rules.ip_address(address))


def _check_network(net: NetworkSpec, report: ValidationReport) -> None:
    if net.mac:
        rules.add(report, "network.mac", rules.mac(net.mac))
    for i, server in enumerate(net.dns):
        rules.add(report, f"network.dns[{i}]", rules.ip_address(server))
    if net.mode == "dhcp":
        if not net.mac:
            report.error("network.mac", "DHCP needs the engine VM's MAC address",
                         "give the MAC the DHCP server reserves the engine's address for")
        for name in ("ip", "gateway"):
            if getattr(net, name):
                report.error(f"network.{name}", "is set, but network.mode is dhcp",
                             "remove it, or use mode: static")
        return
    if not net.ip:
        report.error("network.ip", "missing: a static network needs the engine VM's address",
                     "e.g. ip: 192.0.2.10, or mode: dhcp with a mac")
    else:
        rules.add(report, "network.ip", rules.ip_address(net.ip, 4))
    if not 8 <= net.prefix <= 30:
        report.error("network.prefix", f"/{net.prefix} is not a usable IPv4 prefix", "use 8..30, e.g. 24")
    if not net.gateway:
        report.error("network.gateway", "missing", "the default gateway of the engine's network")
    elif rules.ip_address(net.gateway, 4) is not None:
        rules.add(report, "network.gateway", rules.ip_address(net.gateway, 4))
    elif net.ip and rules.ip_address(net.ip, 4) is None and 8 <= net.prefix <= 30:
        subnet = ipaddress.ip_interface(f"{net.ip}/{net.prefix}").network
        if ipaddress.ip_address(net.gateway) not in subnet:
            report.error("network.gateway", f"{net.gateway} is outside {subnet}",
                         "the gateway must be on the engine's subnet")
        elif net.gateway == net.ip:
            report.error("network.gateway", "is the engine's own address")
        if ipaddress.ip_address(net.ip) in (subnet.network_address, subnet.broadcast_address):
            report.error("network.ip", f"{net.ip} is the network or broadcast address of {subnet}")
    if not net.dns:
        report.warning("network.dns", "no DNS servers: the engine resolves names only from its /etc/hosts")


def _check_vm(vm: VmSpec, report: ValidationReport) -> None:
    if not MIN_MEMORY_MIB <= vm.memory_mib <= MAX_MEMORY_MIB:
        report.error("vm.memory_mib", f"{vm.memory_mib} MiB is out of range",
                     f"use {MIN_MEMORY_MIB}..{MAX_MEMORY_MIB} (oVirt recommends 4096 or more)")
    if not 1 <= vm.vcpus <= MAX_VCPUS:
        report.error("vm.vcpus", f"{vm.vcpus} vCPUs is out of range", f"use 1..{MAX_VCPUS}")
    if not MIN_DISK_GIB <= vm.disk_gib <= MAX_DISK_GIB:
        report.error("vm.disk_gib", f"{vm.disk_gib} GiB is out of range",
                     f"use {MIN_DISK_GIB}..{MAX_DISK_GIB} (oVirt uses 50)")


def _check_appliance(app: ApplianceSpec, report: ValidationReport) -> None:
    if app.url:
        if not re.fullmatch(r"https?://[^\s/]+/\S+", app.url):
            report.error("appliance.url", f"{app.url!r} is not an http(s) URL of a file",
                         "e.g. https://mirror.example.com/engine-appliance.qcow2")
        if not app.sha256:
            report.error("appliance.sha256", "a downloaded appliance needs its sha256",
                         "copy it from the build's manifest.json")
    if app.sha256 and not _SHA256_RE.fullmatch(app.sha256):
        report.error("appliance.sha256", "is not a sha256 (64 lower-case hex digits)",
                     "as `sha256sum` prints it")
    if app.path != DEFAULT_APPLIANCE or not app.url:
        # a relative path (the default) is relative to the working directory, as make writes it
        absolute = app.path if app.path.startswith("/") else os.path.join(os.getcwd(), app.path)
        problem = path_problem(absolute) if app.path else "must not be empty"
        if problem or not app.path.endswith(".qcow2"):
            report.error("appliance.path", problem or f"{app.path!r} is not a .qcow2 file",
                         f"the engine appliance image, default {DEFAULT_APPLIANCE}")


def _check_storage(storage: StorageSpec, report: ValidationReport) -> None:
    rules.add(report, "storage.server", rules.host(storage.server))
    if not VOLUME_RE.fullmatch(storage.volume):
        report.error("storage.volume", f"{storage.volume!r} is not a Gluster volume name",
                     "letters, digits, _ . - (up to 64), e.g. engine")
    for i, server in enumerate(storage.backup_servers):
        rules.add(report, f"storage.backup_servers[{i}]", rules.host(server))
        if server == storage.server:
            report.error(f"storage.backup_servers[{i}]", f"{server} is the main server",
                         "list the volume's other servers")
    problem = path_problem(storage.mount_root)
    if problem:
        report.error("storage.mount_root", problem, f"default {DEFAULT_MOUNT_ROOT}")


def _check_bridge(bridge: BridgeSpec, report: ValidationReport) -> None:
    rules.add(report, "bridge.name", rules.ifname(bridge.name))
    if bool(bridge.nic) == (bridge.bond is not None):
        report.error("bridge.nic", "name exactly one of bridge.nic and bridge.bond",
                     "the NIC (or bond) the management bridge sits on")
    if bridge.nic:
        rules.add(report, "bridge.nic", rules.ifname(bridge.nic))
        if bridge.nic == bridge.name:
            report.error("bridge.nic", "is the bridge itself", "name the NIC under the bridge")
    if bridge.bond is not None:
        rules.add(report, "bridge.bond.name", rules.ifname(bridge.bond.name))
        rules.add(report, "bridge.bond.mode", rules.bond_mode(bridge.bond.mode))
        if not bridge.bond.slaves:
            report.error("bridge.bond.slaves", "a bond needs its NICs", "e.g. slaves: [eth0, eth1]")
        for i, nic in enumerate(bridge.bond.slaves):
            rules.add(report, f"bridge.bond.slaves[{i}]", rules.ifname(nic))
    if bridge.vlan:
        rules.add(report, "bridge.vlan", rules.vlan_id(bridge.vlan))


def _check_sanlock(sanlock: SanlockSpec, report: ValidationReport) -> None:
    low, high = IO_TIMEOUT_RANGE
    if not low <= sanlock.io_timeout <= high:
        report.error("sanlock.io_timeout", f"{sanlock.io_timeout} s is out of range",
                     f"use {low}..{high} (sanlock's default 10)")
    elif 8 * sanlock.io_timeout <= 2 * GLUSTER_PING_TIMEOUT:
        report.warning("sanlock.io_timeout", f"sanlock kills the engine VM {8 * sanlock.io_timeout} s after "
                       f"storage stops answering, close to Gluster's ping-timeout ({GLUSTER_PING_TIMEOUT} s)",
                       "use 10 outside test harnesses")


def parse_spec(data: object, source: str = "spec") -> tuple[HostedEngineSpec | None, ValidationReport]:
    """YAML data -> spec and a report with every problem (the spec is None if it has errors)."""
    report = ValidationReport(source)
    spec = load_config(HostedEngineSpec, data, report)
    if spec is not None:
        validate(spec, report)
    return (spec if report.ok else None), report


def load_spec(path: str) -> tuple[HostedEngineSpec, ValidationReport]:
    """Load and validate a spec file; raises InvalidInput with every problem; returns the warnings too."""
    spec, report = parse_spec(load_yaml_file(path), path)
    report.raise_if_errors()
    assert spec is not None
    return spec, report
