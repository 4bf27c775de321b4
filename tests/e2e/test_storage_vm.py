"""The installer's blivet storage step on real disks, inside a VM booted from our node ISO.

The CI machine's kernel has no device-mapper and no partition tables, so blivet cannot apply a
layout to disk images on the host; the node's own kernel can. One VM (TCG, rescue shell) with
four virtio disks: two 20 GiB disks with 512-byte sectors, a 20 GiB 4Kn disk and a small disk full
of data that no kickstart selects. Inside the guest each kickstart goes the installer's path:
parse -> checks against this machine's facts -> resolved layout -> the `storage_apply` step
(blivet 3.7.1). Checked from the guest's own tools (lsblk, lvs, blkid, mount):

1. oVirt Node NG's documented manual layout (part/volgroup/logvol with --thinpool --chunksize
   --metadatasize and thin LVs with --fsoptions) on vda;
2. a reinstall over it: autopart --type=thinp --fstype=xfs across vda and vdb (the old VG, active
   as LVM activates it at boot on a real machine, is removed first and nothing of it is left);
3. autopart --type=thinp on the 4Kn disk, while vda and vdb keep their VG `onn`: the new VG is
   called onn00 (a found bug: blivet refused the second `onn`, and two VGs of one name would
   make the boot ambiguous);
and a kickstart mixing 512-byte and 4Kn disks is refused by `hcinode install --dry-run` before
anything is written. The data disk comes out byte for byte the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_install import ROOT_HASH
from tests.e2e.vm import VM, Disk, make_disk, root_shell

COMMON = (f"rootpw --iscrypted {ROOT_HASH}\n"
          "network --device=link --bootproto=dhcp --hostname=storage.example.com\nreboot\n")

NODE_NG_MANUAL = """\
zerombr
clearpart --all --initlabel --drives=vda
ignoredisk --only-use=vda
part biosboot --size=1 --fstype=biosboot
part /boot/efi --size=600 --fstype=efi
part /boot --size=1024 --fstype=ext4
part pv.01 --size=1 --grow
volgroup onn pv.01
logvol swap --vgname=onn --name=swap --fstype=swap --size=1024
logvol none --vgname=onn --name=pool00 --thinpool --grow --size=1 --metadatasize=128 --chunksize=64
logvol / --vgname=onn --name=root --thin --poolname=pool00 --size=6144 --fstype=ext4 --fsoptions=defaults,discard
logvol /var --vgname=onn --name=var --thin --poolname=pool00 --size=4096 --fstype=ext4 --fsoptions=defaults,discard
logvol /var/log --vgname=onn --name=var_log --thin --poolname=pool00 --size=2048 --fstype=ext4
logvol /var/log/audit --vgname=onn --name=var_log_audit --thin --poolname=pool00 --size=1024 --fstype=ext4
logvol /home --vgname=onn --name=home --thin --poolname=pool00 --size=1024 --fstype=ext4
logvol /tmp --vgname=onn --name=tmp --thin --poolname=pool00 --size=1024 --fsoptions=nodev,nosuid
""" + COMMON
REINSTALL_TWO_DISKS = """\
ignoredisk --only-use=vda,vdb
clearpart --all --initlabel --drives=vda,vdb
autopart --type=thinp --fstype=xfs
""" + COMMON
FOUR_K = "ignoredisk --only-use=vdc\nclearpart --all --initlabel\nautopart --type=thinp\n" + COMMON
MIXED_SECTORS = "ignoredisk --only-use=vda,vdc\nclearpart --all --initlabel\nautopart --type=thinp\n" + COMMON

# The storage step alone, exactly as `hcinode install` reaches it (installer/cli.py cmd_install)
APPLY = """\
import sys
from installer import checks, kickstart
from installer.storage import resolve_layout
from installer.target import storage_apply
from nodecore.facts import collect
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner

parsed = kickstart.parse(open(sys.argv[1]).read(), source=sys.argv[1])
facts = collect()
report = checks.check_host(parsed.config, facts, parsed.report)
print(report.render_text())
if not report.ok:
    sys.exit(2)
