"""Read-only facts an update plan is made from: the running image, its thin LV and pool, /boot,
the kernel arguments, the image list; and the cluster facts of the safety checks.

Parsing is pure (tests feed it recorded output); `collect` runs the commands through the runner.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field

from nodecore.runner import Runner
from update.images import BOOT_DIR, Image, Registry, dm_path
from update.manifest import ImageManifest

# the kernel arguments that name a root or a boot image: every image entry sets its own
NOT_CARRIED_ARGS = ("root=", "BOOT_IMAGE=", "ro", "rw", "initrd=", "panic=")


@dataclass(frozen=True)
class ThinLV:
    vg: str
    lv: str
    pool: str
    size: int  # virtual size, bytes
    used: int  # bytes the LV has allocated in its pool
    device: str


@dataclass(frozen=True)
class UpdateFacts:
    running: ImageManifest
    root: ThinLV | None  # None: the root is not a thin LV (refused)
    root_fstype: str
    pool_free: int  # bytes free in the root's thin pool
    boot_uuid: str  # "" when /boot is not its own file system (refused)
    var_separate: bool
    append: str  # kernel arguments every image entry gets
    kernel_version: str = ""  # of the running image (its files at /boot/vmlinuz-<version>)
    registry: Registry | None = None
    boot_id: str = ""


@dataclass(frozen=True)
class ClusterFacts:
    engine_vm_here: bool = False
    heal_pending: tuple[tuple[str, int], ...] = ()  # (volume, entries)
    joined: bool = False
    agent_status: str = ""  # the engine's word for this host in agent.json: Up, Maintenance, ...
    notes: tuple[str, ...] = field(default=())  # what could not be read (said, not fatal)


def parse_lvs(text: str) -> list[dict[str, str]]:
    """`lvs --reportformat json --units b --nosuffix -o vg_name,lv_name,pool_lv,lv_size,data_percent,lv_attr`."""
    data = json.loads(text or "{}")
    rows: list[dict[str, str]] = []
    for report in data.get("report", []):
        rows += [{k: str(v) for k, v in row.items()} for row in report.get("lv", [])]
    return rows


def thin_root(rows: list[dict[str, str]], root_device: str) -> tuple[ThinLV | None, int]:
    """(the root's thin LV, free bytes in its pool)."""
    for row in rows:
        device = dm_path(row["vg_name"], row["lv_name"])
        if device != root_device and f"/dev/{row['vg_name']}/{row['lv_name']}" != root_device:
            continue
        if not row.get("pool_lv"):
            return None, 0
        size = int(float(row["lv_size"] or 0))
        used = int(size * float(row.get("data_percent") or 0) / 100)
        lv = ThinLV(row["vg_name"], row["lv_name"], row["pool_lv"], size, used, device)
        pool = next((r for r in rows if r["vg_name"] == lv.vg and r["lv_name"] == lv.pool), None)
        if pool is None:
            return lv, 0
        pool_size = int(float(pool["lv_size"] or 0))
        return lv, int(pool_size * (1 - float(pool.get("data_percent") or 0) / 100))
    return None, 0


def kernel_args(default_grub: str, cmdline: str) -> str:
    """GRUB_CMDLINE_LINUX of /etc/default/grub (the installer keeps it there), else /proc/cmdline;
    without the arguments each entry sets itself."""
    value = ""
    for line in default_grub.splitlines():
        if line.startswith("GRUB_CMDLINE_LINUX="):
            parts = shlex.split(line.split("=", 1)[1])
            value = parts[0] if parts else ""
    args = (value or cmdline).split()
    return " ".join(a for a in args if not any(a == n or (n.endswith("=") and a.startswith(n))
                                               for n in NOT_CARRIED_ARGS))


def bootstrap_registry(running: ImageManifest, root: ThinLV, kernel_version: str) -> Registry:
    """Before the first update the image list is the installed image alone, with the installer's
    kernel path on /boot."""
    return Registry((Image(running.version, f"{root.vg}/{root.lv}", root.device, f"/vmlinuz-{kernel_version}",
                           f"/initrd.img-{kernel_version}", "good"),), running.version)


def new_image(version: str, vg: str, lv: str) -> Image:
    return Image(version, f"{vg}/{lv}", dm_path(vg, lv), f"/{BOOT_DIR}/{version}/vmlinuz",
                 f"/{BOOT_DIR}/{version}/initrd.img", "staged")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _mount_source(runner: Runner, path: str) -> tuple[str, str]:
    out = runner.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "--mountpoint", path], check=False).stdout.split()
    return (out[0], out[1]) if len(out) >= 2 else ("", "")


def collect(runner: Runner, registry: Registry | None) -> UpdateFacts:
    from update.manifest import tree_manifest

    running = tree_manifest("/")
    root_dev, root_fs = _mount_source(runner, "/")
    lvs = runner.run(["lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
                      "vg_name,lv_name,pool_lv,lv_size,data_percent,lv_attr"], check=False)
    root, free = thin_root(parse_lvs(lvs.stdout) if lvs.ok else [], os.path.realpath(root_dev)
                           if root_dev.startswith("/dev/") and not root_dev.startswith("/dev/mapper/") else root_dev)
    boot_dev, _ = _mount_source(runner, "/boot")
    boot_uuid = runner.run(["blkid", "-s", "UUID", "-o", "value", boot_dev], check=False).stdout.strip() \
        if boot_dev else ""
    var_dev, _ = _mount_source(runner, "/var")
    kernels = sorted(f for f in os.listdir("/boot") if f.startswith("vmlinuz-")) if os.path.isdir("/boot") else []
    kver = kernels[-1].removeprefix("vmlinuz-") if kernels else os.uname().release
    if registry is None and root is not None:
        registry = bootstrap_registry(running, root, kver)
    return UpdateFacts(running, root, root_fs, free, boot_uuid, bool(var_dev),
                       kernel_args(_read("/etc/default/grub"), _read("/proc/cmdline")), kver, registry,
                       _read("/proc/sys/kernel/random/boot_id").strip())


def collect_cluster(runner: Runner, state: str) -> ClusterFacts:
    """The hyperconverged facts, each through the package that owns it; what cannot be read is noted."""
    from agent.state import ClusterFiles
    from agent.status import agent_path, read_json

    notes: list[str] = []
    engine_here = False
    try:
        from hosted_engine.ha_agent import LibvirtVm
        from hosted_engine.layout import DOMAIN_NAME, host_state_path

        if os.path.exists(host_state_path()):
            engine_here = LibvirtVm(DOMAIN_NAME).state()[0] == "up"
    except Exception as exc:  # noqa: BLE001 - libvirt missing: said, and the check cannot pass silently
        notes.append(f"the engine VM's state could not be read: {exc}")
    heals: list[tuple[str, int]] = []
    if runner.run(["sh", "-c", "command -v gluster"], check=False).ok:
        from gluster_setup.status import collect as gluster_collect

        status = gluster_collect({"local": runner}, ["local"])
        heals = [(v.name, v.heal_pending) for v in status.volumes if v.heal_pending]
    joined = ClusterFiles(state).joined()
    agent = read_json(agent_path()) or {}
    return ClusterFacts(engine_here, tuple(heals), joined, str(agent.get("status", "")), tuple(notes))
