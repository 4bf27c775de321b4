"""Storage: resolve the kickstart's storage commands into a concrete Layout, then apply it with blivet.

`resolve_layout(config, facts, report)` is pure: which disks are written and cleared, every
partition, VG and LV with its size in MiB. `--dry-run` prints it; checks report what does not fit.
Without explicit `part`/`volgroup`/`logvol` the layout is oVirt Node NG's: GPT, BIOS boot + EFI
system partition + /boot, one PV per disk, VG `onn` with a thin pool and thin LVs for /, /var,
/var/log, /var/log/audit, /home, /tmp (all mounted with `discard`, so freed blocks go back to
the pool), plus thick swap. Both BIOS boot and ESP are always made so the same disk boots under
either firmware.

`apply_layout(layout, ...)` builds the same thing in blivet's device tree and runs `do_it()`;
only the target disks are visible to blivet (`exclusive_disks`), so no other disk is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from installer.config import InstallConfig, LogicalVolume, Partition, Storage, VolumeGroup, recommended_swap_mib
from nodecore.facts import Disk, HostFacts
from nodecore.report import ValidationReport

MiB = 1024 * 1024
FSTYPES = ("ext4", "xfs", "vfat", "swap")
DEFAULT_FSTYPE = "ext4"
DEFAULT_VG = "onn"
GPT_OVERHEAD_MIB = 2  # 1 MiB alignment at the start, backup GPT at the end
PV_OVERHEAD_MIB = 4  # LVM metadata area + alignment
THIN_OPTIONS = "defaults,discard"
# (name, mountpoint, virtual size MiB) of the default thin LVs, like oVirt Node NG's
DEFAULT_THIN_LVS = (("root", "/", 6144), ("var", "/var", 15360), ("var_log", "/var/log", 8192),
                    ("var_log_audit", "/var/log/audit", 2048), ("home", "/home", 1024), ("tmp", "/tmp", 1024))
# The smallest pool that holds the node image with room to run (image ~1.5 GiB unpacked).
MIN_POOL_MIB = 4096
BIOSBOOT_MIB, ESP_MIB, BOOT_MIB = 1, 512, 1024


@dataclass(frozen=True)
class PlannedPartition:
    disk: str  # /dev/vda
    name: str  # the kickstart name: "biosboot", "/boot/efi", "/boot", "pv.01", "/", "swap"
    fstype: str  # biosboot, efi, ext4, xfs, swap, lvmpv
    size_mib: int
    grow: bool = False
    maxsize_mib: int = 0
    mountpoint: str = ""
    fsoptions: str = ""
    label: str = ""


@dataclass(frozen=True)
class PlannedVG:
    name: str
    pvs: tuple[str, ...]  # partition names
    size_mib: int = 0


@dataclass(frozen=True)
class PlannedLV:
    vg: str
    name: str
    size_mib: int
    fstype: str = ""  # "" for a thin pool
    mountpoint: str = ""
    fsoptions: str = ""
    grow: bool = False
    thinpool: bool = False
    pool: str = ""  # the pool of a thin LV
    metadatasize_mib: int = 0
    chunksize_kib: int = 0


@dataclass(frozen=True)
class Layout:
    disks: tuple[str, ...]  # every disk the install writes to
    clear: tuple[str, ...]  # disks whose old contents are destroyed (a new GPT)
    partitions: tuple[PlannedPartition, ...] = ()
    vgs: tuple[PlannedVG, ...] = ()
    lvs: tuple[PlannedLV, ...] = ()
    kind: str = "thinp"  # thinp (default) | lvm | plain | custom
    logical_sector_size: int = 512
    untouched: tuple[str, ...] = field(default=(), compare=False)

    def mounts(self) -> list[tuple[str, str, str, str]]:
        """(mountpoint, device path, fstype, options) sorted so parents mount first."""
        out = []
        for p in self.partitions:
            if p.mountpoint:
                out.append((p.mountpoint, p.name, p.fstype, p.fsoptions))
        for lv in self.lvs:
            if lv.mountpoint:
                out.append((lv.mountpoint, f"/dev/{lv.vg}/{lv.name}", lv.fstype, lv.fsoptions))
        return sorted(out, key=lambda m: (m[0].count("/") if m[0] != "/" else 0, m[0]))

    def swaps(self) -> list[str]:
        return [f"/dev/{lv.vg}/{lv.name}" for lv in self.lvs if lv.fstype == "swap"] + \
               [p.name for p in self.partitions if p.fstype == "swap"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layout:
        return cls(disks=tuple(data["disks"]), clear=tuple(data["clear"]),
                   partitions=tuple(PlannedPartition(**p) for p in data["partitions"]),
                   vgs=tuple(PlannedVG(**{**v, "pvs": tuple(v["pvs"])}) for v in data["vgs"]),
                   lvs=tuple(PlannedLV(**lv) for lv in data["lvs"]), kind=data.get("kind", "custom"),
                   logical_sector_size=data.get("logical_sector_size", 512),
                   untouched=tuple(data.get("untouched", ())))

    def render_lines(self) -> list[str]:
        lines = []
        for disk in self.disks:
            what = "ERASED, new GPT" if disk in self.clear else "kept, free space used"
            lines.append(f"{disk} ({what})")
            for p in (p for p in self.partitions if p.disk == disk):
                size = f"{p.size_mib} MiB" + (" + grow" if p.grow else "")
                target = p.mountpoint or ("PV of " + ",".join(v.name for v in self.vgs if p.name in v.pvs)
                                          if p.fstype == "lvmpv" else "")
                lines.append(f"  part {p.name:12s} {p.fstype:9s} {size:>18s}  {target}".rstrip())
        for vg in self.vgs:
            lines.append(f"VG {vg.name} on {', '.join(vg.pvs)} ({vg.size_mib} MiB)")
            for lv in (lv for lv in self.lvs if lv.vg == vg.name):
                kind = "thin pool" if lv.thinpool else (f"thin in {lv.pool}" if lv.pool else "thick")
                size = f"{lv.size_mib} MiB" + (" + grow" if lv.grow else "")
                opts = f" ({lv.fsoptions})" if lv.fsoptions else ""
                lines.append(f"  LV {lv.name:14s} {kind:15s} {size:>16s}  {lv.fstype} {lv.mountpoint}{opts}".rstrip())
        if self.untouched:
            lines.append("not touched: " + ", ".join(self.untouched))
        return lines


def _at(line: int) -> str:
    return f"kickstart:{line}" if line else "storage"


def _swap_mib(memory_bytes: int, pool_space_mib: int) -> int:
    """The default layout's swap: RAM up to 4 GiB, at most a tenth of the space (a small disk keeps
    room for the system). Smaller than anaconda's suggestion on purpose: a hypervisor that swaps its
    guests' memory is already in trouble; `part/logvol swap --recommended` gives anaconda's size."""
    mem = max(memory_bytes // MiB, 512)
    return max(256, min(mem, 4096, pool_space_mib // 10))


def select_disks(storage: Storage, facts: HostFacts, report: ValidationReport) -> list[Disk]:
    """The disks the install may write. Never the boot media; several candidates need a choice."""
    names = storage.only_use or storage.clearpart_drives
    explicit_ondisk = sorted({d for p in storage.partitions for d in p.ondisk})
    if not names and explicit_ondisk:
        names = tuple(explicit_ondisk)
    chosen: list[Disk] = []
    if names:
        for name in names:
            disk = facts.disk(name)
            if disk is None:
                known = ", ".join(d.name for d in facts.disks) or "none"
                report.error("ignoredisk", f"disk {name!r} does not exist on this machine", f"disks: {known}")
            elif disk.is_boot_media:
                report.error("ignoredisk", f"disk {name!r} is the boot media the installer runs from")
            elif disk.readonly:
                report.error("ignoredisk", f"disk {name!r} is read-only")
            elif disk not in chosen:
                chosen.append(disk)
        return chosen
    candidates = [d for d in facts.disks if not d.is_boot_media and not d.readonly and not d.removable
                  and d.size > 0]
    if not candidates:
        report.error("storage", "no disk to install to (the only disks are boot media, read-only or removable)")
    elif len(candidates) > 1:
        report.error("storage", "this machine has several disks (" + ", ".join(d.name for d in candidates)
                     + "); say which to use", "add 'ignoredisk --only-use=DISK' (other disks are never touched)")
    else:
        chosen = candidates
    return chosen


def resolve_layout(config: InstallConfig, facts: HostFacts | None, report: ValidationReport,
                   storage_only_host: bool = False) -> Layout | None:
    """Resolve storage against `facts` (or only check its consistency when facts is None)."""
    s = config.storage
    if s.explicit:
        _check_explicit(s, report)
    if facts is None:
        return None
    disks = select_disks(s, facts, report)
    if not disks:
        return None
    sector_sizes = {d.logical_sector_size for d in disks}
    if len(sector_sizes) > 1:
        report.error("storage", "the target disks mix logical sector sizes (" + ", ".join(
            f"{d.name}: {d.logical_sector_size}" for d in disks) + "); LVM cannot span them",
            "choose disks with the same sector size")
    clear = _disks_to_clear(s, disks, report)
    untouched = tuple(d.path for d in facts.disks if d not in disks)
    kept_vgs = _kept_volume_groups(facts, clear)
    if s.explicit:
        for vg in (vg for vg in s.volgroups if vg.name in kept_vgs):
            report.error(_at(vg.lineno), f"volgroup {vg.name}: a volume group of that name is already on "
                         f"{', '.join(kept_vgs[vg.name])}, which this install keeps; two with one name make "
                         "the boot ambiguous", "choose another name, or clear that disk with clearpart")
        layout = _explicit_layout(s, disks, clear, facts.memory_bytes, report)
    else:
        vg_name = _free_vg_name(kept_vgs)
        if vg_name != DEFAULT_VG:
            report.warning("autopart", f"the volume group is called {vg_name}: {DEFAULT_VG} is already on "
                           f"{', '.join(kept_vgs[DEFAULT_VG])}, which this install keeps")
        layout = _default_layout(s, disks, clear, facts.memory_bytes, vg_name, report)
    if layout is None:
        return None
    return Layout(layout.disks, layout.clear, layout.partitions, layout.vgs, layout.lvs, layout.kind,
                  max(sector_sizes), untouched)


def _kept_volume_groups(facts: HostFacts, clear: tuple[str, ...]) -> dict[str, list[str]]:
    """Volume groups with a PV on a disk this install does not erase: name -> those PVs."""
    disk_of = {node.path: d.path for d in facts.disks for c in d.children for node in c.walk()}
    kept: dict[str, list[str]] = {}
    for vg, pvs in facts.volume_groups.items():
        on_kept = [pv for pv in pvs if disk_of.get(pv, pv) not in clear]
        if on_kept:
            kept[vg] = on_kept
    return kept


def _free_vg_name(taken: Mapping[str, object]) -> str:
    """onn, else onn00, onn01 ... (anaconda's suggest_container_name does the same)."""
    return next(n for n in (DEFAULT_VG, *(f"{DEFAULT_VG}{i:02d}" for i in range(100))) if n not in taken)


def _disks_to_clear(s: Storage, disks: Sequence[Disk], report: ValidationReport) -> tuple[str, ...]:
    clear = []
    for d in disks:
        listed = s.clearpart == "all" and (not s.clearpart_drives or d.name in s.clearpart_drives
                                           or d.path in s.clearpart_drives)
        if s.clearpart == "linux" and (not s.clearpart_drives or d.name in s.clearpart_drives):
            listed = True
        if listed or not d.in_use or s.zerombr and not d.children:
            clear.append(d.path)
        else:
            report.error("clearpart", f"disk {d.name} has data on it ({_describe_use(d)}) and the kickstart "
                         "does not clear it", f"add 'clearpart --all --initlabel --drives={d.name}' to erase it")
    return tuple(clear)


def _describe_use(d: Disk) -> str:
    parts = []
    if d.partition_table:
        parts.append(f"{d.partition_table} partition table")
    if d.fstype:
        parts.append(f"{d.fstype} signature")
    if d.children:
        parts.append(f"{len(d.children)} partition(s)")
    return ", ".join(parts) or "in use"


def _grow(parts: list[PlannedPartition], disk_mib: int, disk: str, report: ValidationReport) -> list[PlannedPartition]:
    fixed = sum(p.size_mib for p in parts)
    free = disk_mib - GPT_OVERHEAD_MIB - fixed
    if free < 0:
        report.error("storage", f"the partitions on {disk} need {fixed + GPT_OVERHEAD_MIB} MiB but the disk "
                     f"has {disk_mib} MiB")
        return parts
    growers = [p for p in parts if p.grow]
    out = []
    for p in parts:
        if p.grow and growers:
            extra = free // len(growers)
            if p.maxsize_mib:
                extra = min(extra, max(p.maxsize_mib - p.size_mib, 0))
            p = PlannedPartition(**{**asdict(p), "size_mib": p.size_mib + extra})
        out.append(p)
    return out


def _boot_partitions(disk: str, add_boot: bool) -> list[PlannedPartition]:
    parts = [PlannedPartition(disk, "biosboot", "biosboot", BIOSBOOT_MIB),
             PlannedPartition(disk, "/boot/efi", "efi", ESP_MIB, mountpoint="/boot/efi",
                              fsoptions="umask=0077,shortname=winnt")]
    if add_boot:
        parts.append(PlannedPartition(disk, "/boot", DEFAULT_FSTYPE, BOOT_MIB, mountpoint="/boot",
                                      fsoptions="defaults"))
    return parts


def _default_layout(s: Storage, disks: Sequence[Disk], clear: tuple[str, ...], memory: int, vg_name: str,
                    report: ValidationReport) -> Layout | None:
    kind = s.autopart or "thinp"
    fstype = s.autopart_fstype or DEFAULT_FSTYPE
    if fstype not in ("ext4", "xfs"):
        report.error("autopart", f"--fstype={fstype} is not supported (ext4 or xfs)")
    first = disks[0].path
    parts = _boot_partitions(first, add_boot=True)
    total = sum(d.size // MiB - GPT_OVERHEAD_MIB for d in disks) - sum(p.size_mib for p in parts)
    swap = _swap_mib(memory, total)
    if kind == "plain":
        parts += [PlannedPartition(first, "swap", "swap", swap),
                  PlannedPartition(first, "/", fstype, MIN_POOL_MIB, grow=True, mountpoint="/", fsoptions="defaults")]
        plain = _grow(parts, disks[0].size // MiB, first, report)
        _check_space(total, MIN_POOL_MIB + swap, disks, report)
        return Layout(tuple(d.path for d in disks), clear, tuple(plain), kind=kind)
    pvs = []
    for i, d in enumerate(disks):
        pv = PlannedPartition(d.path, f"pv.{i:02d}", "lvmpv", 1, grow=True)
        pvs.append(pv)
    resolved = []
    for d in disks:
        resolved += _grow([p for p in parts + pvs if p.disk == d.path], d.size // MiB, d.path, report)
    vg_mib = sum(p.size_mib - PV_OVERHEAD_MIB for p in resolved if p.fstype == "lvmpv")
    _check_space(vg_mib, MIN_POOL_MIB + swap, disks, report)
    vg = PlannedVG(vg_name, tuple(p.name for p in pvs), vg_mib)
    lvs = [PlannedLV(vg_name, "swap", swap, "swap")]
    if kind == "lvm":
        lvs.append(PlannedLV(vg_name, "root", max(vg_mib - swap, 0), fstype, "/", "defaults", grow=True))
    else:
        meta = _pool_metadata_mib(vg_mib - swap)
        pool = max(vg_mib - swap - 2 * meta - PV_OVERHEAD_MIB, 0)
        lvs.append(PlannedLV(vg_name, "pool00", pool, grow=True, thinpool=True, metadatasize_mib=meta))
        for name, mountpoint, size in _fit_thin_sizes(pool):
            lvs.append(PlannedLV(vg_name, name, size, fstype, mountpoint, THIN_OPTIONS, pool="pool00"))
    return Layout(tuple(d.path for d in disks), clear, tuple(resolved), (vg,), tuple(lvs), kind=kind)


def _fit_thin_sizes(pool_mib: int) -> list[tuple[str, str, int]]:
    """Node NG's sizes when the pool holds them; otherwise scaled down to fit (blivet, like
    anaconda, does not overcommit a thin pool at install time). / keeps at least 3 GiB."""
    total = sum(size for _, _, size in DEFAULT_THIN_LVS)
    budget = pool_mib * 95 // 100
    if total <= budget:
        return list(DEFAULT_THIN_LVS)
    root_min = 3072
    rest = total - DEFAULT_THIN_LVS[0][2]
    factor = max(budget - root_min, 0) / rest
    out = [(DEFAULT_THIN_LVS[0][0], DEFAULT_THIN_LVS[0][1], root_min)]
    for name, mountpoint, size in DEFAULT_THIN_LVS[1:]:
        out.append((name, mountpoint, max(int(size * factor) // 4 * 4, 128)))
    return out


def _pool_metadata_mib(pool_mib: int) -> int:
    # lvm's own default is about 0.1% of the pool with a floor; keep a little more for snapshots
    return max(64, min(pool_mib // 500, 16 * 1024))


def _check_space(have_mib: int, need_mib: int, disks: Sequence[Disk], report: ValidationReport) -> None:
    if have_mib < need_mib:
        names = ", ".join(d.name for d in disks)
        report.error("storage", f"{names} too small: the layout needs at least {need_mib} MiB for LVM "
                     f"but {max(have_mib, 0)} MiB are left after the boot partitions",
                     "use a larger disk (at least 8 GiB) or add disks with ignoredisk --only-use")


def _fstype_of(mountpoint: str, fstype: str) -> str:
    if mountpoint == "biosboot":
        return "biosboot"
    if mountpoint == "/boot/efi":
        return "efi"
    if mountpoint == "swap":
        return "swap"
    if mountpoint.startswith("pv."):
        return "lvmpv"
    return fstype or DEFAULT_FSTYPE


def _check_explicit(s: Storage, report: ValidationReport) -> None:
    mountpoints: dict[str, int] = {}
    part_names = {p.mountpoint for p in s.partitions}

    def mount(mp: str, line: int) -> None:
        if mp in mountpoints:
            report.error(_at(line), f"mount point {mp} is used twice (first at line {mountpoints[mp]})")
        mountpoints[mp] = line

    for p in s.partitions:
        if p.mountpoint.startswith("raid."):
            report.error(_at(p.lineno), "part raid.*: software RAID is not supported by the hcinode installer")
            continue
        fstype = _fstype_of(p.mountpoint, p.fstype)
        if fstype in ("ext4", "xfs", "vfat") and not p.mountpoint.startswith("/"):
            report.error(_at(p.lineno), f"part {p.mountpoint}: not a mount point, 'swap', 'biosboot' or 'pv.NAME'")
        if p.fstype and p.fstype not in FSTYPES + ("efi", "biosboot", "lvmpv"):
            report.error(_at(p.lineno), f"part {p.mountpoint}: --fstype={p.fstype} is not supported",
                         "use ext4, xfs, vfat or swap")
        if p.swap_size and p.mountpoint != "swap":
            report.error(_at(p.lineno), f"part {p.mountpoint}: --{p.swap_size} sizes swap only", "use --size")
        elif p.swap_size and (p.size_mib or p.grow):
            report.error(_at(p.lineno), f"part swap: --{p.swap_size} computes the size; drop --size/--grow")
        if p.size_mib <= 0 and not p.grow and not p.swap_size:
            report.error(_at(p.lineno), f"part {p.mountpoint}: needs --size (MiB) or --grow")
        if p.mountpoint.startswith("/"):
            mount(p.mountpoint, p.lineno)
    vg_names = set()
    for vg in s.volgroups:
        if vg.name in vg_names:
            report.error(_at(vg.lineno), f"volgroup {vg.name} is defined twice")
        vg_names.add(vg.name)
        for pv in vg.pvs:
            if pv not in part_names:
                report.error(_at(vg.lineno), f"volgroup {vg.name}: {pv} is not defined by a 'part {pv}' line")
    pools = {(lv.vgname, lv.name) for lv in s.logvols if lv.thinpool}
    lv_names: set[tuple[str, str]] = set()
    for lv in s.logvols:
        at = _at(lv.lineno)
        if lv.vgname not in vg_names:
            report.error(at, f"logvol {lv.name}: volume group {lv.vgname!r} is not defined by a volgroup line")
        if (lv.vgname, lv.name) in lv_names:
            report.error(at, f"logvol {lv.name} is defined twice in {lv.vgname}")
        lv_names.add((lv.vgname, lv.name))
        if lv.thin and (lv.vgname, lv.poolname) not in pools:
            report.error(at, f"logvol {lv.name}: --poolname={lv.poolname!r} is not a thin pool in {lv.vgname}")
        if lv.thinpool and lv.mountpoint != "none":
            report.error(at, f"logvol {lv.name}: a thin pool has no mount point (use 'logvol none')")
        if lv.swap_size and lv.mountpoint != "swap":
            report.error(at, f"logvol {lv.name}: --{lv.swap_size} sizes swap only", "use --size")
        elif lv.swap_size and (lv.size_mib or lv.grow or lv.percent):
            report.error(at, f"logvol {lv.name}: --{lv.swap_size} computes the size; drop --size/--grow/--percent")
        if lv.size_mib <= 0 and not lv.grow and not lv.percent and not lv.swap_size:
            report.error(at, f"logvol {lv.name}: needs --size, --grow or --percent")
        if lv.fstype and lv.fstype not in FSTYPES:
            report.error(at, f"logvol {lv.name}: --fstype={lv.fstype} is not supported")
        if lv.mountpoint.startswith("/"):
            mount(lv.mountpoint, lv.lineno)
        if lv.thin and "discard" not in lv.fsoptions and lv.mountpoint.startswith("/"):
            report.warning(at, f"logvol {lv.name}: a thin LV without 'discard' never returns freed space to "
                           "the pool", "add --fsoptions=defaults,discard")
    if "/" not in mountpoints:
        report.error("storage", "the layout has no / (root) file system")
    has_bios = any(p.mountpoint == "biosboot" for p in s.partitions) or s.reqpart_add_boot is not None
    has_esp = any(p.mountpoint == "/boot/efi" for p in s.partitions) or s.reqpart_add_boot is not None
    if not has_bios and not has_esp:
        report.error("storage", "the layout has neither a BIOS boot partition nor an EFI system partition",
                     "add 'reqpart --add-boot' (the installer then adds both and /boot)")
    elif not (has_bios and has_esp):
        missing = "EFI system partition" if has_bios else "BIOS boot partition"
        report.warning("storage", f"no {missing}: the disk boots under one firmware only", "add 'reqpart'")


def _explicit_layout(s: Storage, disks: Sequence[Disk], clear: tuple[str, ...], memory: int,
                     report: ValidationReport) -> Layout | None:
    disk_mib = sum(d.size // MiB for d in disks)

    def swap_mib(kind: str, size_mib: int) -> int:
        return recommended_swap_mib(memory, hibernation=kind == "hibernation", disk_mib=disk_mib) if kind \
            else size_mib

    s = replace(s, partitions=tuple(replace(p, size_mib=swap_mib(p.swap_size, p.size_mib)) for p in s.partitions),
                logvols=tuple(replace(lv, size_mib=swap_mib(lv.swap_size, lv.size_mib)) for lv in s.logvols))
    by_name = {d.name: d for d in disks} | {d.path: d for d in disks}
    parts: list[PlannedPartition] = []
    if s.reqpart_add_boot is not None:
        have = {p.mountpoint for p in s.partitions}
        parts += [p for p in _boot_partitions(disks[0].path, bool(s.reqpart_add_boot) and "/boot" not in have)
                  if p.name not in have]
    for p in s.partitions:
        disk = disks[0]
        if p.ondisk:
            found = by_name.get(p.ondisk[0]) or by_name.get(p.ondisk[0].removeprefix("/dev/"))
            if found is None:
                report.error(_at(p.lineno), f"part {p.mountpoint}: --ondisk={p.ondisk[0]} is not a target disk",
                             "add it to ignoredisk --only-use")
                continue
            disk = found
        parts.append(_planned_part(p, disk.path))
    resolved: list[PlannedPartition] = []
    for d in disks:
        resolved += _grow([p for p in parts if p.disk == d.path], d.size // MiB, d.path, report)
    sizes = {p.name: p.size_mib for p in resolved}
    vgs = []
    for vg in s.volgroups:
        vgs.append(PlannedVG(vg.name, vg.pvs, sum(max(sizes.get(pv, 0) - PV_OVERHEAD_MIB, 0) for pv in vg.pvs)))
    lvs = _explicit_lvs(s.logvols, {v.name: v.size_mib for v in vgs}, s.volgroups, report)
    used = {p.disk for p in resolved}
    return Layout(tuple(d.path for d in disks if d.path in used), tuple(c for c in clear if c in used),
                  tuple(resolved), tuple(vgs), tuple(lvs), kind="custom")


def _planned_part(p: Partition, disk: str) -> PlannedPartition:
    fstype = _fstype_of(p.mountpoint, p.fstype)
    mountpoint = p.mountpoint if p.mountpoint.startswith("/") else ""
    options = p.fsoptions or ("umask=0077,shortname=winnt" if fstype == "efi" else "defaults" if mountpoint else "")
    return PlannedPartition(disk, p.mountpoint, fstype, p.size_mib or 1, p.grow, p.maxsize_mib, mountpoint,
                            options, p.label)


def _explicit_lvs(logvols: Sequence[LogicalVolume], vg_sizes: Mapping[str, int], vgs: Sequence[VolumeGroup],
                  report: ValidationReport) -> list[PlannedLV]:
    out = []
    thick_used: dict[str, int] = {}
    for lv in logvols:
        if not lv.thin:
            thick_used[lv.vgname] = thick_used.get(lv.vgname, 0) + lv.size_mib + 2 * lv.metadatasize_mib
    for vg, used in thick_used.items():
        if vg in vg_sizes and used > vg_sizes[vg]:
            report.error("storage", f"volume group {vg}: the logical volumes need {used} MiB but it has "
                         f"{vg_sizes[vg]} MiB")
    for lv in logvols:
        if not lv.thinpool:
            continue
        thin = sum(t.size_mib for t in logvols if t.thin and t.poolname == lv.name and t.vgname == lv.vgname)
        pool = lv.size_mib
        if lv.grow:
            pool = max(pool, vg_sizes.get(lv.vgname, 0) - thick_used.get(lv.vgname, 0) - lv.size_mib
                       - 2 * max(lv.metadatasize_mib, 64))
        if lv.vgname in vg_sizes and thin > pool:
            report.error(_at(lv.lineno), f"thin pool {lv.name}: its thin volumes need {thin} MiB but the pool "
                         f"has {pool} MiB", "make the thin volumes smaller (the installer does not overcommit)")
    for lv in logvols:
        size = lv.size_mib
        if lv.percent:
            size = vg_sizes.get(lv.vgname, 0) * lv.percent // 100
        mountpoint = lv.mountpoint if lv.mountpoint.startswith("/") else ""
        fstype = "" if lv.thinpool else ("swap" if lv.mountpoint == "swap" else lv.fstype or DEFAULT_FSTYPE)
        options = lv.fsoptions or ("defaults" if mountpoint else "")
        out.append(PlannedLV(lv.vgname, lv.name, size, fstype, mountpoint, options, lv.grow, lv.thinpool,
                             lv.poolname if lv.thin else "", lv.metadatasize_mib, lv.chunksize_kib))
    return out