layout = resolve_layout(parsed.config, facts, ValidationReport())
print("\\n".join(layout.render_lines()))
print("SECTOR", layout.logical_sector_size)
storage_apply(LocalRunner(), {"layout": layout.to_dict(), "devices_file": "/root/devices.json"})
print("DEVICES", open("/root/devices.json").read().replace("\\n", " "))
"""
MOUNTABLE = {"ext4", "xfs", "efi"}


def apply(vm: VM, name: str, text: str) -> tuple[dict[str, dict[str, str]], str, float]:
    """Apply one kickstart's storage in the guest; (devices by name, output, seconds)."""
    vm.put_file(f"/root/{name}.ks", text)
    started = time.monotonic()
    out = vm.ok(f"python3 /root/apply.py /root/{name}.ks 2>&1 | tail -n 80; test ${{PIPESTATUS[0]}} = 0",
                timeout=1500)
    seconds = time.monotonic() - started
    print(f"--- {name} ({seconds:.0f} s)\n{out}")
    return json.loads(re.findall(r"^DEVICES (.*)$", out, re.M)[-1]), out, seconds


def check_filesystems(vm: VM, devices: dict[str, dict[str, str]]) -> None:
    """Every formatted device carries its file system, and mounts with the kickstart's options."""
    for name, dev in devices.items():
        fstype = dev["fstype"]
        if fstype in ("lvmpv", "biosboot", ""):
            continue
        found = vm.ok(f"blkid -p -o value -s TYPE {dev['path']}").split()[-1]
        assert found == {"efi": "vfat"}.get(fstype, fstype), (name, dev, found)
        if fstype in MOUNTABLE:
            options = dev["options"] or "defaults"
            mounted = vm.ok(f"mkdir -p /mnt/t && mount -o {options} {dev['path']} /mnt/t && "
                            f"findmnt -no FSTYPE,OPTIONS /mnt/t; umount /mnt/t").split()
            assert mounted[0] == found, (name, mounted)
            # the mount took every option; these the kernel also lists back by name
            for option in set(options.split(",")) & {"discard", "nodev", "nosuid", "noatime"}:
                assert option in mounted[1].split(","), (name, options, mounted)


def lvs(vm: VM, vg: str) -> dict[str, list[str]]:
    return vm.lvs(vg, "lv_name,lv_attr,segtype,pool_lv,chunk_size,lv_metadata_size,lv_size")


def partitions(vm: VM, disk: str) -> list[dict[str, str]]:
    out = vm.ok(f"lsblk -J -b -o NAME,TYPE,FSTYPE,SIZE,PARTTYPENAME,LOG-SEC /dev/{disk}")
    tree = json.loads(out[out.index("{"):])["blockdevices"][0]
    return [p for p in tree.get("children", []) if p["type"] == "part"]


