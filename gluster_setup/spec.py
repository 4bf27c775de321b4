"""The Gluster HCI spec: which hosts, which disks, which volumes. Frozen dataclasses + validation.

The YAML schema is the dataclasses below (nodecore.config turns YAML into them and reports type
problems); `validate()` adds the semantic checks that need the whole spec (replica count against
the number of hosts, RAID geometry, names LVM and Gluster accept, ...). Everything is reported at
once and nothing touches a host before the spec is valid.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from nodecore.config import Size, load_config, load_yaml_file
from nodecore.inputs import device_problem, path_problem
from nodecore.report import ValidationReport

K = 1024
M = 1024 * K
G = 1024 * M

# oVirt runs VMs as vdsm:kvm (36:36); gluster-ansible HCI sets storage.owner-uid/gid to these.
DEFAULT_OWNER_UID = 36
DEFAULT_OWNER_GID = 36

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HOSTNAME_RE = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                          r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_LVM_NAME_RE = re.compile(r"[A-Za-z0-9+_.][A-Za-z0-9+_.-]*")
_FINGERPRINT_RE = re.compile(r"SHA256:[A-Za-z0-9+/]{43}")
_OPTION_KEY_RE = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)+")


@dataclass(frozen=True)
class HostSpec:
    # the storage-network address or name: what Gluster peers and bricks use
    address: str
    # the management name or address that ssh connects to (default: the storage address)
    name: str = ""
    # SHA256 fingerprint of the host's SSH host key ("SHA256:..." as `ssh-keygen -lf` prints it);
    # the key ssh sees must match it (or be in the spec's known_hosts file): never trust on first use
    host_key: str = ""
    ssh_port: int = 22
    disks: tuple[str, ...] = ()
    # per-host VG name (default: the spec's vg_name); one machine per host in production, but the
    # namespaced test hosts share one kernel and need distinct device-mapper names
    vg_name: str = ""
    cache_disk: str = ""

    @property
    def ssh_name(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class DiskType:
    type: Literal["JBOD", "RAID5", "RAID6", "RAID10"] = "JBOD"
    # number of DATA disks in the RAID set (total minus parity), as gluster-ansible's
    # gluster_infra_diskcount; ignored for JBOD
    disk_count: int = 1
    stripe_unit: Size = Size(256 * K)


@dataclass(frozen=True)
class ThinPoolSpec:
    size: Size = Size(0)  # 0: what is left in the VG after the thick LVs (minus metadata)
    metadata_size: Size = Size(16 * G)
    chunk_size: Size = Size(0)  # 0: from the disk type (full stripe on RAID, 256K on JBOD)


@dataclass(frozen=True)
class CacheSpec:
    size: Size
    mode: Literal["writethrough", "writeback"] = "writethrough"
    metadata_size: Size = Size(0)


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    size: Size
    thin: bool = True
    options: dict[str, str] = field(default_factory=dict)
    # this volume's arbiter (None: the spec's `arbiter`). oVirt's HCI wizard and gluster-ansible
    # inventories set it per volume: engine and data replica 3, vmstore "replica 3 arbiter 1"
    arbiter: bool | None = None


def default_volumes() -> tuple[VolumeSpec, ...]:
    # the oVirt HCI defaults: a thick engine volume for the hosted engine, thin data and vmstore
    return (VolumeSpec("engine", Size(100 * G), thin=False),
            VolumeSpec("data", Size(500 * G)),
            VolumeSpec("vmstore", Size(500 * G)))


@dataclass(frozen=True)
class SshSpec:
    user: str = "root"
    identity: str = ""  # private key file; empty: ssh's default
    # known_hosts with the hosts' keys; when a host has `host_key`, hcinode scans the key, checks the
    # fingerprint and writes it here (default: <state dir>/gluster/known_hosts)
    known_hosts: str = ""
    connect_timeout: int = 10


@dataclass(frozen=True)
class GlusterSpec:
    hosts: tuple[HostSpec, ...]
    disk_type: DiskType = field(default_factory=DiskType)
    volumes: tuple[VolumeSpec, ...] = field(default_factory=default_volumes)
    replica: int = 3
    arbiter: bool = False  # with replica 2: "replica 3 arbiter 1" in Gluster's words
    # lvm: false puts each volume's brick straight on its own disk (XFS, no thin pool): for
    # machines without device-mapper (the test harness here); no thin provisioning then
    lvm: bool = True
    vg_name: str = "gluster_vg"
    thin_pool: ThinPoolSpec = field(default_factory=ThinPoolSpec)
    cache: CacheSpec | None = None
    wipe: bool = False  # allow disks that have signatures/partitions: they are wiped
    brick_root: str = "/gluster_bricks"
    mount_root: str = "/mnt/glusterSD"
    owner_uid: int = DEFAULT_OWNER_UID
    owner_gid: int = DEFAULT_OWNER_GID
    fstab: str = "/etc/fstab"
    ssh: SshSpec = field(default_factory=SshSpec)

    def vg_for(self, host: HostSpec) -> str:
        return host.vg_name or self.vg_name

    @property
    def replica_set(self) -> int:
        """Bricks per replica set (the arbiter counts: replica 2 + arbiter is a set of three)."""
        return 3 if self.arbiter else self.replica

    def has_arbiter(self, volume: VolumeSpec) -> bool:
        return self.arbiter if volume.arbiter is None else volume.arbiter

    def volume_layout(self, volume: VolumeSpec) -> tuple[str, ...]:
        """The volume's layout in `gluster volume create`/`add-brick` words (one rule for both)."""
        if self.has_arbiter(volume):
            return ("replica", "3", "arbiter", "1")
        return ("replica", str(self.replica)) if self.replica > 1 else ()


