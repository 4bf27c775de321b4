"""Engine appliance disk image: the staged Debian root on a sparse qcow2 (BIOS grub, serial console).

No loop devices or mounts: the ext4 file system is made directly from the staged tree inside the
raw image (`mkfs.ext4 -d`, `-E offset=`), and grub's boot sector and core image are written into
the MBR and the gap before the first partition. grub-mkimage fills the i386-pc core's block list
itself and boot.img's default kernel sector is 1, which is where core.img goes: that is all
grub-bios-setup would do for this fixed layout.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from nodecore.runner import Runner

PART_START = 2048  # sectors: the partition starts at 1 MiB; core.img lives in sectors 1..2047
SECTOR = 512
# fixed identifiers: the same inputs give the same image, and the boot config can name them
ROOT_UUID = "6c1d1ae7-7b1e-4e8a-9c1e-68636e6f6465"
GRUB_MODULES = ("biosdisk part_msdos ext2 normal linux search search_fs_uuid configfile echo "
                "serial terminal test gzio boot").split()


def grub_cfg(kernel: str, initrd: str, cmdline: str) -> str:
    return f"""# hcinode engine appliance
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=1
menuentry "hcinode engine appliance" {{
    search --no-floppy --fs-uuid --set=root {ROOT_UUID}
    linux /boot/{kernel} root=UUID={ROOT_UUID} ro {cmdline}
    initrd /boot/{initrd}
}}
"""


def disk_image(runner: Runner, p: Mapping[str, Any]) -> None:
    root, out, work = p["root"], p["out"], p["work"]
    size = int(p["size"])
    versions = sorted(os.listdir(os.path.join(root, "usr/lib/modules")))
    version = versions[-1]
    runner.write_file(os.path.join(root, "etc/fstab"), f"UUID={ROOT_UUID} / ext4 defaults,noatime 0 1\n")
    runner.write_file(os.path.join(root, "boot/grub/grub.cfg"),
                      grub_cfg(f"vmlinuz-{version}", f"initrd.img-{version}", p["cmdline"]))
    raw = os.path.join(work, "disk.raw")
    for stale in (raw, out + ".tmp"):
        if os.path.exists(stale):
            os.remove(stale)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    runner.run(["truncate", "-s", str(size), raw])
    runner.run(["sfdisk", "--quiet", raw], stdin=f"label: dos\nlabel-id: 0x68636e31\n"
                                                f"start={PART_START}, type=83, bootable\n")
    fs_bytes = size - PART_START * SECTOR
    env = {"E2FSPROGS_FAKE_TIME": str(p["epoch"]), "SOURCE_DATE_EPOCH": str(p["epoch"])}
    runner.run(["mkfs.ext4", "-q", "-F", "-L", "engine", "-U", ROOT_UUID, "-b", "4096",
                "-E", f"offset={PART_START * SECTOR},root_owner=0:0,hash_seed={ROOT_UUID}",
                "-d", root, raw, f"{fs_bytes // 4096}"], env=env, timeout=1800)
    core = os.path.join(work, "core.img")
    runner.run(["grub-mkimage", "-O", "i386-pc", "-d", "/usr/lib/grub/i386-pc", "-p", "/boot/grub",
                "-c", _early_cfg(work, runner), "-o", core, *GRUB_MODULES])
    if os.path.getsize(core) > (PART_START - 1) * SECTOR:
        raise RuntimeError("grub core image does not fit before the first partition")
    # boot.img: only the 440 bytes of code, so the partition table stays
    runner.run(["dd", "if=/usr/lib/grub/i386-pc/boot.img", f"of={raw}", "bs=440", "count=1",
                "conv=notrunc", "status=none"])
    runner.run(["dd", f"if={core}", f"of={raw}", f"bs={SECTOR}", "seek=1", "conv=notrunc", "status=none"])
    runner.run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", raw, out + ".tmp"], timeout=1800)
    os.replace(out + ".tmp", out)
    os.remove(raw)


def _early_cfg(work: str, runner: Runner) -> str:
    """The config built into core.img: find the root file system by UUID, then load its grub.cfg."""
    path = os.path.join(work, "early-grub.cfg")
    runner.write_file(path, f"search --no-floppy --fs-uuid --set=root {ROOT_UUID}\n"
                            "set prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n")
    return path
