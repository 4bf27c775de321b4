"""Preflight: read-only checks on every host, all problems at once, before anything is written.

Each host is probed in parallel with a handful of read-only commands; the findings become one
ValidationReport. Disks that already belong to this deployment (a PV of its VG, or with
lvm: false an XFS brick mounted where the spec puts it) count as ours, so a re-run passes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gluster_setup.plan import brick_mount, client_mount
from gluster_setup.spec import GlusterSpec, HostSpec
from nodecore.config import human_size
from nodecore.report import ValidationReport
from nodecore.runner import Runner

MAX_CLOCK_SKEW = 5.0  # seconds; Gluster's locks, heal and geo-replication want synced clocks
GLUSTER_PORTS = "24007"
TOOLS_LVM = ("pvcreate", "vgcreate", "lvcreate", "lvs", "mkfs.xfs", "blkid", "wipefs")
TOOLS = ("gluster", "mkfs.xfs", "blkid", "wipefs", "mountpoint", "lsblk")


@dataclass
class HostProbe:
    host: HostSpec
    reachable: bool = False
    error: str = ""
    blockdevs: list[dict[str, Any]] = field(default_factory=list)
    pv_vg: dict[str, str] = field(default_factory=dict)  # device -> VG name
    gluster_version: str = ""
    glusterd_running: bool = False
    clock: float = 0.0
    clock_taken: float = 0.0  # our clock when the host's was read
    resolved: dict[str, str] = field(default_factory=dict)  # name -> address
    missing_tools: list[str] = field(default_factory=list)
    device_mapper: bool = True
    firewall: str = ""
    mounts: dict[str, str] = field(default_factory=dict)  # mountpoint -> source
    signatures: dict[str, str] = field(default_factory=dict)  # disk -> what blkid -p finds (xfs, gpt, ...)


def _flatten(devices: Sequence[Mapping[str, Any]], parent: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for dev in devices:
        entry = dict(dev)
        entry["parent"] = parent
        out.append(entry)
        out.extend(_flatten(dev.get("children") or [], str(dev.get("path") or "")))
    return out


def probe_host(spec: GlusterSpec, host: HostSpec, runner: Runner) -> HostProbe:
    probe = HostProbe(host)
    first = runner.run(["true"], check=False, timeout=30)
    if not first.ok:
        probe.error = (first.stderr.strip().splitlines() or [f"exit code {first.returncode}"])[-1]
        return probe
    probe.reachable = True
    tools = TOOLS_LVM + TOOLS if spec.lvm else TOOLS
    missing = runner.run(["sh", "-c", "for t in " + " ".join(sorted(set(tools))) +
                          "; do command -v $t >/dev/null || echo $t; done"], check=False)
    probe.missing_tools = missing.stdout.split()
    lsblk = runner.run(["lsblk", "--json", "--bytes", "--paths", "-o",
                        "NAME,PATH,SIZE,TYPE,FSTYPE,MOUNTPOINT,LOG-SEC,PKNAME"], check=False)
    if lsblk.ok:
        probe.blockdevs = _flatten(json.loads(lsblk.stdout).get("blockdevices", []))
    # lsblk's FSTYPE comes from udev, which a host may not run: ask blkid to probe the disks
    disks = list(host.disks) + ([host.cache_disk] if host.cache_disk else [])
    found = runner.run(["sh", "-c", 'for d; do echo "== $d"; blkid -p -o export "$d"; done', "sh", *disks],
                       check=False)
    current = ""
    for line in found.stdout.splitlines():
        if line.startswith("== "):
            current = line[3:]
        elif line.startswith(("TYPE=", "PTTYPE=")) and current and not probe.signatures.get(current):
            probe.signatures[current] = line.split("=", 1)[1]
    if spec.lvm:
        pvs = runner.run(["pvs", "--noheadings", "--separator", "|", "-o", "pv_name,vg_name"], check=False)
        for line in pvs.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 2:
                probe.pv_vg[parts[0]] = parts[1]
        probe.device_mapper = runner.run(["sh", "-c", "grep -qw device-mapper /proc/misc || "
                                          "modprobe -q -n dm_thin_pool"], check=False).ok
    version = runner.run(["gluster", "--version"], check=False)
    if version.ok and version.stdout.split():
        probe.gluster_version = version.stdout.split()[1]
    probe.glusterd_running = runner.run(["gluster", "pool", "list"], check=False, timeout=30).ok
    taken = time.time()
    clock = runner.run(["date", "+%s.%N"], check=False)
    probe.clock_taken = (taken + time.time()) / 2
    try:
        probe.clock = float(clock.stdout.strip())
    except ValueError:
        probe.clock = 0.0
    names = sorted({h.address for h in spec.hosts if not _is_ip(h.address)})
    for name in names:
        got = runner.run(["getent", "ahostsv4", name], check=False)
        probe.resolved[name] = got.stdout.split()[0] if got.ok and got.stdout.split() else ""
    nft = runner.run(["sh", "-c", "command -v nft >/dev/null && nft list ruleset 2>/dev/null || true"],
                     check=False)
    probe.firewall = nft.stdout
    mounts = runner.run(["cat", "/proc/self/mounts"], check=False)
    for line in mounts.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            probe.mounts[parts[1]] = parts[0]
    return probe


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def probe_all(spec: GlusterSpec, runners: Mapping[str, Runner], hosts: Sequence[HostSpec] | None = None
              ) -> list[HostProbe]:
    targets = list(hosts if hosts is not None else spec.hosts)
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        return list(pool.map(lambda h: probe_host(spec, h, runners[h.ssh_name]), targets))


def preflight(spec: GlusterSpec, runners: Mapping[str, Runner], hosts: Sequence[HostSpec] | None = None
              ) -> ValidationReport:
    return check_probes(spec, probe_all(spec, runners, hosts))


def check_probes(spec: GlusterSpec, probes: Sequence[HostProbe]) -> ValidationReport:
    """Pure: turn what the hosts said into problems (unit-tested with canned probes)."""
    report = ValidationReport("preflight")
    index = {h.address: i for i, h in enumerate(spec.hosts)}
    sector_sizes: dict[int, set[str]] = {}
    versions: dict[str, str] = {}
    for probe in probes:
        host = probe.host
        where = f"hosts[{index.get(host.address, 0)}]"
        if not probe.reachable:
            report.error(where, f"{host.ssh_name} is not reachable over ssh: {probe.error}",
                         "check the address, sshd and that the key in ssh.identity is authorized")
            continue
        if probe.missing_tools:
            report.error(where, f"{host.ssh_name} lacks {', '.join(probe.missing_tools)}",
                         "install glusterfs-server, lvm2, xfsprogs, util-linux")
        if spec.lvm and not probe.device_mapper:
            report.error(where, f"{host.ssh_name}: the kernel has no device-mapper, LVM thin pools cannot work",
                         "use a kernel with dm-thin-pool, or lvm: false to put bricks on whole disks")
        if not probe.glusterd_running:
            report.error(where, f"glusterd is not running on {host.ssh_name}", "start glusterd")
        if probe.gluster_version:
            versions[host.ssh_name] = probe.gluster_version
        _check_disks(spec, probe, where, report, sector_sizes)
        for name, address in probe.resolved.items():
            if not address:
                report.error(where, f"{host.ssh_name} cannot resolve {name}", "add it to DNS or /etc/hosts")
        skew = abs(probe.clock - probe.clock_taken) if probe.clock else 0.0
        if skew > MAX_CLOCK_SKEW:
            report.error(where, f"{host.ssh_name}'s clock is {skew:.0f}s off", "configure NTP (chrony)")
        if _firewall_blocks(probe.firewall):
            report.error(where, f"{host.ssh_name}'s firewall drops incoming traffic and does not open "
                         f"glusterd's port {GLUSTER_PORTS}/tcp", "open 24007-24008/tcp and 49152-60999/tcp")
    if len(set(v.split(".")[0] for v in versions.values())) > 1:
        report.error("hosts", "Gluster major versions differ: " +
                     ", ".join(f"{h} {v}" for h, v in sorted(versions.items())), "run one version on all hosts")
    for name in {n for p in probes for n in p.resolved}:
        answers = {p.host.ssh_name: p.resolved[name] for p in probes if p.resolved.get(name)}
        if len(set(answers.values())) > 1:
            report.error("hosts", f"{name} resolves differently: " +
                         ", ".join(f"{h}: {a}" for h, a in sorted(answers.items())))
    for key, sizes in sector_sizes.items():
        if len(sizes) > 1:
            label = spec.volumes[key].name if not spec.lvm else "all volumes"
            report.error("hosts", f"logical sector sizes differ across the bricks of {label}: "
                         + ", ".join(sorted(sizes)), "do not mix 512-byte and 4Kn disks in one volume")
    return report


def _firewall_blocks(ruleset: str) -> bool:
    if "hook input" not in ruleset or "policy drop" not in ruleset:
        return False
    return GLUSTER_PORTS not in ruleset


def _check_disks(spec: GlusterSpec, probe: HostProbe, where: str, report: ValidationReport,
                 sector_sizes: dict[int, set[str]]) -> None:
    host = probe.host
    by_path = {str(d.get("path")): d for d in probe.blockdevs}
    vg = spec.vg_for(host)
    total = 0
    ours_already = False
    disks = list(host.disks) + ([host.cache_disk] if host.cache_disk else [])
    for j, disk in enumerate(disks):
        field_path = f"{where}.disks[{j}]" if j < len(host.disks) else f"{where}.cache_disk"
        dev = by_path.get(disk)
        if dev is None:
            report.error(field_path, f"{disk} does not exist on {host.ssh_name}")
            continue
        children = [d for d in probe.blockdevs if d.get("parent") == disk]
        tree = [dev, *_descendants(probe.blockdevs, disk)]
        mounted = [str(d.get("mountpoint")) for d in tree if d.get("mountpoint")]
        if any(m in ("/", "/boot", "/boot/efi", "[SWAP]") or m.startswith("/usr") for m in mounted):
            report.error(field_path, f"{disk} holds the operating system ({', '.join(mounted)})",
                         "never use the OS disk for bricks")
            continue
        fstype = dev.get("fstype") or probe.signatures.get(disk, "")
        ours = False
        if spec.lvm:
            ours = probe.pv_vg.get(disk) == vg
        elif j < len(spec.volumes):
            expected = brick_mount(spec, spec.volumes[j])
            ours = fstype == "xfs" and mounted in ([], [expected])
        ours_already = ours_already or ours
        if not ours:
            used = []
            if children:
                used.append("partitions or LVs")
            if fstype:
                used.append(f"a {fstype} signature")
            if disk in probe.pv_vg:
                used.append(f"a PV of VG {probe.pv_vg[disk] or '(none)'}")
            if mounted:
                used.append("mounts " + ", ".join(mounted))
            if used and not (spec.wipe and not mounted):
                report.error(field_path, f"{disk} on {host.ssh_name} is not empty: it has {', '.join(used)}",
                             "pick an empty disk, or set wipe: true to erase it (never when mounted)")
        size = int(dev.get("size") or 0)
        total += size if j < len(host.disks) else 0
        key = 0 if spec.lvm else j
        if j < len(host.disks):
            sector_sizes.setdefault(key, set()).add(f"{dev.get('log-sec')}B")
        if not spec.lvm and j < len(spec.volumes) and size < spec.volumes[j].size:
            report.error(field_path, f"{disk} ({human_size(size)}) is smaller than volume "
                         f"{spec.volumes[j].name} ({human_size(spec.volumes[j].size)})")
    if spec.lvm and not ours_already and total:
        needed = sum(int(v.size) for v in spec.volumes if not v.thin)
        if any(v.thin for v in spec.volumes):
            # data (or at least one chunk), plus metadata and LVM's spare copy of it
            needed += (spec.thin_pool.size or 1024**3) + 2 * spec.thin_pool.metadata_size
        if needed > total:
            report.error(f"{where}.disks", f"{host.ssh_name}: the disks hold {human_size(total)}, the volumes "
                         f"need {human_size(needed)}", "add disks or make the volumes or thin pool smaller")
    for vol in spec.volumes:
        mountpoint = client_mount(spec, vol)
        source = probe.mounts.get(mountpoint)
        if source and not source.endswith(f":/{vol.name}"):
            report.error(where, f"{mountpoint} on {host.ssh_name} already mounts {source}")


def _descendants(devices: Sequence[Mapping[str, Any]], path: str) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for d in devices:
        if d.get("parent") == path:
            out.append(d)
            out.extend(_descendants(devices, str(d.get("path"))))
    return out
