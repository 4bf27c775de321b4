"""Preflight of a hosted-engine deploy: read-only probes through a Runner, then one pure check.

`probe(spec, runner)` asks this host everything the deploy depends on (read-only commands only) and
returns `Facts`; `check(spec, facts)` turns them into one ValidationReport with every problem (exit 2,
nothing changed) and the `PlanFacts` the plan needs. Unit tests drive `probe` with a RecordingRunner
and `check` with hand-made Facts.

A re-run of the same deploy is a resume, not a conflict: when this host already runs this
deployment's engine VM, the checks that the VM itself would fail (the IP answers, the lease is held,
the memory is in use) are skipped. Another deployment on the volume, or this host serving another
one, is an error: clean it up, or deploy with its spec.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from gluster_setup.status import Volume, parse_status_detail, parse_volume_info
from hosted_engine import layout
from hosted_engine.domain import DomainType
from hosted_engine.plan import PlanFacts
from hosted_engine.spec import HostedEngineSpec
from nodecore.config import human_size
from nodecore.report import ValidationReport
from nodecore.runner import Runner

MIB = 1024 * 1024
GIB = 1024 * MIB
MEMORY_MARGIN = 512 * MIB  # what the host keeps beside the engine VM (DESIGN.md)
DISK_MARGIN = 1 * GIB  # lockspace, lease, metadata, seed and the qcow2's own metadata
QEMU_CONF = "/etc/libvirt/qemu.conf"
QEMU_SANLOCK_CONF = "/etc/libvirt/qemu-sanlock.conf"
REQUIRED_OPTIONS = {"performance.strict-o-direct": "on", "network.remote-dio": ("off", "disable")}


@dataclass
class Facts:
    forward: list[str] = field(default_factory=list)  # addresses the engine FQDN resolves to here
    reverse: list[str] = field(default_factory=list)  # names the engine IP resolves back to
    ip_answers: bool = False
    gateway_answers: bool = False
    links: list[str] = field(default_factory=list)
    volume: Volume | None = None
    volume_options: dict[str, str] = field(default_factory=dict)
    bricks: dict[str, dict[str, object]] = field(default_factory=dict)  # status detail per brick
    local_sector_sizes: list[int] = field(default_factory=list)
    memory_available: int = 0
    kvm_device: bool = False
    kvm_works: bool | None = None  # nodecore.kvmprobe's cached answer
    libvirtd: bool = False
    sanlock: bool = False
    sanlock_status: str = ""
    domain_state: str = ""  # of HostedEngine on this host ("" when not defined)
    domain_deployment: str = ""  # the deployment uuid in its metadata
    appliance_exists: bool = False
    appliance_sha256: str = ""
    appliance_virtual_size: int = 0
    password_mode: int | None = None  # None: no such file
    password_problem: str = ""
    mounted_source: str = ""  # what is mounted on the spec's mount point
    deployments_on_volume: list[str] = field(default_factory=list)
    host_state: dict[str, object] = field(default_factory=dict)
    qemu_conf: str = ""  # libvirt's qemu.conf: lock_manager must be sanlock
    qemu_sanlock_conf: str = ""  # auto_disk_leases must be 0 (the lease is the domain XML's <lease>)


def parse_volume_options(xml_text: str, volume: str) -> dict[str, str]:
    """The reconfigured options of one volume in `gluster volume info --xml` (gluster_setup's parser
    reads the layout, not the options)."""
    root = ET.fromstring(xml_text.strip() or "<cliOutput/>")
    for v in root.iter("volume"):
        if v.findtext("name") == volume and v.find("options") is not None:
            return {o.findtext("name", ""): o.findtext("value", "") for o in v.iter("option")}
    return {}


def memory_available(meminfo: str) -> int:
    """MemAvailable (what a new VM can get without swapping; nodecore.facts reads MemTotal)."""
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", meminfo, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def _ok(runner: Runner, argv: list[str], timeout: float = 30) -> bool:
    return runner.run(argv, check=False, timeout=timeout).ok


def _out(runner: Runner, argv: list[str], timeout: float = 30) -> str:
    result = runner.run(argv, check=False, timeout=timeout)
    return result.stdout if result.ok else ""


def probe(spec: HostedEngineSpec, runner: Runner, state_file: str | None = None) -> Facts:
    """Read-only: resolution, addresses, links, the volume, memory, virtualization, daemons, files."""
    from nodecore import kvmprobe

    facts = Facts()
    net = spec.network
    facts.forward = sorted({line.split()[0] for line in
                            _out(runner, ["getent", "ahostsv4", spec.engine.fqdn]).splitlines() if line.split()})
    if net.mode == "static":
        facts.reverse = _out(runner, ["getent", "hosts", net.ip]).split()[1:]
        facts.ip_answers = _ok(runner, ["ping", "-c", "1", "-W", "1", "-n", net.ip])
        facts.gateway_answers = _ok(runner, ["ping", "-c", "2", "-W", "2", "-n", net.gateway])
    try:
        facts.links = [str(link.get("ifname")) for link in json.loads(_out(runner, ["ip", "-j", "link", "show"])
                                                                       or "[]")]
    except ValueError:
        facts.links = []
    info = _out(runner, ["gluster", "volume", "info", spec.storage.volume, "--xml"], timeout=60)
    volumes = [v for v in parse_volume_info(info) if v.name == spec.storage.volume] if info else []
    facts.volume = volumes[0] if volumes else None
    facts.volume_options = parse_volume_options(info, spec.storage.volume) if info else {}
    status = _out(runner, ["gluster", "volume", "status", spec.storage.volume, "detail", "--xml"], timeout=60)
    facts.bricks = parse_status_detail(status) if status else {}
    facts.local_sector_sizes = _local_sector_sizes(runner, status)
    facts.memory_available = memory_available(_out(runner, ["cat", "/proc/meminfo"]))
    facts.kvm_device = _ok(runner, ["test", "-c", "/dev/kvm"])
    facts.kvm_works = kvmprobe.cached_result() if facts.kvm_device else False
    facts.libvirtd = _ok(runner, ["virsh", "uri"], timeout=60)
    sanlock = runner.run(["sanlock", "client", "status"], check=False, timeout=30)
    facts.sanlock, facts.sanlock_status = sanlock.ok, sanlock.stdout if sanlock.ok else ""
    facts.domain_state = _out(runner, ["virsh", "domstate", layout.DOMAIN_NAME]).strip()
    if facts.domain_state:
        match = re.search(r'deployment="([0-9a-f-]+)"', _out(runner, ["virsh", "dumpxml", layout.DOMAIN_NAME]))
        facts.domain_deployment = match.group(1) if match else ""
    if not spec.appliance.url:
        path = spec.appliance_path
        facts.appliance_exists = _ok(runner, ["test", "-f", path])
        if facts.appliance_exists:
            if spec.appliance.sha256:
                facts.appliance_sha256 = (_out(runner, ["sha256sum", path], timeout=1800).split() or [""])[0]
            try:
                facts.appliance_virtual_size = int(json.loads(
                    _out(runner, ["qemu-img", "info", "-U", "--output=json", path]) or "{}").get("virtual-size", 0))
            except ValueError:
                facts.appliance_virtual_size = 0
    mode = _out(runner, ["stat", "-c", "%a", spec.engine.admin_password_file]).strip()
    facts.password_mode = int(mode, 8) if re.fullmatch(r"[0-7]{3,4}", mode) else None
    if facts.password_mode is not None:
        facts.password_problem = _password_problem(runner, spec.engine.admin_password_file)
    mounts = _out(runner, ["findmnt", "-n", "-o", "SOURCE", "--mountpoint", spec.mount_point]).strip()
    facts.mounted_source = mounts
    if mounts:
        top = os.path.join(spec.mount_point, layout.TOP_DIR)
        facts.deployments_on_volume = sorted(_out(runner, ["ls", "-1", top]).split())
    facts.qemu_conf = _read(runner, QEMU_CONF)
    facts.qemu_sanlock_conf = _read(runner, QEMU_SANLOCK_CONF)
    if state_file:
        try:
            facts.host_state = json.loads(runner.read_file(state_file))
        except (OSError, ValueError):
            facts.host_state = {}
    return facts


def _read(runner: Runner, path: str) -> str:
    try:
        return runner.read_file(path).decode("utf-8", "replace")
    except OSError:
        return ""


def conf_value(text: str, key: str) -> str:
    """The value of `key = value` in a libvirt config file (the last uncommented one wins)."""
    values = re.findall(rf"^\s*{re.escape(key)}\s*=\s*\"?([^\"\s#]*)\"?", text, re.MULTILINE)
    return values[-1] if values else ""


def _password_problem(runner: Runner, path: str) -> str:
    """The engine's admin password policy on the file's content (read in process, never printed)."""
    from engine.auth import password_policy_problem
    from nodecore.secrets import Secret

    try:
        password = Secret(runner.read_file(path).decode("utf-8").rstrip("\n"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read: {exc}"
    return password_policy_problem(password.reveal())


def _local_sector_sizes(runner: Runner, status_xml: str) -> list[int]:
    """Logical sector sizes of this host's bricks of the volume (gluster's status names each device)."""
    if not status_xml:
        return []
    root = ET.fromstring(status_xml.strip())
    sizes = []
    for node in root.iter("node"):
        device = node.findtext("device", "")
        if not device.startswith("/dev/") or not _ok(runner, ["test", "-b", device]):
            continue
        size = _out(runner, ["blockdev", "--getss", device]).strip()
        if size.isdigit():
            sizes.append(int(size))
    return sizes


def ours_running(spec: HostedEngineSpec, facts: Facts) -> bool:
    return facts.domain_state == "running" and facts.domain_deployment == spec.deployment_uuid


def check(spec: HostedEngineSpec, facts: Facts, state_dir: str) -> tuple[ValidationReport, PlanFacts]:
    """Pure: every problem at once, and what the plan needs (sector size, domain type, bridge)."""
    report = ValidationReport("preflight")
    resuming = ours_running(spec, facts)
    _check_names(spec, facts, report, resuming)
    _check_bridge(spec, facts, report)
    _check_volume(spec, facts, report)
    sector = _sector_size(facts, report)
    domain_type = _check_host(spec, facts, report, resuming)
    _check_files(spec, facts, report)
    _check_deployments(spec, facts, report, resuming)
    bridge_exists = spec.bridge.name in facts.links
    return report, PlanFacts(domain_type=domain_type, sector_size=sector, bridge_exists=bridge_exists,
                             state_dir=state_dir)


def _check_names(spec: HostedEngineSpec, facts: Facts, report: ValidationReport, resuming: bool) -> None:
    fqdn, net = spec.engine.fqdn, spec.network
    entry = {k.lower(): v for k, v in spec.engine.hosts.items()}.get(fqdn.lower())
    if net.mode == "dhcp":
        if not facts.forward and not entry:
            report.error("engine.fqdn", f"{fqdn} does not resolve", "add it to DNS (with the DHCP reservation's "
                         "address) or to engine.hosts")
        return
    if entry:
        pass  # the spec's hosts entry (the plan adds it to /etc/hosts) decides; it must equal network.ip
    elif not facts.forward:
        report.error("engine.fqdn", f"{fqdn} does not resolve on this host",
                     f"add '{net.ip} {fqdn}' to DNS (A and PTR records), or to engine.hosts in the spec")
    elif net.ip not in facts.forward:
        report.error("engine.fqdn", f"{fqdn} resolves to {', '.join(facts.forward)}, not to network.ip {net.ip}",
                     "fix the DNS A record or network.ip")
    if not entry and facts.forward and fqdn.lower() not in [n.lower().rstrip(".") for n in facts.reverse]:
        shown = ", ".join(facts.reverse) or "nothing"
        report.error("network.ip", f"{net.ip} resolves back to {shown}, not to {fqdn}",
                     "add the PTR record, or an engine.hosts entry")
    if facts.ip_answers and not resuming:
        report.error("network.ip", f"{net.ip} is in use: something answers ping there",
                     "pick a free address for the engine VM")
    if not facts.gateway_answers:
        report.error("network.gateway", f"the gateway {net.gateway} does not answer ping from this host",
                     "check the address and the management network")


def _check_bridge(spec: HostedEngineSpec, facts: Facts, report: ValidationReport) -> None:
    bridge = spec.bridge
    if bridge.name in facts.links:
        return
    under = [bridge.nic] if bridge.nic else list(bridge.bond.slaves if bridge.bond else ())
    if bridge.nic and bridge.bond is None and bridge.nic in facts.links:
        return
    missing = [n for n in under if n not in facts.links]
    if missing:
        field_name = "bridge.nic" if bridge.nic else "bridge.bond.slaves"
        report.error(field_name, f"{bridge.name} does not exist and {', '.join(missing)} is not a link of this host",
                     "links here: " + (", ".join(facts.links) or "none"))


def _check_volume(spec: HostedEngineSpec, facts: Facts, report: ValidationReport) -> None:
    vol, name = facts.volume, spec.storage.volume
    if vol is None:
        report.error("storage.volume", f"volume {name} is not known to glusterd on this host",
                     "run `hcinode gluster deploy` first, or check storage.volume and that glusterd runs")
        return
    replica_ok = vol.replica == 3 or (vol.replica == 2 and vol.arbiter == 1) or \
        (vol.replica == 3 and vol.arbiter == 1)
    if not replica_ok:
        report.error("storage.volume", f"{name} is {vol.type} with replica {vol.replica}, arbiter {vol.arbiter}",
                     "the engine volume must be replica 3 (or replica 3 arbiter 1)")
    if vol.status != "Started":
        report.error("storage.volume", f"{name} is {vol.status or 'not started'}",
                     f"gluster volume start {name}")
    for option, wanted in REQUIRED_OPTIONS.items():
        values = wanted if isinstance(wanted, tuple) else (wanted,)
        got = facts.volume_options.get(option, "")
        if got not in values:
            report.error("storage.volume", f"{name} has {option}={got or '(default)'}, not {values[0]}",
                         f"gluster volume set {name} group virt (or {option} {values[0]})")
    down = [b.name for b in vol.bricks if not (facts.bricks.get(b.name) or {}).get("online")]
    if down:
        report.error("storage.volume", f"bricks of {name} are down: {', '.join(down)}",
                     "start glusterd on their hosts (gluster volume status)")
    free = [int(str((facts.bricks.get(b.name) or {}).get("size_free") or 0)) for b in vol.bricks
            if not b.arbiter and b.name not in down]
    needed = spec.vm.disk_gib * GIB + DISK_MARGIN
    if free and min(free) < needed:
        report.error("vm.disk_gib", f"{name} has {human_size(min(free))} free, the engine needs {human_size(needed)}",
                     "make vm.disk_gib smaller or the volume larger")


def _sector_size(facts: Facts, report: ValidationReport) -> int:
    sizes = sorted(set(facts.local_sector_sizes))
    if len(sizes) > 1:
        report.error("storage.volume", f"this host's bricks mix sector sizes {sizes}",
                     "do not mix 512-byte and 4Kn disks in one volume")
    if not sizes:
        # 4096 works on 512-byte storage too; 512 on a 4Kn brick would not
        report.warning("storage.volume", "no brick of the volume on this host: the sector size is unknown",
                       "the sanlock files are written with 4096-byte sectors")
        return 4096
    return max(sizes)


def _check_host(spec: HostedEngineSpec, facts: Facts, report: ValidationReport, resuming: bool) -> DomainType:
    needed = spec.vm.memory_mib * MIB + MEMORY_MARGIN
    if not resuming and facts.memory_available < needed:
        report.error("vm.memory_mib", f"this host has {human_size(facts.memory_available)} available, the engine "
                     f"VM needs {human_size(needed)} (its memory + 512 MiB)",
                     "make vm.memory_mib smaller or free memory")
    kvm = facts.kvm_device and facts.kvm_works is not False
    if not kvm and not spec.test.allow_tcg:
        why = "no /dev/kvm" if not facts.kvm_device else "KVM does not boot guests here (nodecore.kvmprobe)"
        report.error("test.allow_tcg", f"no hardware virtualization: {why}",
                     "enable VT-x/AMD-V in the firmware; TCG (test.allow_tcg: true) is for test harnesses only")
    elif not kvm:
        report.warning("test.allow_tcg", "the engine VM runs under TCG (emulation): test use only")
    if not facts.libvirtd:
        report.error("(host)", "libvirtd does not answer (virsh uri)", "systemctl start libvirtd")
    if not facts.sanlock:
        report.error("(host)", "the sanlock daemon does not answer (sanlock client status)",
                     "systemctl start sanlock (and wdmd)")
    if conf_value(facts.qemu_conf, "lock_manager") != "sanlock":
        report.error("(host)", f"libvirt does not use the sanlock lock manager ({QEMU_CONF}): the VM lease "
                     "would not be enforced and two hosts could run the engine",
                     f'set lock_manager = "sanlock" in {QEMU_CONF} (package libvirt-sanlock), restart libvirtd')
    if conf_value(facts.qemu_sanlock_conf, "auto_disk_leases") != "0":
        report.error("(host)", f"{QEMU_SANLOCK_CONF} does not set auto_disk_leases = 0",
                     "set auto_disk_leases = 0 and require_lease_for_disks = 0 (the engine's lease is its <lease>)")
    lease = f"r {layout.LOCKSPACE_NAME}:{layout.VM_LEASE_NAME}:"
    if lease in facts.sanlock_status and not resuming:
        report.error("(host)", "this host holds the engine VM lease already, but runs no engine of this spec",
                     "hcinode hosted-engine status; clean the other deployment up first")
    if facts.domain_state and not resuming and facts.domain_deployment != spec.deployment_uuid:
        report.error("(host)", f"a libvirt domain {layout.DOMAIN_NAME} of another deployment exists here "
                     f"({facts.domain_state})", "hcinode hosted-engine cleanup --yes-destroy-data with its spec")
    return "kvm" if kvm else "qemu"


def _check_files(spec: HostedEngineSpec, facts: Facts, report: ValidationReport) -> None:
    if facts.password_mode is None:
        report.error("engine.admin_password_file", f"{spec.engine.admin_password_file} does not exist",
                     "write the admin password into it (one line, mode 0600)")
    elif facts.password_mode & 0o077:
        report.error("engine.admin_password_file", f"{spec.engine.admin_password_file} is mode "
                     f"{facts.password_mode:o}: others may read it", f"chmod 0600 {spec.engine.admin_password_file}")
    elif facts.password_problem:
        report.error("engine.admin_password_file", facts.password_problem, "write a stronger password into the file")
    if spec.appliance.url:
        return
    if not facts.appliance_exists:
        report.error("appliance.path", f"{spec.appliance_path} does not exist",
                     "make appliance (build/engine-appliance.qcow2), or set appliance.path or appliance.url")
        return
    if spec.appliance.sha256 and facts.appliance_sha256 != spec.appliance.sha256:
        report.error("appliance.sha256", f"{spec.appliance_path} has sha256 {facts.appliance_sha256[:16]}..., "
                     f"not {spec.appliance.sha256[:16]}...", "the file is damaged or another build: fetch it again")
    if facts.appliance_virtual_size > spec.vm.disk_gib * GIB:
        report.error("vm.disk_gib", f"the appliance's disk is {human_size(facts.appliance_virtual_size)}, larger than "
                     f"{spec.vm.disk_gib} GiB", "make vm.disk_gib at least the appliance's size")


def _check_deployments(spec: HostedEngineSpec, facts: Facts, report: ValidationReport, resuming: bool) -> None:
    if facts.mounted_source and facts.mounted_source != spec.volume_source and \
            not facts.mounted_source.endswith(f":/{spec.storage.volume}"):
        report.error("storage.mount_root", f"{spec.mount_point} already mounts {facts.mounted_source}",
                     "unmount it or choose another mount_root")
    others = [d for d in facts.deployments_on_volume if d != spec.deployment_uuid]
    if others:
        report.error("storage.volume", f"the volume holds another hosted-engine deployment: {', '.join(others)}",
                     "deploy with that deployment's spec (a re-run resumes it), or clean it up first")
    served = str(facts.host_state.get("deployment") or "")
    if served and served != spec.deployment_uuid:
        report.error("(host)", f"this host serves the hosted-engine deployment {served} already",
                     "clean it up first (hcinode hosted-engine cleanup --yes-destroy-data)")
    if spec.deployment_uuid in facts.deployments_on_volume and not served and not resuming:
        report.warning("(deployment)", f"an earlier deploy of this spec stopped part way ({spec.deployment_uuid})",
                       "this run resumes it")
