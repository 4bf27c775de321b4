import dataclasses
import json
import os

import pytest

from nodecore.facts import (
    HostFacts,
    find_boot_media,
    parse_cpuinfo,
    parse_ip_addr,
    parse_lsblk,
    parse_meminfo,
    parse_pvs,
)

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data", "facts")


def lsblk(name: str) -> str:
    with open(os.path.join(DATA, f"{name}.lsblk.json")) as f:
        return f.read()


def test_nvme_server_disks():
    disks = parse_lsblk(lsblk("nvme-server"), boot_media="/dev/sda1")
    by_name = {d.name: d for d in disks}
    assert set(by_name) == {"nvme0n1", "nvme1n1", "sda"}  # zram is never a target
    os_disk, spare, usb = by_name["nvme0n1"], by_name["nvme1n1"], by_name["sda"]
    assert os_disk.transport == "nvme" and not os_disk.rotational
    assert os_disk.in_use and "/" in os_disk.mountpoints and "/boot/efi" in os_disk.mountpoints
    # holders: the LVs stacked on the PV partition are visible from the disk
    assert {d.name for c in os_disk.children for d in c.walk()} >= {"onn-root", "onn-var_log"}
    assert not spare.in_use and spare.serial == "PHLJ9123004K4P0DGN" and spare.size == 3840755982336
    assert usb.is_boot_media and usb.removable


def test_4kn_and_raid_disks_with_old_style_string_flags():
    disks = {d.name: d for d in parse_lsblk(lsblk("sas-4kn-raid"))}
    assert set(disks) == {"sda", "sdb", "sdc"}  # the CD-ROM is not a disk
    assert disks["sdb"].is_4kn and disks["sdb"].fstype == "LVM2_member" and disks["sdb"].in_use
    # util-linux < 2.37 printed "0"/"1" strings: parsed the same
    assert disks["sdc"].is_4kn and disks["sdc"].rotational and not disks["sdc"].removable
    assert disks["sdc"].transport == "sas" and disks["sdc"].wwn == "0x5000cca097c0ffee"
    assert disks["sda"].logical_sector_size == 512 and disks["sda"].model == "PERC H740P Mini"


def test_qemu_vm_boot_media_by_label_and_virtio_transport():
    disks = {d.name: d for d in parse_lsblk(lsblk("qemu-virtio"), boot_media="/dev/sr0")}
    assert set(disks) == {"vda", "vdb"}  # loop devices of the live system are not disks
    assert disks["vda"].transport == "virtio" and not disks["vda"].in_use
    assert disks["vdb"].in_use and disks["vdb"].fstype == "ext4"


@pytest.mark.parametrize("machine", ["nvme-server", "sas-4kn-raid", "qemu-virtio"])
def test_captured_facts_round_trip(machine):
    with open(os.path.join(DATA, f"{machine}.json")) as f:
        text = f.read()
    facts = HostFacts.from_json(text)
    assert HostFacts.from_json(facts.to_json()) == facts
    assert json.loads(facts.to_json()) == json.loads(text)
    assert facts.disks and facts.nics


def test_lookup_helpers():
    facts = HostFacts.load(os.path.join(DATA, "nvme-server.json"))
    assert facts.disk("/dev/nvme1n1").name == "nvme1n1"
    assert facts.disk("PHLJ9123004K4P0DGN").name == "nvme1n1"
    assert facts.nic("B4:96:91:A1:00:02").name == "eno2"
    assert facts.disk("sdz") is None
    assert facts.cpu.virt_flag == "vmx" and facts.firmware == "uefi"


def test_proc_parsers():
    assert parse_meminfo("MemTotal:       24576000 kB\nMemFree: 1 kB\n") == 24576000 * 1024
    cpuinfo = "".join(
        f"processor\t: {i}\nmodel name\t: Intel Xeon\nphysical id\t: {i // 4}\ncore id\t\t: {i % 2}\n"
        f"flags\t\t: fpu vmx sse\n\n" for i in range(8))
    cpu = parse_cpuinfo(cpuinfo, kvm_device=True)
    assert (cpu.sockets, cpu.cores, cpu.threads, cpu.virt_flag) == (2, 4, 8, "vmx")
    assert parse_cpuinfo("processor : 0\nflags : svm\n", False).virt_flag == "svm"
    assert parse_cpuinfo("processor : 0\nflags : sse\n", False).virt_flag is None


def test_ip_addr_and_boot_media_parsers():
    ip = json.dumps([{"ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "192.0.2.2", "prefixlen": 24, "scope": "global"},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]}])
    assert parse_ip_addr(ip) == {"eth0": ("192.0.2.2/24",)}
    mounts = "/dev/sr0 /run/live/medium iso9660 ro 0 0\n/dev/loop0 /run/live/rootfs/x squashfs ro 0 0\n"
    assert find_boot_media(mounts) == "/dev/sr0"
    assert find_boot_media("proc /proc proc rw 0 0\n") is None


def test_pvs_report_gives_volume_groups_and_round_trips():
    text = json.dumps({"report": [{"pv": [{"pv_name": "/dev/vdb2", "vg_name": "onn"},
                                          {"pv_name": "/dev/vda4", "vg_name": "onn"},
                                          {"pv_name": "/dev/vdc", "vg_name": ""}]}]})
    assert parse_pvs(text) == {"onn": ("/dev/vda4", "/dev/vdb2")}  # a PV in no VG is left out
    assert parse_pvs("") == {} and parse_pvs("  WARNING: not root") == {}
    with_vgs = dataclasses.replace(HostFacts.load(os.path.join(DATA, "qemu-virtio.json")),
                                   volume_groups=parse_pvs(text))
    assert HostFacts.from_json(with_vgs.to_json()) == with_vgs


@pytest.mark.parametrize("content, words", [
    (None, "cannot read: No such file"),
    ("not json", "line 1, column 1: not valid JSON"),
    ("[1, 2]", "(top): expected a mapping"),
    ('{"hostname": "n"}', "memory_bytes: missing required key"),
    ("[" * 5000 + "]" * 5000, "not usable facts"),
], ids=["missing", "not-json", "a-list", "missing-keys", "deep"])
def test_facts_files_that_cannot_be_used_are_named_invalid_input(tmp_path, content, words) -> None:
    from nodecore.errors import InvalidInput

    path = tmp_path / "facts.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInput) as info:
        HostFacts.load(str(path))
    assert words in info.value.report.render_text()


def test_facts_with_a_wrong_type_name_the_field(tmp_path) -> None:
    from nodecore.errors import InvalidInput

    with open(os.path.join(DATA, "qemu-virtio.json")) as f:
        data = json.load(f)
    data["disks"][1]["size"] = "big"
    data["nics"] = "eth0"
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput) as info:
        HostFacts.load(str(path))
    fields = [p.field for p in info.value.report.errors]
    assert "disks[1].size" in fields and "nics" in fields
