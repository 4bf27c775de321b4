"""The update's named actions: the installer's own for the image (one copy of the payload code),
plus the few an update needs on top. Each takes (runner, params)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from typing import Any

from installer import target as installer
from nodecore.runner import Runner
from update.carryover import carry_over_action, fstab_for_new_root
from update.trial import TrialState, load


def write_devices(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.write_file(params["devices_file"], json.dumps(params["devices"], indent=1, sort_keys=True) + "\n")


def update_fstab(runner: Runner, params: Mapping[str, Any]) -> None:
    with open("/etc/fstab", encoding="utf-8") as f:
        running = f.read()
    uuid = installer.blkid(runner, params["device"])
    runner.write_file(os.path.join(params["target"], "etc/fstab"), fstab_for_new_root(running, f"UUID={uuid}"))


def stage_boot_files(runner: Runner, params: Mapping[str, Any]) -> None:
    """The new image's kernel and initrd (from its own /boot) into /boot/hcinode/<version>/."""
    version = installer.kernel_version(params["target"])
    os.makedirs(os.path.dirname(params["kernel"]), exist_ok=True)
    for name, dest in (("vmlinuz", params["kernel"]), ("initrd.img", params["initrd"])):
        src = os.path.join(params["target"], "boot", f"{name}-{version}")
        shutil.copy2(src, dest + ".part")
        os.replace(dest + ".part", dest)
    runner.run(["sync"], check=False)


def write_boot_menu(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.write_file(params["grub_cfg"], params["text"])
    runner.write_file(params["registry"], json.dumps(params["images"], indent=1, sort_keys=True) + "\n")


def arm_trial(runner: Runner, params: Mapping[str, Any]) -> None:
    """trial.json first (confirm-boot must know about the trial before GRUB can boot it)."""
    runner.write_file(params["trial"], json.dumps(params["state"], indent=1, sort_keys=True) + "\n")
    runner.run(["grub-editenv", params["grubenv"], "set", f"saved_entry={params['saved_entry']}",
                f"next_entry={params['next_entry']}"])


def end_trial(runner: Runner, params: Mapping[str, Any]) -> None:
    trial = load(params["trial"])
    if trial is not None and trial.in_progress:
        ended = TrialState(**{**trial.to_dict(), "state": "rolled-back", "reason": params["reason"]})
        runner.write_file(params["trial"], json.dumps(ended.to_dict(), indent=1, sort_keys=True) + "\n")


ACTIONS = {
    "write_devices": write_devices,
    "mount_target": installer.mount_target,
    "copy_payload": installer.copy_payload,
    "carry_over": carry_over_action,
    "update_fstab": update_fstab,
    "bind_system": installer.bind_system,
    "make_initramfs": installer.make_initramfs,
    "stage_boot_files": stage_boot_files,
    "unmount_target": installer.unmount_target,
    "write_boot_menu": write_boot_menu,
    "arm_trial": arm_trial,
    "end_trial": end_trial,
}
