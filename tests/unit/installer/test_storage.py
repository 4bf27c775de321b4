"""Storage layout resolution against captured machines: the default thin layout, explicit layouts, and refusals."""

from __future__ import annotations

import dataclasses

from installer import checks, kickstart
from installer.storage import Layout, resolve_layout
from nodecore.report import ValidationReport
from tests.unit.installer.test_kickstart import DATA, facts, single_disk_vm

HASH = "$6$abcdefgh$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV/.0123456789abcdefghijklmnop"


def ks(body: str) -> kickstart.ParsedKickstart:
    parsed = kickstart.parse(f"rootpw --iscrypted {HASH}\nnetwork --hostname=n1.example.com\n" + body)
    assert parsed.report.ok, parsed.report.render_text()
    return parsed


def layout_of(body: str, host=None) -> tuple[Layout | None, ValidationReport]:  # type: ignore[no-untyped-def]
    report = ValidationReport()
    layout = resolve_layout(ks(body).config, host or single_disk_vm(), report)
    return layout, report


def test_default_layout_is_node_ng_thin() -> None:
    layout, report = layout_of("")
    assert report.ok, report.render_text()
    assert layout is not None and layout.disks == ("/dev/vda",) and layout.clear == ("/dev/vda",)
    assert [p.fstype for p in layout.partitions] == ["biosboot", "efi", "ext4", "lvmpv"]
    thin = {lv.mountpoint: lv for lv in layout.lvs if lv.pool}
    assert set(thin) == {"/", "/var", "/var/log", "/var/log/audit", "/home", "/tmp"}
    assert all("discard" in lv.fsoptions for lv in thin.values())
    pool = next(lv for lv in layout.lvs if lv.thinpool)
    assert pool.grow and pool.size_mib > 4096
    assert any(lv.fstype == "swap" and not lv.pool for lv in layout.lvs)
    # the partitions fill the disk exactly (minus GPT overhead)
    assert sum(p.size_mib for p in layout.partitions) == 20 * 1024 - 2
    text = "\n".join(layout.render_lines())
    assert "/dev/vda (ERASED, new GPT)" in text and "LV root" in text and "thin in pool00" in text


def test_layout_round_trips_through_dict() -> None:
    layout, _ = layout_of("")
    assert layout is not None and Layout.from_dict(layout.to_dict()) == layout


def test_mounts_are_ordered_parents_first() -> None:
    layout, _ = layout_of("")
    assert layout is not None
    order = [m[0] for m in layout.mounts()]
    assert order[0] == "/" and order.index("/var") < order.index("/var/log") < order.index("/var/log/audit")
    assert order.index("/boot") < order.index("/boot/efi")


def test_other_disk_is_never_selected_and_reported_untouched() -> None:
    layout, report = layout_of("ignoredisk --only-use=vda\n", facts("qemu-virtio"))
    assert report.ok and layout is not None
    assert layout.disks == ("/dev/vda",) and layout.untouched == ("/dev/vdb",)


def test_several_disks_need_a_choice() -> None:
    _, report = layout_of("", facts("qemu-virtio"))
    assert "several disks (vda, vdb); say which to use" in report.render_text()


def test_boot_media_is_refused() -> None:
    _, report = layout_of("ignoredisk --only-use=sda\nclearpart --all\n", facts("nvme-server"))
    assert "disk 'sda' is the boot media" in report.render_text()


def test_disk_with_data_needs_clearpart() -> None:
    _, report = layout_of("ignoredisk --only-use=nvme0n1\n", facts("nvme-server"))
    assert "disk nvme0n1 has data on it" in report.render_text()
    assert "clearpart --all --initlabel --drives=nvme0n1" in report.render_text()


def test_missing_disk_is_named() -> None:
    _, report = layout_of("ignoredisk --only-use=sdz\n")
    assert "disk 'sdz' does not exist on this machine (disks: vda)" in report.render_text()


def test_mixed_sector_sizes_are_refused() -> None:
    _, report = layout_of("ignoredisk --only-use=sda,sdc\nclearpart --all\n", facts("sas-4kn-raid"))
    assert "mix logical sector sizes (sda: 512, sdc: 4096)" in report.render_text()


def test_too_small_disk() -> None:
    vm = single_disk_vm()
    tiny = dataclasses.replace(vm, disks=(dataclasses.replace(vm.disks[0], size=3 * 1024**3),))
    _, report = layout_of("", tiny)
    assert "vda too small" in report.render_text()


def test_explicit_partitions_too_big() -> None:
    _, report = layout_of("reqpart\npart / --size=40000\n")
    assert "the partitions on /dev/vda need 40515 MiB but the disk has 20480 MiB" in report.render_text()


