"""Host facts never offer a floppy drive as a disk: QEMU/KVM guests show fd0 as TYPE disk in lsblk."""

from __future__ import annotations

import json
from pathlib import Path

from nodecore.facts import parse_lsblk

DATA = Path(__file__).resolve().parents[2] / "data" / "facts"
FD0 = {"name": "fd0", "kname": "fd0", "path": "/dev/fd0", "type": "disk", "size": 4096, "model": None,
       "serial": None, "wwn": None, "rota": True, "log-sec": 512, "phy-sec": 512, "tran": None, "rm": True,
       "ro": False, "fstype": None, "label": None, "uuid": None, "pttype": None, "mountpoints": [None],
       "hotplug": False}


def test_fd_devices_are_not_disks() -> None:
    capture = json.loads((DATA / "qemu-virtio.lsblk.json").read_text())
    before = [d.name for d in parse_lsblk(json.dumps(capture))]
    # as lsblk lists it on a QEMU guest: first, so "the first disk" of a %pre would be the floppy
    capture["blockdevices"] = [FD0, {**FD0, "name": "fd1", "kname": "fd1", "path": "/dev/fd1"},
                               *capture["blockdevices"]]
    names = [d.name for d in parse_lsblk(json.dumps(capture))]
    assert names == before and not any(n.startswith("fd") for n in names)