# 385 s with another TCG VM running: rescue shell ~90 s, then blivet per layout 70-110 s plus checks
@pytest.mark.e2e
@pytest.mark.e2e_full  # ~6 min; moved out of make e2e to keep CI under 60 min
def test_blivet_layouts_on_real_disks_in_node_vm(vm_factory: Callable[..., VM], node_iso: Path,
                                                 tmp_path: Path) -> None:
    data = tmp_path / "data.raw"
    data.write_bytes(os.urandom(64 * 1024 * 1024))
    data_sum = hashlib.sha256(data.read_bytes()).hexdigest()
    disks = [Disk(make_disk(tmp_path / "a.qcow2", "20G")), Disk(make_disk(tmp_path / "b.qcow2", "20G")),
             Disk(make_disk(tmp_path / "c4k.qcow2", "20G"), sector_size=4096), Disk(data)]
    vm = vm_factory("storage", boot="kernel", iso=node_iso, memory=2048, disks=disks,
                    kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1"])
    vm.start()
    root_shell(vm)
    stale = vm.stale_files("installer")
    assert not stale, f"build/node.iso is older than the tree ({stale}): run make iso"
    sectors = vm.ok("lsblk -dno NAME,LOG-SEC /dev/vda /dev/vdc")
    assert re.search(r"vda\s+512", sectors) and re.search(r"vdc\s+4096", sectors), sectors
    vm.put_file("/root/apply.py", APPLY)

    # 512-byte and 4Kn disks in one layout: refused by the checks, before anything is written
    vm.put_file("/root/mixed.ks", MIXED_SECTORS)
    out = vm.ok("hcinode install --kickstart /root/mixed.ks --dry-run 2>&1 | tail -n 30; "
                "test ${PIPESTATUS[0]} = 2", timeout=300)
    assert "mix logical sector sizes (vda: 512, vdc: 4096)" in out and "nothing was changed" in out, out

    # 1. Node NG's manual thin layout
    devices, _, node_ng_s = apply(vm, "node-ng", NODE_NG_MANUAL)
    parts = partitions(vm, "vda")
    assert sorted(p["parttypename"] for p in parts) == ["BIOS boot", "EFI System", "Linux LVM",
                                                        "Linux filesystem"], parts
    assert {p["fstype"] for p in parts} >= {"vfat", "ext4", "LVM2_member"}, parts
    onn = lvs(vm, "onn")
    pool = onn["pool00"]
    assert pool[1].startswith("twi-a") and pool[2] == "thin-pool", onn
    assert pool[4] == "0.06m" and pool[5] == "128.00m", onn  # --chunksize=64 (KiB), --metadatasize=128
    for lv, size in (("root", "6144.00m"), ("var", "4096.00m"), ("var_log", "2048.00m"), ("tmp", "1024.00m")):
        assert onn[lv][2] == "thin" and onn[lv][3] == "pool00" and onn[lv][6] == size, onn
    assert onn["swap"][2] == "linear" and onn["swap"][6] == "1024.00m", onn
    check_filesystems(vm, devices)

    # 2. a reinstall over it across two disks; the old VG is active, as after a real boot
    assert "onn" in vm.ok("vgs --noheadings -o vg_name,lv_count")
    devices, _, reinstall_s = apply(vm, "two-disks", REINSTALL_TWO_DISKS)
    vgs = vm.ok("vgs --noheadings -o vg_name,pv_count").split()
    assert vgs == ["onn", "2"], vgs  # autopart's VG (named like Node NG's) on both disks, nothing else
    thin = lvs(vm, "onn")
    assert set(thin) == {name[4:] for name in devices if name.startswith("onn/")}, (thin, devices)  # old LVs gone
    mounts = {d["mountpoint"] for d in devices.values()}
    assert {"/", "/var", "/var/log", "/var/log/audit", "/home", "/tmp", "/boot", "/boot/efi"} <= mounts, devices
    assert sum(row[2] == "thin" for row in thin.values()) == 6 and any(r[2] == "thin-pool" for r in thin.values()), thin
    assert {d["fstype"] for d in devices.values() if d["mountpoint"] in ("/", "/var", "/home")} == {"xfs"}, devices
    check_filesystems(vm, devices)

    # 3. the default thin layout on a 4Kn disk
    # (the VG on vda+vdb is called onn and stays: this VG gets another name, so the boot finds one root)
    devices, out, four_k_s = apply(vm, "four-k", FOUR_K)
    assert "the volume group is called onn00: onn is already on /dev/vda4, /dev/vdb1" in out, out
    assert vm.ok("vgs --noheadings -o vg_name").split() == ["onn", "onn00"]
    assert {"root", "pool00", "var"} <= set(lvs(vm, "onn00"))
    assert all(p["log-sec"] == 4096 for p in partitions(vm, "vdc")), partitions(vm, "vdc")
    assert {"/", "/boot", "/boot/efi"} <= {d["mountpoint"] for d in devices.values()}, devices
    check_filesystems(vm, devices)

    vm.ok("sync")
    vm.kill()
    assert hashlib.sha256(data.read_bytes()).hexdigest() == data_sum, "a disk no kickstart selected was written"
    print(f"\ne2e storage: blivet Node NG manual {node_ng_s:.0f} s, reinstall on two disks {reinstall_s:.0f} s, "
          f"4Kn autopart {four_k_s:.0f} s")