def test_explicit_layout_is_honoured() -> None:
    parsed = kickstart.parse((DATA / "kickstart" / "good" / "ovirt-node-ng-explicit.ks").read_text())
    report = ValidationReport()
    layout = resolve_layout(parsed.config, single_disk_vm(), report)
    assert report.ok and layout is not None
    assert layout.kind == "custom"
    assert [p.name for p in layout.partitions] == ["biosboot", "/boot/efi", "/boot", "pv.01"]
    pool = next(lv for lv in layout.lvs if lv.thinpool)
    assert pool.metadatasize_mib == 128 and pool.chunksize_kib == 64
    tmp = next(lv for lv in layout.lvs if lv.mountpoint == "/tmp")
    assert tmp.fsoptions == "defaults,discard,nodev,nosuid" and tmp.pool == "pool00"


def test_reqpart_adds_boot_partitions_to_explicit_layout() -> None:
    layout, report = layout_of("reqpart --add-boot\npart / --size=4096 --grow --fstype=xfs\n")
    assert report.ok and layout is not None
    assert [p.name for p in layout.partitions] == ["biosboot", "/boot/efi", "/boot", "/"]


def test_multi_disk_thin_pool_spans_both_disks() -> None:
    parsed = kickstart.parse((DATA / "kickstart" / "good" / "multi-disk.ks").read_text())
    report = ValidationReport()
    layout = resolve_layout(parsed.config, facts("nvme-server"), report)
    assert report.ok and layout is not None
    assert layout.disks == ("/dev/nvme0n1", "/dev/nvme1n1")
    (vg,) = layout.vgs
    assert vg.pvs == ("pv.00", "pv.01")
    assert {lv.fstype for lv in layout.lvs if lv.pool} == {"xfs"}
    assert layout.untouched == ("/dev/sda",)


def test_nic_names_are_checked_against_the_machine() -> None:
    parsed = ks("ignoredisk --only-use=vda\nnetwork --device=eth9 --bootproto=dhcp\n")
    report = checks.check_host(parsed.config, single_disk_vm())
    assert "no NIC 'eth9' on this machine" in report.render_text()


def test_thin_pool_is_not_overcommitted() -> None:
    _, report = layout_of("reqpart --add-boot\npart pv.01 --size=1 --grow\nvolgroup vg pv.01\n"
                          "logvol none --vgname=vg --name=pool --thinpool --size=1 --grow\n"
                          "logvol / --vgname=vg --name=root --thin --poolname=pool --size=30000 "
                          "--fsoptions=defaults,discard\n")
    assert "thin pool pool: its thin volumes need 30000 MiB but the pool has" in report.render_text()


def test_default_thin_sizes_shrink_to_fit_a_small_disk() -> None:
    layout, report = layout_of("")
    assert report.ok and layout is not None
    pool = next(lv for lv in layout.lvs if lv.thinpool)
    thin = [lv for lv in layout.lvs if lv.pool]
    assert sum(lv.size_mib for lv in thin) <= pool.size_mib
    assert next(lv for lv in thin if lv.mountpoint == "/").size_mib >= 3072


def test_autopart_avoids_the_vg_name_of_a_disk_it_keeps() -> None:
    """An old node's `onn` on the disk left alone: two VGs called onn would make the boot ambiguous."""
    host = dataclasses.replace(facts("qemu-virtio"), volume_groups={"onn": ("/dev/vdb",)})
    layout, report = layout_of("ignoredisk --only-use=vda\n", host)
    assert layout is not None and {vg.name for vg in layout.vgs} == {"onn00"}
    assert {lv.vg for lv in layout.lvs} == {"onn00"}
    assert "the volume group is called onn00: onn is already on /dev/vdb" in report.render_text()


def test_vg_on_a_disk_being_erased_is_no_clash() -> None:
    host = dataclasses.replace(facts("qemu-virtio"), volume_groups={"onn": ("/dev/vda",)})
    layout, report = layout_of("ignoredisk --only-use=vda\nclearpart --all\n", host)
    assert layout is not None and layout.vgs[0].name == "onn" and not report.warnings


def test_explicit_volgroup_name_in_use_on_a_kept_disk_is_refused() -> None:
    host = dataclasses.replace(facts("qemu-virtio"), volume_groups={"data": ("/dev/vdb",)})
    _, report = layout_of("ignoredisk --only-use=vda\nreqpart --add-boot\npart pv.01 --size=1 --grow\n"
                          "volgroup data pv.01\nlogvol / --vgname=data --name=root --size=4096\n", host)
    assert "volgroup data: a volume group of that name is already on /dev/vdb, which this install keeps" \
        in report.render_text()