def lv_name(volume: VolumeSpec) -> str:
    return f"gluster_lv_{volume.name}"


THIN_POOL_LV = "gluster_thinpool"
CACHE_POOL_LV = "gluster_cachepool"


def _is_address_or_name(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        # "10.0.0.300" matches the host name grammar but is a mistyped address (a TLD is never numeric)
        return bool(_HOSTNAME_RE.fullmatch(value)) and not value.rsplit(".", 1)[-1].isdigit()


def validate(spec: GlusterSpec, report: ValidationReport, *, require_host_keys: bool = True) -> None:
    """Semantic checks over the whole spec; every problem goes to `report`."""
    _check_hosts(spec, report, require_host_keys)
    _check_geometry(spec, report)
    _check_volumes(spec, report)
    _check_paths(spec, report)


def _check_hosts(spec: GlusterSpec, report: ValidationReport, require_host_keys: bool) -> None:
    if not spec.hosts:
        report.error("hosts", "no hosts", "list at least one host (three for replica 3)")
        return
    seen_addr: dict[str, int] = {}
    seen_name: dict[str, int] = {}
    for i, host in enumerate(spec.hosts):
        where = f"hosts[{i}]"
        if not _is_address_or_name(host.address):
            report.error(f"{where}.address", f"{host.address!r} is not an IP address or host name")
        elif ":" in host.address:
            # bricks and mounts are written host:/path, and glusterd listens on IPv4 unless every
            # peer sets transport.address-family inet6: refused here rather than failing mid-deploy
            report.error(f"{where}.address", f"{host.address} is an IPv6 address; Gluster storage addresses must be "
                         "IPv4 or a host name", "use the host's IPv4 storage address (IPv6 for management is fine "
                         "in 'name')")
        if host.name and not _is_address_or_name(host.name):
            report.error(f"{where}.name", f"{host.name!r} is not an IP address or host name")
        if host.address in seen_addr:
            report.error(f"{where}.address", f"{host.address} is also hosts[{seen_addr[host.address]}]",
                         "each host once")
        seen_addr.setdefault(host.address, i)
        if host.name and host.ssh_name in seen_name:
            report.error(f"{where}.name", f"{host.ssh_name} is also hosts[{seen_name[host.ssh_name]}]")
        seen_name.setdefault(host.ssh_name, i)
        if host.host_key and not _FINGERPRINT_RE.fullmatch(host.host_key):
            report.error(f"{where}.host_key", f"{host.host_key!r} is not a SHA256 fingerprint",
                         "copy it from `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host")
        elif not host.host_key and require_host_keys and not spec.ssh.known_hosts:
            report.error(f"{where}.host_key", "no SSH host key fingerprint and no ssh.known_hosts file",
                         "hcinode never trusts a host key on first use")
        if not 0 < host.ssh_port < 65536:
            report.error(f"{where}.ssh_port", f"{host.ssh_port} is not a TCP port")
        if host.vg_name and not _LVM_NAME_RE.fullmatch(host.vg_name):
            report.error(f"{where}.vg_name", f"{host.vg_name!r} is not a valid LVM name")
        _check_disks(spec, host, where, report)
    n = len(spec.hosts)
    if spec.arbiter and spec.replica != 2:
        report.error("arbiter", f"arbiter goes with replica 2 (got replica {spec.replica})",
                     "write replica: 2 and arbiter: true for 'replica 3 arbiter 1'")
    if spec.replica not in (1, 2, 3):
        report.error("replica", f"replica {spec.replica} is not supported", "use 3, or 2 with arbiter, or 1")
    elif spec.replica == 2 and not spec.arbiter:
        report.error("replica", "replica 2 without an arbiter splits brain on a network partition",
                     "use replica 3, or set arbiter: true")
    elif spec.replica == 1:
        report.warning("replica", "replica 1: no redundancy; losing a host loses its data",
                       "fine for a single-node lab, not for production")
    set_size = spec.replica_set
    if spec.replica in (1, 2, 3) and n % set_size:
        report.error("hosts", f"{n} host(s) do not make whole replica sets of {set_size}",
                     f"use a multiple of {set_size} hosts")
    if not spec.lvm and spec.cache is not None:
        report.error("cache", "an LVM cache needs lvm: true")
    if spec.cache is not None:
        if spec.cache.size <= 0:
            report.error("cache.size", "must be larger than 0")
        for i, host in enumerate(spec.hosts):
            if not host.cache_disk:
                report.error(f"hosts[{i}].cache_disk", "cache is set but this host has no cache_disk")
    else:
        for i, host in enumerate(spec.hosts):
            if host.cache_disk:
                report.error(f"hosts[{i}].cache_disk", "a cache_disk without a cache section",
                             "add cache: {size: ...} or remove cache_disk")


def _check_disks(spec: GlusterSpec, host: HostSpec, where: str, report: ValidationReport) -> None:
    if not host.disks:
        report.error(f"{where}.disks", "no disks", "list the disks for the bricks, e.g. [/dev/sdb]")
    seen: set[str] = set()
    for j, disk in enumerate(host.disks):
        problem = device_problem(disk)
        if problem:
            report.error(f"{where}.disks[{j}]", f"not a device path: {problem}", "write /dev/sdb")
        if disk in seen:
            report.error(f"{where}.disks[{j}]", f"{disk} is listed twice")
        seen.add(disk)
    problem = device_problem(host.cache_disk) if host.cache_disk else None
    if problem:
        report.error(f"{where}.cache_disk", f"not a device path: {problem}", "write /dev/nvme0n1")
    if host.cache_disk and host.cache_disk in seen:
        report.error(f"{where}.cache_disk", f"{host.cache_disk} is also a brick disk")
    if not spec.lvm and host.disks and len(host.disks) != len(spec.volumes):
        report.error(f"{where}.disks", f"lvm: false needs one disk per volume ({len(spec.volumes)}), "
                     f"got {len(host.disks)}", "volumes use the disks in order")
    if spec.disk_type.type != "JBOD" and len(host.disks) > 1 and spec.lvm:
        report.warning(f"{where}.disks", "several RAID disks in one VG: each should be a RAID set of "
                       "the same geometry")


def _check_geometry(spec: GlusterSpec, report: ValidationReport) -> None:
    dt = spec.disk_type
    minimum = {"JBOD": 1, "RAID5": 2, "RAID6": 2, "RAID10": 1}[dt.type]
    if dt.type == "JBOD":
        if dt.disk_count != 1:
            report.error("disk_type.disk_count", "disk_count is for RAID sets; JBOD is one disk",
                         "remove disk_count or choose a RAID type")
    else:
        if dt.disk_count < minimum:
            report.error("disk_type.disk_count", f"{dt.type} needs at least {minimum} data disks, "
                         f"got {dt.disk_count}", "count the data disks only (total minus parity)")
        if dt.disk_count > 64:
            report.error("disk_type.disk_count", f"{dt.disk_count} data disks is not a plausible RAID set")
        if dt.stripe_unit % (4 * K) or not 4 * K <= dt.stripe_unit <= 2 * M:
            report.error("disk_type.stripe_unit", f"{Size(dt.stripe_unit).human()} is not a stripe unit "
                         "(a multiple of 4KiB up to 2MiB)", "use the controller's strip size, e.g. 256K")
    tp = spec.thin_pool
    if spec.lvm:
        if tp.chunk_size and (tp.chunk_size % (64 * K) or not 64 * K <= tp.chunk_size <= G):
            report.error("thin_pool.chunk_size", f"{Size(tp.chunk_size).human()}: LVM takes a multiple of "
                         "64KiB from 64KiB to 1GiB")
        if not 2 * M <= tp.metadata_size <= 16 * G:
            report.error("thin_pool.metadata_size", f"{Size(tp.metadata_size).human()} is outside "
                         "LVM's 2MiB..16GiB")
        if tp.size and not any(v.thin for v in spec.volumes):
            report.warning("thin_pool.size", "no thin volumes: the thin pool is not used")


def _check_volumes(spec: GlusterSpec, report: ValidationReport) -> None:
    if not spec.volumes:
        report.error("volumes", "no volumes", "list at least one volume (engine, data, vmstore)")
    seen: set[str] = set()
    for i, vol in enumerate(spec.volumes):
        where = f"volumes[{i}]"
        if not _NAME_RE.fullmatch(vol.name) or len(vol.name) > 64:
            report.error(f"{where}.name", f"{vol.name!r} is not a valid volume name",
                         "letters, digits, _ . - (up to 64)")
        elif not _LVM_NAME_RE.fullmatch(lv_name(vol)):
            report.error(f"{where}.name", f"{vol.name!r} makes an invalid LV name")
        if vol.name in seen:
            report.error(f"{where}.name", f"volume {vol.name} is listed twice")
        seen.add(vol.name)
        if vol.size < 64 * M:
            report.error(f"{where}.size", f"{Size(vol.size).human()} is too small for an XFS brick",
                         "at least 64M (oVirt uses 100G for engine)")
        if vol.thin and not spec.lvm:
            report.warning(f"{where}.thin", "lvm: false: the brick is the whole disk, not thin")
        for key in vol.options:
            if not _OPTION_KEY_RE.fullmatch(key):
                report.error(f"{where}.options.{key}", "not a Gluster option name", "e.g. cluster.quorum-type")
        # a volume's own arbiter keeps the replica set of three: replica 3 <-> replica 3 arbiter 1
        if vol.arbiter is True and spec.replica != 3 and not spec.arbiter:
            report.error(f"{where}.arbiter", f"an arbiter volume needs replica sets of three (replica is "
                         f"{spec.replica})", "use replica: 3 (the volume becomes 'replica 3 arbiter 1')")
        elif vol.arbiter is False and spec.arbiter:
            report.error(f"{where}.arbiter", "arbiter: false with the spec's replica 2 + arbiter would make a "
                         "replica 2 volume, which splits brain", "set replica: 3 and arbiter: true on the "
                         "arbiter volumes only")
    if spec.volumes and "engine" in seen:
        engine = next(v for v in spec.volumes if v.name == "engine")
        if engine.thin and spec.lvm:
            report.warning("volumes.engine", "the engine volume is thin; oVirt HCI makes it thick so the "
                           "hosted engine never hits a full pool")


def _check_paths(spec: GlusterSpec, report: ValidationReport) -> None:
    # these reach fstab lines, mount points and the hosts' commands: one plain path each
    for name in ("brick_root", "mount_root", "fstab"):
        problem = path_problem(getattr(spec, name))
        if problem:
            report.error(name, problem, "write a plain absolute path, e.g. /gluster_bricks")
    if spec.brick_root.rstrip("/") == spec.mount_root.rstrip("/"):
        report.error("mount_root", "bricks and client mounts must not share a directory")
    if not _LVM_NAME_RE.fullmatch(spec.vg_name):
        report.error("vg_name", f"{spec.vg_name!r} is not a valid LVM name")
    for name in ("owner_uid", "owner_gid"):
        if not 0 <= getattr(spec, name) < 2**31:
            report.error(name, f"{getattr(spec, name)} is not a uid/gid")
    for name in ("identity", "known_hosts"):
        value = getattr(spec.ssh, name)
        problem = path_problem(value) if value else None
        if problem:
            report.error(f"ssh.{name}", problem, "write a plain absolute path")
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*", spec.ssh.user):
        report.error("ssh.user", f"{spec.ssh.user!r} is not a user name")


def parse_spec(data: object, source: str = "spec", *, require_host_keys: bool = True
               ) -> tuple[GlusterSpec | None, ValidationReport]:
    """YAML data -> spec and a report with every problem (the spec is None if it has errors)."""
    report = ValidationReport(source)
    spec = load_config(GlusterSpec, data, report)
    if spec is not None:
        validate(spec, report, require_host_keys=require_host_keys)
    return (spec if report.ok else None), report


def load_spec(path: str) -> tuple[GlusterSpec, ValidationReport]:
    """Load and validate a spec file; raises InvalidInput with every problem; returns the warnings too."""
    spec, report = parse_spec(load_yaml_file(path), path)
    report.raise_if_errors()
    assert spec is not None
    return spec, report
