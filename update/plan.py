"""Update plans: pure functions of (facts, the verified image) -> Plan. `--dry-run` prints them.

apply: a new thin LV beside the running root -> its file system -> the image written with the
installer's own actions (mount_target, copy_payload, bind_system, make_initramfs, unmount_target)
-> carry-over by rule -> fstab -> kernel and initrd onto /boot -> the whole GRUB menu -> the trial
armed (next_entry + trial.json). The running root is never written. Mounts are one-shot steps (a
power cut empties /run: a re-run mounts again, the journal skips the rest that was done).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from installer.target import THIN_EXT4_OPTIONS
from nodecore.config import human_size
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport
from update import safety
from update.facts import ClusterFacts, UpdateFacts, new_image
from update.images import Registry, entry_id, grub_cfg, lv_name, previous_of, to_prune
from update.manifest import ImageManifest, check_compatible
from update.trial import DEFAULT_BOUND, TrialState

GRUB_CFG = "/boot/grub/grub.cfg"
GRUBENV = "/boot/grub/grubenv"
BOOT_TIMEOUT = 5
POOL_RESERVE = 512 * 1024 * 1024  # the pool must keep room for /var, the logs and the bricks' metadata
UNPACK_FACTOR = 7  # zstd/xz squashfs of the node root unpacks to ~6.5x (DESIGN.md: 142 MiB -> 917 MiB)
MIN_ROOT = 6 * 1024**3  # the installer's root LV: 6 GiB virtual


@dataclass(frozen=True)
class UpdatePaths:
    state: str  # <state dir>/update: images.json, trial.json, carry-over reports, work files

    @property
    def work(self) -> str:
        return os.path.join(self.state, "work")

    @property
    def target(self) -> str:
        return "/run/hcinode/update/target"

    @property
    def devices_file(self) -> str:
        return os.path.join(self.work, "devices.json")

    @property
    def registry(self) -> str:
        return os.path.join(self.state, "images.json")

    @property
    def trial(self) -> str:
        return os.path.join(self.state, "trial.json")

    def carry_report(self, version: str) -> str:
        return os.path.join(self.state, f"carry-over-{version}.json")


def space_needed(squashfs_bytes: int, root_used: int) -> int:
    """What the new root will take from the pool: about what the running root uses, or the
    squashfs unpacked, whichever is more, plus a tenth; plus the pool's reserve."""
    image = max(root_used, squashfs_bytes * UNPACK_FACTOR)
    return image + image // 10 + POOL_RESERVE


def validate_apply(facts: UpdateFacts, image: ImageManifest, cluster: ClusterFacts, *, squashfs_bytes: int,
                   allow_downgrade: bool, force: bool) -> ValidationReport:
    report = ValidationReport("update apply")
    check_compatible(report, image, facts.running, allow_downgrade=allow_downgrade)
    if facts.root is None:
        report.error("root", "the running root is not a thin LV: images live on thin LVs beside it",
                     "updates need the installer's default layout (VG onn, thin pool)")
    else:
        need = space_needed(squashfs_bytes, facts.root.used)
        if facts.pool_free < need:
            report.error("thin pool", f"{facts.root.vg}/{facts.root.pool} has {human_size(facts.pool_free)} free, "
                         f"the new image needs about {human_size(need)}",
                         "free space: `hcinode update prune`, or extend the pool (lvextend)")
        if facts.registry and facts.registry.find(image.version) and \
                facts.registry.find(image.version).state == "good":  # type: ignore[union-attr]
            report.error("SOURCE", f"image {image.version} is on this node already",
                         f"`hcinode update rollback --to {image.version}` boots it")
    if not facts.boot_uuid:
        report.error("/boot", "/boot is not its own file system: the images' kernels live there",
                     "updates need the installer's default layout")
    safety.check(report, cluster, force=force)
    return report


