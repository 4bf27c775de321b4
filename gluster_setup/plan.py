"""Pure plan functions: spec -> the steps on every host and across the cluster.

A deploy has three phases. Bricks: per host (PV/VG, thick and thin LVs, XFS, mounts by UUID,
brick directories); the hosts are independent, so the phase runs on all of them in parallel.
Cluster: on the first host (peer probe, volume create, options, start). Mounts: per host, the FUSE
mount with backup volfile servers, again in parallel. Every step carries a read-only check whose
exit code 0 means "already done": a re-run skips finished work and never touches a brick that
already holds data (no step ever formats a device that has a filesystem).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gluster_setup.spec import (
    CACHE_POOL_LV,
    THIN_POOL_LV,
    GlusterSpec,
    HostSpec,
    VolumeSpec,
    lv_name,
)
from nodecore.config import Size
from nodecore.plan import Plan, Step

K = 1024
M = 1024 * K
G = 1024 * M

GLUSTER = ("gluster", "--mode=script")
# The HCI options gluster-ansible's HCI role sets on top of the virt group (they win over it).
HCI_OPTIONS: tuple[tuple[str, str], ...] = (
    ("network.ping-timeout", "30"),
    ("performance.strict-o-direct", "on"),
    ("network.remote-dio", "off"),
    ("cluster.granular-entry-heal", "on"),
)
# virt group options that glusterd refuses on a volume without replication ("Cannot set
# cluster.shd-max-threads for a non-replicate volume", Gluster 10.3): left out of replica 1 groups
REPLICATE_ONLY_OPTIONS: tuple[str, ...] = ("cluster.shd-max-threads",)
BRICK_MOUNT_OPTIONS = "inode64,noatime"
STEP_TIMEOUT = 300.0


def sh(script: str, *args: str) -> tuple[str, ...]:
    """A check that needs a pipe: `script` is a constant and every value goes in as "$1", "$2"...

    No value from the spec is ever part of the script text: a path or name with quotes, `;` or a
    newline stays one argument.
    """
    return ("sh", "-c", script, "sh", *args)


@dataclass(frozen=True)
class Phase:
    """Steps that run per host in parallel (per_host) or on one host in order (one plan)."""

    name: str
    plans: Mapping[str, Plan]  # runner name -> plan; more than one entry runs in parallel

    @property
    def parallel(self) -> bool:
        return len(self.plans) > 1


@dataclass(frozen=True)
class DeployPlan:
    title: str
    phases: tuple[Phase, ...]
    summary: Mapping[str, object] = field(default_factory=dict)

    def combined(self) -> Plan:
        """One Plan with every step (host-tagged) for --dry-run and the journal id."""
        steps: list[Step] = []
        for phase in self.phases:
            for name in sorted(phase.plans):
                steps.extend(phase.plans[name].steps)
        return Plan(self.title, tuple(steps), self.summary)


# ---------------------------------------------------------------- geometry


def full_stripe(spec: GlusterSpec) -> int:
    dt = spec.disk_type
    return 256 * K if dt.type == "JBOD" else int(dt.stripe_unit) * dt.disk_count


def data_alignment(spec: GlusterSpec) -> int:
    """PV data alignment: a full RAID stripe (gluster-ansible's rule), 256K on JBOD."""
    return full_stripe(spec)


def chunk_size(spec: GlusterSpec) -> int:
    """Thin pool chunk: the spec's, else the full stripe rounded into LVM's 64K..1G range."""
    if spec.thin_pool.chunk_size:
        return int(spec.thin_pool.chunk_size)
    chunk = full_stripe(spec)
    chunk = max(64 * K, min(G, chunk))
    return chunk - chunk % (64 * K)


def lvm_size(n: int) -> str:
    """Sizes as LVM reads them (binary units, lower case)."""
    for unit, factor in (("g", G), ("m", M), ("k", K)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n}b"


def mkfs_argv(spec: GlusterSpec, device: str) -> tuple[str, ...]:
    # inode size 512 leaves room for Gluster's xattrs in the inode; 8K directory blocks as in HCI
    argv = ["mkfs.xfs", "-K", "-i", "size=512", "-n", "size=8192"]
    if spec.disk_type.type != "JBOD":
        su = int(spec.disk_type.stripe_unit) // K
        argv += ["-d", f"su={su}k,sw={spec.disk_type.disk_count}"]
    return (*argv, device)


# ---------------------------------------------------------------- paths


def brick_mount(spec: GlusterSpec, volume: VolumeSpec) -> str:
    return f"{spec.brick_root.rstrip('/')}/{volume.name}"


def brick_dir(spec: GlusterSpec, volume: VolumeSpec) -> str:
    # a sub directory, not the mount point itself: if the brick FS is not mounted, glusterd finds
    # the directory missing instead of silently writing into the root file system
    return f"{brick_mount(spec, volume)}/{volume.name}"


def client_mount(spec: GlusterSpec, volume: VolumeSpec) -> str:
    return f"{spec.mount_root.rstrip('/')}/{volume.name}"


def brick_device(spec: GlusterSpec, host: HostSpec, index: int, volume: VolumeSpec) -> str:
    if not spec.lvm:
        return host.disks[index]
    return f"/dev/{spec.vg_for(host)}/{lv_name(volume)}"


def volume_bricks(spec: GlusterSpec, volume: VolumeSpec, hosts: Sequence[HostSpec] | None = None) -> list[str]:
    return [f"{h.address}:{brick_dir(spec, volume)}" for h in (hosts if hosts is not None else spec.hosts)]


# ---------------------------------------------------------------- per-host bricks


def _has_fs(device: str) -> tuple[str, ...]:
    return sh('blkid -p -o value -s TYPE "$1" | grep -qx xfs', device)


def _is_pv_of(device: str, vg: str) -> tuple[str, ...]:
    return sh('pvs --noheadings -o vg_name "$1" 2>/dev/null | grep -qw -- "$2"', device, vg)


def _lv_exists(vg: str, lv: str) -> tuple[str, ...]:
    return ("lvs", f"{vg}/{lv}")


# an uncommented fstab line whose second field is the mount point "$1" (compared as a string, not a regex)
# (ENVIRON, not awk -v, which would read backslashes in the path as escapes; stdin, not a file
# argument, which awk would take as an assignment if it held "=")
_IN_FSTAB = 'm="$1" awk \'$1 !~ /^#/ && $2 == ENVIRON["m"] {f = 1} END {exit !f}\' < "$2"'


def mounted_check(mountpoint: str, fstab: str) -> tuple[str, ...]:
    return sh('mountpoint -q "$1" && ' + _IN_FSTAB, mountpoint, fstab)


def brick_steps(spec: GlusterSpec, host: HostSpec) -> list[Step]:
    name = host.ssh_name
    steps: list[Step] = []
    vg = spec.vg_for(host)

    def add(title: str, argv: Sequence[str] = (), check: Sequence[str] = (), action: str = "",
            params: Mapping[str, object] | None = None) -> None:
        steps.append(Step(f"{title} on {name}", argv=tuple(argv), action=action, params=params or {},
                          check=tuple(check), host=name, timeout=STEP_TIMEOUT))

    if spec.lvm:
        disks = list(host.disks) + ([host.cache_disk] if host.cache_disk else [])
        if spec.wipe:
            for disk in disks:
                add(f"wipe signatures on {disk}", ("wipefs", "-a", disk), _is_pv_of(disk, vg))
        align = lvm_size(data_alignment(spec))
        for disk in host.disks:
            add(f"create PV {disk}", ("pvcreate", "--dataalignment", align, disk), ("pvs", disk))
        add(f"create VG {vg}", ("vgcreate", vg, *host.disks), ("vgs", vg))
        for vol in spec.volumes:
            if not vol.thin:
                add(f"create thick LV {lv_name(vol)}",
                    ("lvcreate", "-y", "-L", lvm_size(vol.size), "-n", lv_name(vol), vg),
                    _lv_exists(vg, lv_name(vol)))
        if any(v.thin for v in spec.volumes):
            tp = spec.thin_pool
            size = ("-L", lvm_size(tp.size)) if tp.size else ("-l", "100%FREE")
            add(f"create thin pool {THIN_POOL_LV}",
                ("lvcreate", "-y", "--type", "thin-pool", *size, "--poolmetadatasize", lvm_size(tp.metadata_size),
                 "--chunksize", lvm_size(chunk_size(spec)), "--zero", "n", "-n", THIN_POOL_LV, vg, *host.disks),
                _lv_exists(vg, THIN_POOL_LV))
            if spec.cache is not None and host.cache_disk:
                cache_steps(spec, host, add)
            for vol in spec.volumes:
                if vol.thin:
                    add(f"create thin LV {lv_name(vol)}",
                        ("lvcreate", "-y", "-V", lvm_size(vol.size), "-T", f"{vg}/{THIN_POOL_LV}",
                         "-n", lv_name(vol)),
                        _lv_exists(vg, lv_name(vol)))
    elif spec.wipe:
        for disk in host.disks:
            add(f"wipe signatures on {disk}", ("wipefs", "-a", disk), _has_fs(disk))
    for index, vol in enumerate(spec.volumes):
        device = brick_device(spec, host, index, vol)
        add(f"make XFS on {device}", mkfs_argv(spec, device), _has_fs(device))
    for index, vol in enumerate(spec.volumes):
        device = brick_device(spec, host, index, vol)
        mountpoint = brick_mount(spec, vol)
        add(f"mount brick {mountpoint}", action="mount_brick",
            params={"device": device, "mountpoint": mountpoint, "options": BRICK_MOUNT_OPTIONS,
                    "fstab": spec.fstab},
            check=mounted_check(mountpoint, spec.fstab))
    owner = f"{spec.owner_uid}:{spec.owner_gid}"
    for vol in spec.volumes:
        directory = brick_dir(spec, vol)
        add(f"create brick directory {directory}",
            ("install", "-d", "-m", "0755", "-o", str(spec.owner_uid), "-g", str(spec.owner_gid), directory),
            sh('test "$(stat -c %u:%g "$1")" = "$2"', directory, owner))
    return steps


def cache_steps(spec: GlusterSpec, host: HostSpec, add: Callable[..., None]) -> None:
    assert spec.cache is not None
    vg = spec.vg_for(host)
    disk = host.cache_disk
    cached_script = 'lvs --noheadings -o segtype "$1" 2>/dev/null | grep -qw cache'
    cached = sh(cached_script, f"{vg}/{THIN_POOL_LV}_tdata")
    add(f"create PV {disk} for the cache", ("pvcreate", disk), ("pvs", disk))
    add(f"add {disk} to {vg}", ("vgextend", vg, disk), _is_pv_of(disk, vg))
    meta = ("--poolmetadatasize", lvm_size(spec.cache.metadata_size)) if spec.cache.metadata_size else ()
    add(f"create cache pool {CACHE_POOL_LV}",
        ("lvcreate", "-y", "--type", "cache-pool", "-L", lvm_size(spec.cache.size), *meta,
         "-n", CACHE_POOL_LV, vg, disk),
        sh('lvs "$2" >/dev/null 2>&1 || ' + cached_script, f"{vg}/{THIN_POOL_LV}_tdata", f"{vg}/{CACHE_POOL_LV}"))
    add(f"attach cache to {THIN_POOL_LV}",
        ("lvconvert", "-y", "--type", "cache", "--cachepool", f"{vg}/{CACHE_POOL_LV}",
         "--cachemode", spec.cache.mode, f"{vg}/{THIN_POOL_LV}"),
        cached)


# ---------------------------------------------------------------- cluster


def _in_pool(address: str) -> tuple[str, ...]:
    return sh("gluster pool list | awk 'NR>1 {print $2}' | grep -qxF -- \"$1\"", address)


def _peers_connected(addresses: Iterable[str]) -> tuple[str, ...]:
    return sh("p=$(gluster pool list | awk '$NF==\"Connected\" {print $2}') || exit 1; "
              "for a; do printf '%s\\n' \"$p\" | grep -qxF -- \"$a\" || exit 1; done", *addresses)


def _group_applied(volume: str, group: str, skip: Iterable[str]) -> tuple[str, ...]:
    # the group file exists on the host and every key=value in it shows in the volume info
    # (except `skip`: keys deliberately set to something else afterwards)
    # "$1" volume, "$2" group file, then the skipped keys
    return sh('test -s "$2" && info=$(gluster volume info "$1") || exit 1; group=$2; shift 2; '
              "while IFS='=' read -r k v; do case \"$k\" in ''|'#'*) continue;; esac; "
              'for s; do [ "$k" = "$s" ] && continue 2; done; '
              "printf '%s\\n' \"$info\" | grep -qxF \"$k: $v\" || exit 1; "
              'done < "$group"', volume, f"/var/lib/glusterd/groups/{group}", *sorted(skip))


def volume_options(spec: GlusterSpec, volume: VolumeSpec) -> list[tuple[str, str]]:
    options = [("storage.owner-uid", str(spec.owner_uid)), ("storage.owner-gid", str(spec.owner_gid)),
               *HCI_OPTIONS]
    overridden = {k for k, _ in options}
    options += [(k, v) for k, v in volume.options.items() if k not in overridden]
    options = [(k, volume.options.get(k, v)) for k, v in options]
    return options


def probe_steps(spec: GlusterSpec, first: HostSpec, new_hosts: Sequence[HostSpec]) -> list[Step]:
    steps: list[Step] = []
    on = first.ssh_name
    for host in new_hosts:
        if host is first:
            continue
        steps.append(Step(f"peer probe {host.address}", argv=(*GLUSTER, "peer", "probe", host.address),
                          check=_in_pool(host.address), host=on, timeout=120))
    others = [h for h in spec.hosts if h is not first]
    if others and first in new_hosts:
        # probe back so the other peers know the first host by its storage address, not by the
        # source address of its probe
        back = others[0]
        steps.append(Step(f"peer probe {first.address} from {back.address}",
                          argv=(*GLUSTER, "peer", "probe", first.address),
                          check=_in_pool(first.address), host=back.ssh_name, timeout=120))
    peers = [h.address for h in new_hosts if h is not first]
    if peers:
        steps.append(Step("wait until the peers are connected", action="wait_peers",
                          params={"peers": peers, "timeout": 120}, check=_peers_connected(peers), host=on,
                          timeout=60))
    return steps


def option_group(volume: VolumeSpec) -> str:
    return f"hcinode-{volume.name}"


def volume_setup_steps(spec: GlusterSpec, volume: VolumeSpec, on: str) -> list[Step]:
    # All options in one `volume set ... group` transaction: the virt group with the HCI options
    # and the volume's own options on top, written as a group file on the host that applies it.
    # One cluster-wide transaction instead of one per option: the slow part of a deploy.
    group = option_group(volume)
    applied = _group_applied(volume.name, group, ())
    params: dict[str, object] = {"group": group, "base": "virt", "options": dict(volume_options(spec, volume))}
    if spec.replica_set == 1:
        params["drop"] = list(REPLICATE_ONLY_OPTIONS)
    return [
        Step(f"write option group {group} (virt + HCI options)", action="write_option_group",
             params=params, check=applied, host=on, timeout=60),
        Step(f"apply option group {group} to {volume.name}",
             argv=(*GLUSTER, "volume", "set", volume.name, "group", group), check=applied, host=on, timeout=120),
        Step(f"start volume {volume.name}", argv=(*GLUSTER, "volume", "start", volume.name),
             check=sh("gluster volume info \"$1\" | grep -qx 'Status: Started'", volume.name), host=on, timeout=120),
    ]


def create_volume_argv(spec: GlusterSpec, volume: VolumeSpec) -> tuple[str, ...]:
    return (*GLUSTER, "volume", "create", volume.name, *spec.volume_layout(volume), "transport", "tcp",
            *volume_bricks(spec, volume))


def cluster_steps(spec: GlusterSpec) -> list[Step]:
    first = spec.hosts[0]
    on = first.ssh_name
    steps = probe_steps(spec, first, spec.hosts)
    for vol in spec.volumes:
        steps.append(Step(f"create volume {vol.name}", argv=create_volume_argv(spec, vol),
                          check=("gluster", "volume", "info", vol.name), host=on, timeout=120))
        steps.extend(volume_setup_steps(spec, vol, on))
    return steps


# ---------------------------------------------------------------- client mounts


def mount_steps(spec: GlusterSpec, host: HostSpec) -> list[Step]:
    steps: list[Step] = []
    # mount from the host itself first (its glusterd serves the volfile), the others as backups
    backups = [h.address for h in spec.hosts if h is not host]
    for vol in spec.volumes:
        mountpoint = client_mount(spec, vol)
        steps.append(Step(f"mount volume {vol.name} at {mountpoint} on {host.ssh_name}", action="mount_volume",
                          params={"source": f"{host.address}:/{vol.name}", "mountpoint": mountpoint,
                                  "backup_volfile_servers": ":".join(backups), "fstab": spec.fstab},
                          check=mounted_check(mountpoint, spec.fstab), host=host.ssh_name, timeout=120))
    return steps


# ---------------------------------------------------------------- whole plans


def summary(spec: GlusterSpec) -> dict[str, object]:
    sets = len(spec.hosts) // spec.replica_set if spec.replica_set else 0
    layouts: dict[str, list[str]] = {}  # "replica 3" -> the volumes with that layout
    for v in spec.volumes:
        words = " ".join(spec.volume_layout(v)) or "replica 1"
        layouts.setdefault(f"distributed {sets} x {words}" if sets > 1 else words, []).append(v.name)
    layout = next(iter(layouts), "") if len(layouts) <= 1 else \
        "; ".join(f"{', '.join(names)}: {words}" for words, names in layouts.items())
    out: dict[str, object] = {
        "hosts": [f"{h.ssh_name} (storage {h.address}): {', '.join(h.disks)}" for h in spec.hosts],
        "layout": layout,
        "disk type": (spec.disk_type.type if spec.disk_type.type == "JBOD" else
                      f"{spec.disk_type.type}, {spec.disk_type.disk_count} data disks, stripe unit "
                      f"{Size(spec.disk_type.stripe_unit).human()}"),
        "volumes": [f"{v.name}: {Size(v.size).human()} {'thin' if v.thin and spec.lvm else 'thick'}, "
                    f"brick {brick_dir(spec, v)}, mounted at {client_mount(spec, v)}" for v in spec.volumes],
    }
    out["volume options"] = {v.name: "group virt, then " + ", ".join(f"{k}={val}" for k, val in volume_options(spec, v))
                             for v in spec.volumes}
    if spec.lvm:
        out["lvm"] = (f"data alignment {lvm_size(data_alignment(spec))}, thin pool chunk "
                      f"{lvm_size(chunk_size(spec))}, metadata {lvm_size(spec.thin_pool.metadata_size)}")
    else:
        out["lvm"] = "off: each brick is a whole disk with XFS (no thin provisioning)"
    return out


def _per_host(spec: GlusterSpec, hosts: Sequence[HostSpec],
              make: Callable[[GlusterSpec, HostSpec], list[Step]], phase: str) -> Phase:
    return Phase(phase, {h.ssh_name: Plan(f"{phase} on {h.ssh_name}", tuple(make(spec, h))) for h in hosts})


def deploy_plan(spec: GlusterSpec) -> DeployPlan:
    first = spec.hosts[0].ssh_name
    return DeployPlan(
        f"gluster deploy ({len(spec.hosts)} hosts, {len(spec.volumes)} volumes)",
        (_per_host(spec, spec.hosts, brick_steps, "bricks"),
         Phase("cluster", {first: Plan("cluster", tuple(cluster_steps(spec)))}),
         _per_host(spec, spec.hosts, mount_steps, "mounts")),
        summary(spec))


def expand_plan(spec: GlusterSpec, new_addresses: Sequence[str]) -> DeployPlan:
    """Add hosts (whole replica sets) to existing volumes, then rebalance.

    `new_addresses` are the spec hosts that are not yet in the volumes (the CLI reads that from
    the cluster); the spec lists all hosts, old ones first.
    """
    new = [h for h in spec.hosts if h.address in set(new_addresses)]
    first = spec.hosts[0]
    if first in new:
        raise ValueError("the first host of the spec must already be in the cluster")
    on = first.ssh_name
    steps = probe_steps(spec, first, new)
    for vol in spec.volumes:
        bricks = volume_bricks(spec, vol, new)
        steps.append(Step(f"add bricks of {', '.join(h.address for h in new)} to {vol.name}",
                          argv=(*GLUSTER, "volume", "add-brick", vol.name, *spec.volume_layout(vol), *bricks),
                          check=sh('gluster volume info "$1" | grep -qxF -- "$2"',
                                   vol.name, f"Brick{len(spec.hosts)}: {bricks[-1]}"),
                          host=on, timeout=120))
        steps.append(Step(f"rebalance {vol.name}", action="rebalance", params={"volume": vol.name, "timeout": 600},
                          check=sh('gluster volume rebalance "$1" status 2>/dev/null | grep -q completed',
                                   vol.name), host=on, timeout=60))
    plan_summary = summary(spec) | {"new hosts": [h.ssh_name for h in new]}
    return DeployPlan(
        f"gluster expand (+{len(new)} hosts)",
        (_per_host(spec, new, brick_steps, "bricks"),
         Phase("cluster", {on: Plan("expand cluster", tuple(steps))}),
         _per_host(spec, new, mount_steps, "mounts")),
        plan_summary)


def teardown_plan(spec: GlusterSpec) -> DeployPlan:
    """Undo a deploy: client mounts, volumes, peers, brick mounts, LVM. Destroys the bricks' data."""
    first = spec.hosts[0]
    on = first.ssh_name

    def unmounts(spec: GlusterSpec, host: HostSpec) -> list[Step]:
        return [Step(f"unmount {client_mount(spec, v)} on {host.ssh_name}", action="unmount",
                     params={"mountpoint": client_mount(spec, v), "fstab": spec.fstab},
                     check=_unmounted(client_mount(spec, v), spec.fstab), host=host.ssh_name, timeout=120)
                for v in spec.volumes]

    cluster: list[Step] = []
    for vol in spec.volumes:
        cluster.append(Step(f"stop volume {vol.name}", argv=(*GLUSTER, "volume", "stop", vol.name, "force"),
                            check=sh("! gluster volume info \"$1\" 2>/dev/null | grep -qx 'Status: Started'",
                                     vol.name), host=on, timeout=120))
        cluster.append(Step(f"delete volume {vol.name}", argv=(*GLUSTER, "volume", "delete", vol.name),
                            check=sh('! gluster volume info "$1" >/dev/null 2>&1', vol.name), host=on, timeout=120))
        group_file = f"/var/lib/glusterd/groups/{option_group(vol)}"
        cluster.append(Step(f"remove option group {option_group(vol)}", argv=("rm", "-f", group_file),
                            check=("sh", "-c", '! test -e "$1"', "sh", group_file), host=on, timeout=60))
    for host in spec.hosts[1:]:
        cluster.append(Step(f"peer detach {host.address}", argv=(*GLUSTER, "peer", "detach", host.address),
                            check=sh("! gluster pool list | awk 'NR>1 {print $2}' | grep -qxF -- \"$1\"", host.address),
                            host=on, timeout=120))

    def bricks_down(spec: GlusterSpec, host: HostSpec) -> list[Step]:
        name = host.ssh_name
        steps = [Step(f"unmount brick {brick_mount(spec, v)} on {name}", action="unmount",
                      params={"mountpoint": brick_mount(spec, v), "fstab": spec.fstab},
                      check=_unmounted(brick_mount(spec, v), spec.fstab), host=name, timeout=120)
                 for v in spec.volumes]
        if spec.lvm:
            vg = spec.vg_for(host)
            steps.append(Step(f"remove VG {vg} on {name}", argv=("vgremove", "-f", "-y", vg),
                              check=sh('! vgs "$1" >/dev/null 2>&1', vg), host=name, timeout=120))
            disks = list(host.disks) + ([host.cache_disk] if host.cache_disk else [])
            for disk in disks:
                steps.append(Step(f"remove PV {disk} on {name}", argv=("pvremove", "-y", disk),
                                  check=sh('! pvs "$1" >/dev/null 2>&1', disk), host=name, timeout=60))
        else:
            for disk in host.disks:
                steps.append(Step(f"wipe {disk} on {name}", argv=("wipefs", "-a", disk),
                                  check=sh('! blkid -p "$1" >/dev/null 2>&1', disk), host=name, timeout=60))
        return steps

    return DeployPlan(
        f"gluster teardown ({len(spec.hosts)} hosts): destroys the volumes' data",
        (_per_host(spec, spec.hosts, unmounts, "unmount clients"),
         Phase("cluster", {on: Plan("remove volumes and peers", tuple(cluster))}),
         _per_host(spec, spec.hosts, bricks_down, "remove bricks")),
        summary(spec))


def _unmounted(mountpoint: str, fstab: str) -> tuple[str, ...]:
    return sh('! mountpoint -q "$1" && ! ' + _IN_FSTAB, mountpoint, fstab)
