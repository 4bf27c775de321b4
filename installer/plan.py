"""The install plan: a pure function of (InstallConfig, resolved Layout, host facts) -> Plan.

Nothing is written before step 2: step 1 fetches the image and verifies its checksum. A re-run
of the same plan resumes from the journal; every step can also be repeated safely (mounts check
first, unsquashfs overwrites), so a power loss during the payload copy is completed by running
the same command again from the install media. GRUB refuses to boot the disk until the step
before its last two (`finish_bootloader`): a machine whose install was interrupted or failed comes back
to the install media instead of a half-installed system.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from installer.config import InstallConfig
from installer.firstboot import node_settings
from installer.storage import Layout
from nodecore.facts import HostFacts
from nodecore.plan import Plan, Step
from nodecore.secrets import Secret, mask_url

TARGET = "/run/hcinode/target"
WORK_DIR = "/run/hcinode/install"


@dataclasses.dataclass(frozen=True)
class Paths:
    target: str = TARGET
    work: str = WORK_DIR

    @property
    def devices_file(self) -> str:
        return os.path.join(self.work, "devices.json")

    @property
    def log_dir(self) -> str:
        return os.path.join(self.work, "logs")

    @property
    def image(self) -> str:
        return os.path.join(self.work, "image")


def build_plan(config: InstallConfig, layout: Layout, facts: HostFacts, *, paths: Paths | None = None,
               source: str = "") -> Plan:
    paths = paths or Paths()
    # the kickstart's location is shown and kept (/etc/hcinode/installed), never fetched from the
    # plan: its credentials stay out of params and summary (host and path remain, so two kickstarts
    # still make two plans)
    source = mask_url(source)
    t = paths.target
    common = {"target": t, "devices_file": paths.devices_file}
    root_lv = next((f"{lv.vg}/{lv.name}" for lv in layout.lvs if lv.mountpoint == "/"), "")
    root_name = root_lv or next((p.name for p in layout.partitions if p.mountpoint == "/"), "/")
    steps = [
        Step("Fetch the node image and verify its checksum", action="fetch_payload",
             params={"image": paths.image, "url": config.payload.url, "checksum": config.payload.checksum}),
        Step("Partition and format " + ", ".join(layout.disks) + " (blivet)", action="storage_apply",
             params={"layout": layout.to_dict(), "devices_file": paths.devices_file}),
        Step(f"Mount the new file systems on {t}", action="mount_target", params=common),
        Step("Copy the node image onto the root file system", action="copy_payload",
             params={**common, "image": paths.image, "root_name": root_name, "url": config.payload.url,
                     "kernel_cmdline": facts.kernel_cmdline}),
        Step("Write /etc/fstab (file systems by UUID)", action="write_fstab", params=common),
        Step("Reset machine-id and SSH host keys, set the locale", action="reset_identity",
             params={"target": t, "lang": config.lang, "source": source,
                     "hostname": config.hostname or "hcinode"}),
        Step("Write the first-boot network, host name, NTP, time zone and keyboard (node_setup)",
             action="first_boot_network", params={"target": t,
                                                  "node": node_settings(config, facts, facts.kernel_cmdline)}),
        *_first_boot_join(config, t),
        Step(f"Mount {', '.join(('/dev', '/proc', '/sys', '/run'))} into the target", action="bind_system",
             params={"target": t}),
        Step("Set the root password, users and SSH keys", action="set_accounts", params=_accounts(config, t)),
        Step("Build the initramfs for a thin-LVM root", action="make_initramfs", params={"target": t}),
        Step("Install GRUB for BIOS and UEFI (signed shim)", action="install_bootloader",
             params={**common, "disks": list(layout.disks),
                     # the console the installer was booted with stays the installed node's console
                     "append": config.bootloader.kernel_args(facts.kernel_cmdline),
                     "timeout": 5 if config.bootloader.timeout is None else config.bootloader.timeout,
                     "location": config.bootloader.location, "firmware": facts.firmware,
                     "hostname": config.hostname or "hcinode", "guard": True}),
    ]
    posts = config.scripts_of("post")
    if posts:
        steps.append(Step(f"Run {len(posts)} %post script(s)", action="run_post",
                          params={"target": t, "log_dir": paths.log_dir, "scripts": [
                              {"body": s.body, "interpreter": s.interpreter, "nochroot": s.nochroot,
                               "erroronfail": s.erroronfail, "log": s.log, "lineno": s.lineno} for s in posts]}))
    steps += [
        # until here GRUB refuses to boot the disk: an interrupted or failed install never boots half-done
        Step("Make the disk bootable (the install is complete)", action="finish_bootloader", params={"target": t}),
        Step("Keep the install logs on the target (/var/log/hcinode-install)", action="keep_logs",
             params={"target": t, "log_dir": paths.log_dir}),
        Step(f"Unmount {t}", action="unmount_target", params={"target": t}),
    ]
    summary: dict[str, Any] = {
        "kickstart": source or "-",
        "hostname": config.hostname or "hcinode",
        "disks": {d: ("ERASED" if d in layout.clear else "free space used") for d in layout.disks},
        "layout": layout.render_lines(),
        "image": config.payload.url or "the image on the boot media",
        "then": config.finish,
    }
    return Plan(f"Install hcinode on {', '.join(layout.disks)}", tuple(steps), summary)


def _first_boot_join(config: InstallConfig, target: str) -> list[Step]:
    """%hcinode engine_url/join_token/ca_fingerprint: the node joins the engine at first boot
    (hcinode-firstboot-join.service reads the file this writes; the token stays a Secret here)."""
    node = config.node
    if not (node.engine_url and node.join_token and node.ca_fingerprint):
        return []
    return [Step(f"Write the first-boot join of {node.engine_url} (hcinode-firstboot-join.service)",
                 action="first_boot_join", params={"target": target, "engine_url": node.engine_url,
                                                   "ca_pin": node.ca_fingerprint, "token": node.join_token})]


def _accounts(config: InstallConfig, target: str) -> dict[str, Any]:
    keys: dict[str, list[str]] = {}
    for k in config.sshkeys:
        keys.setdefault(k.username, []).append(k.key)
    # root's keys are written by node_setup (ssh.authorized_keys); the others here
    keys.pop("root", None)
    return {
        "target": target,
        "root_hash": Secret(config.rootpw.hash) if config.rootpw.hash else "",
        "root_locked": config.rootpw.locked,
        "users": [{"name": u.name, "hash": Secret(u.password_hash) if u.password_hash else "",
                   "groups": list(u.groups), "uid": u.uid, "gecos": u.gecos, "homedir": u.homedir,
                   "shell": u.shell, "locked": u.locked} for u in config.users],
        "sshkeys": keys,
    }