def apply_plan(facts: UpdateFacts, image: ImageManifest, *, squashfs: str, source: str, checksum_from: str,
               paths: UpdatePaths, bound: float = DEFAULT_BOUND) -> Plan:
    assert facts.root is not None and facts.registry is not None, "validate_apply refuses these"
    root = facts.root
    lv = lv_name(image.version)
    new = new_image(image.version, root.vg, lv)
    size = max(root.size, MIN_ROOT)
    t = paths.target
    devices = {"/": {"path": new.device, "fstype": facts.root_fstype, "mountpoint": "/",
                     "options": "defaults,discard"}}
    common = {"target": t, "devices_file": paths.devices_file}
    running = facts.running.version
    registry = facts.registry.with_image(new)
    mkfs = (["mkfs.xfs", "-q", "-f", new.device] if facts.root_fstype == "xfs"
            else ["mkfs.ext4", "-q", "-F", *THIN_EXT4_OPTIONS, new.device])
    trial = TrialState(image.version, running, bound=bound)
    steps = [
        Step(f"Create the thin LV {root.vg}/{lv} ({human_size(size)}) in {root.vg}/{root.pool}",
             argv=("lvcreate", "--yes", "--type", "thin", "--virtualsize", f"{size}b", "--thinpool", root.pool,
                   "--name", lv, root.vg),
             check=("lvs", f"{root.vg}/{lv}")),
        Step(f"Make the {facts.root_fstype} file system on {new.device}", argv=tuple(mkfs),
             check=("blkid", "-p", new.device)),
        Step("Name the new root for the installer's actions", action="write_devices",
             params={"devices_file": paths.devices_file, "devices": devices}, one_shot=True),
        Step(f"Mount the new root on {t}", action="mount_target", params=common, one_shot=True),
        Step(f"Write image {image.version} onto the new root (the installer's payload copy)",
             action="copy_payload", params={**common, "image": squashfs, "root_name": "/"}),
        Step("Carry over what the node owns (one rule table) and report the rest of /etc",
             action="carry_over", params={"target": t, "old_root": "/", "var_separate": facts.var_separate,
                                          "report": paths.carry_report(image.version)}),
        Step("Point the new root's fstab at it (every other file system stays)", action="update_fstab",
             params={"target": t, "device": new.device}),
        Step(f"Mount /dev, /proc, /sys, /run into {t}", action="bind_system", params={"target": t},
             one_shot=True),
        Step("Build the initramfs for a thin-LVM root (if the image's lacks it)", action="make_initramfs",
             params={"target": t}),
        Step(f"Copy the kernel and initrd of {image.version} to /boot/{os.path.dirname(new.kernel).lstrip('/')}",
             action="stage_boot_files", params={"target": t, "kernel": "/boot" + new.kernel,
                                                "initrd": "/boot" + new.initrd}),
        Step(f"Unmount {t}", action="unmount_target", params={"target": t}, one_shot=True),
        Step("Write the boot menu (every image, the running one the default)", action="write_boot_menu",
             params=_menu_params(facts, registry, paths)),
        Step(f"Arm one trial boot of {image.version} (GRUB next_entry; back to {running} unless healthy)",
             action="arm_trial", params={"trial": paths.trial, "state": trial.to_dict(), "grubenv": GRUBENV,
                                         "next_entry": new.entry_id, "saved_entry": entry_id(registry.default)}),
    ]
    summary = {"running": running, "new image": f"{image.version} ({image.architecture})", "source": source,
               "checksum": checksum_from, "new root": f"{root.vg}/{lv} beside {root.vg}/{root.lv}",
               "thin pool free": human_size(facts.pool_free), "trial bound": f"{bound:.0f}s to healthy",
               "then": "reboot: the new image boots once; healthy -> it stays; otherwise the next boot is "
                       f"{running} again"}
    return Plan(f"Update this node from {running} to {image.version}", tuple(steps), summary)


def _menu_params(facts: UpdateFacts, registry: Registry, paths: UpdatePaths) -> dict[str, object]:
    return {"grub_cfg": GRUB_CFG, "registry": paths.registry, "images": registry.to_dict(),
            "text": grub_cfg(registry.images, default=registry.default, boot_uuid=facts.boot_uuid,
                             append=facts.append, timeout=BOOT_TIMEOUT)}


def rollback_target(facts: UpdateFacts, to: str, report: ValidationReport) -> str:
    registry = facts.registry
    if registry is None:
        report.error("images", "no image list: this node has not been updated")
        return ""
    if to:
        found = registry.find(to)
        if found is None:
            report.error("--to", f"no image {to} on this node",
                         "see `hcinode update list`: " + ", ".join(i.version for i in registry.images))
        elif found.version == facts.running.version and registry.default == to:
            report.error("--to", f"{to} runs already and is the default")
        return to
    previous = previous_of(registry, facts.running.version)
    if previous is None:
        report.error("images", "there is no previous image that booted healthy",
                     "see `hcinode update list`")
        return ""
    return previous.version


def rollback_plan(facts: UpdateFacts, to: str, paths: UpdatePaths) -> Plan:
    assert facts.registry is not None
    registry = replace(facts.registry, default=to)
    steps = [
        Step("Write the boot menu", action="write_boot_menu", params=_menu_params(facts, registry, paths)),
        Step(f"Make {to} the default and cancel any armed trial", argv=(
            "grub-editenv", GRUBENV, "set", f"saved_entry={entry_id(to)}"), one_shot=True),
        Step("Cancel an armed trial boot", argv=("grub-editenv", GRUBENV, "unset", "next_entry"), one_shot=True),
        Step("Record the rollback", action="end_trial",
             params={"trial": paths.trial, "reason": f"rolled back by hand to {to}"}),
    ]
    return Plan(f"Roll back to {to}", tuple(steps),
                {"running": facts.running.version, "default after": to, "then": f"reboot: {to} boots"})


def prune_plan(facts: UpdateFacts, paths: UpdatePaths, keep: int) -> Plan:
    assert facts.registry is not None
    gone = to_prune(facts.registry, facts.running.version, keep)
    registry = facts.registry
    steps: list[Step] = []
    for image in gone:
        registry = registry.without(image.version)
        vg_lv = image.lv
        steps.append(Step(f"Remove the thin LV {vg_lv} of {image.version}", argv=("lvremove", "--yes", vg_lv),
                          check=("sh", "-c", f"! lvs {vg_lv} >/dev/null 2>&1")))
        if image.kernel.startswith("/hcinode/"):
            steps.append(Step(f"Remove the kernel of {image.version} from /boot",
                              argv=("rm", "-rf", "/boot" + os.path.dirname(image.kernel))))
    if gone:
        steps.append(Step("Write the boot menu", action="write_boot_menu", params=_menu_params(facts, registry,
                                                                                                  paths)))
    return Plan(f"Prune images (keep {keep})", tuple(steps),
                {"keep": [i.version for i in registry.images], "remove": [i.version for i in gone] or "nothing"})
