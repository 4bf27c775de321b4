"""Failures and re-runs: what the console says, where a re-run resumes, the GRUB guard against
booting a half-installed disk, the EFI boot entry, and what a re-run after a power loss decides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from installer import kickstart, plan, recovery, target
from installer.storage import resolve_layout
from nodecore.facts import BlockDevice, HostFacts
from nodecore.plan import Step
from nodecore.report import ValidationReport
from nodecore.runner import RecordingRunner
from tests.unit.installer.test_kickstart import single_disk_vm
from tests.unit.installer.test_storage import HASH

STEPS = (Step("Fetch", action="fetch_payload"), Step("Partition", action="storage_apply"),
         Step("Mount", action="mount_target"), Step("Copy", action="copy_payload"),
         Step("GRUB", action="install_bootloader"), Step("Run 1 %post script(s)", action="run_post"))


def _done(n: int) -> set[str]:
    return {s.id for s in STEPS[:n]}


def test_fresh_install_says_nothing() -> None:
    assert recovery.resume_decision(STEPS, set(), target_mounted=False) == recovery.Resume(1, False, "")


def test_rerun_resumes_at_the_first_unfinished_step() -> None:
    decision = recovery.resume_decision(STEPS, _done(4), target_mounted=True)
    assert decision.first_step == 5 and not decision.remount
    assert decision.message == "resuming the install at step 5/6: GRUB (steps 1-4 finished in an earlier run)"


def test_rerun_after_the_target_was_unmounted_mounts_it_again() -> None:
    decision = recovery.resume_decision(STEPS, _done(5), target_mounted=False)
    assert decision.first_step == 6 and decision.remount
    assert decision.message.endswith("; the new file systems are mounted again first")


def test_no_remount_before_the_mount_step_ran() -> None:
    decision = recovery.resume_decision(STEPS, _done(2), target_mounted=False)
    assert decision.first_step == 3 and not decision.remount


def test_everything_done() -> None:
    decision = recovery.resume_decision(STEPS, _done(6), target_mounted=False)
    assert decision.first_step == 0 and "nothing to do" in decision.message


def test_failure_lines_name_the_step_the_logs_and_what_to_do() -> None:
    lines = recovery.failure_lines(
        step_index=13, total=16, step_title="Run 2 %post script(s)",
        cause="%post script 2 (kickstart line 30) failed with exit code 7; its log: /run/x/ks-script-post-2.log",
        onerror=[(1, 0, "/run/x/ks-script-onerror-1.log"), (2, None, "/run/x/ks-script-onerror-2.log")],
        kept_on="/dev/mapper/onn-var_log", log_path="/var/log/hcinode/hcinode.log",
        kickstart="http://10.0.2.2:8000/ks.cfg")
    assert lines[0] == "the install FAILED at step 13/16: Run 2 %post script(s)"
    text = "\n".join(lines)
    assert "its log: /run/x/ks-script-post-2.log" in text
    assert "%onerror script 1 ran (exit code 0); its log: /run/x/ks-script-onerror-1.log" in text
    assert "%onerror script 2 ran (could not run)" in text
    assert "installer log: /var/log/hcinode/hcinode.log" in text
    assert "kept on the target disk in /var/log/hcinode-install (on /dev/mapper/onn-var_log)" in text
    assert "does not reboot" in text
    assert lines[-1].endswith("resume at step 13: hcinode install --kickstart http://10.0.2.2:8000/ks.cfg")


def test_failure_before_the_target_was_mounted_says_the_logs_are_only_live() -> None:
    lines = recovery.failure_lines(step_index=2, total=16, step_title="Partition", cause="blivet: boom",
                                   onerror=[], kept_on="", log_path="", kickstart="/ks.cfg")
    assert any("only on this live system" in line for line in lines)
    assert not any("installer log" in line for line in lines)


def test_failure_lines_redact_secrets() -> None:
    from nodecore.secrets import Secret

    Secret("hunter2-e2e")  # a known secret value
    lines = recovery.failure_lines(step_index=1, total=2, step_title="x", cause="password hunter2-e2e rejected",
                                   onerror=[], kept_on="", log_path="", kickstart="/ks.cfg")
    assert "hunter2-e2e" not in "\n".join(lines)


def _plan_steps() -> list[Step]:
    text = (f"rootpw --iscrypted {HASH}\nnetwork --hostname=n1.example.com\nclearpart --all --drives=vda\n"
            "%post --erroronfail\nfalse\n%end\n")
    parsed = kickstart.parse(text)
    facts = single_disk_vm()
    layout = resolve_layout(parsed.config, facts, ValidationReport())
    assert layout is not None
    return list(plan.build_plan(parsed.config, layout, facts).steps)


def test_the_disk_becomes_bootable_only_after_post() -> None:
    actions = [s.action for s in _plan_steps()]
    assert actions[-4:] == ["run_post", "finish_bootloader", "keep_logs", "unmount_target"]
    grub = next(s for s in _plan_steps() if s.action == "install_bootloader")
    assert grub.params["guard"] is True


def test_grub_guard_refuses_a_half_installed_disk() -> None:
    kw = dict(version="6.1.0-28-amd64", boot_uuid="u1", root_arg="root=/dev/mapper/onn-root", append="",
              timeout=5, hostname="n1")
    guarded = target.grub_cfg(boot_prefix="", guard=True, **kw)  # type: ignore[arg-type]
    assert "if [ -e /hcinode-install-unfinished ]; then" in guarded
    # the entries exist only when the marker is gone: even if `exit` does not leave GRUB, nothing boots
    assert guarded.index("search --no-floppy") < guarded.index("hcinode-install-unfinished") < \
        guarded.index("    exit\nelse\n") < guarded.index('    menuentry "hcinode (n1)"')
    assert guarded.endswith("    }\nfi\n")
    assert "insmod sleep\n    insmod minicmd" in guarded  # BIOS core.img has neither built in
    on_root = target.grub_cfg(boot_prefix="/boot", guard=True, **kw)  # type: ignore[arg-type]
    assert "[ -e /boot/hcinode-install-unfinished ]" in on_root
    assert "unfinished" not in target.grub_cfg(boot_prefix="", **kw)  # type: ignore[arg-type]


def test_finish_bootloader_removes_the_guard(tmp_path: Path) -> None:
    marker = tmp_path / "boot" / target.UNFINISHED_MARKER
    marker.parent.mkdir()
    marker.write_text("x")
    runner = RecordingRunner()
    target.finish_bootloader(runner, {"target": str(tmp_path)})
    assert not marker.exists()
    target.finish_bootloader(runner, {"target": str(tmp_path)})  # a re-run is harmless


EFIBOOTMGR = """BootCurrent: 0001
Timeout: 0 seconds
BootOrder: 0004,0001,0000,0003
Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)
Boot0001* UEFI QEMU DVD-ROM QM00001 \tPciRoot(0x0)/Pci(0x1f,0x2)/Sata(0,65535,0){auto_created_boot_option}
Boot0003* hcinode-old\tHD(2,GPT,aa,0x800,0x100000)/File(\\EFI\\x.efi)
Boot0004* hcinode\tHD(2,GPT,3b1cd9a4-1b0e-4e9c-9e46-2a1d8c2f0e11,0x1000,0x100000)/File(\\EFI\\debian\\shimx64.efi)
Boot0007  hcinode
"""


def test_efi_entries_finds_the_hcinode_entries_only() -> None:
    assert target.efi_entries(EFIBOOTMGR) == ["0004", "0007"]
    assert target.efi_entries("BootOrder: 0001\nBoot0001* UiApp\n") == []


def test_efi_entry_replaces_the_ones_of_an_earlier_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target, "_disk_and_partition", lambda dev: ("/dev/vda", "2"))
    runner = RecordingRunner()
    runner.respond(["efibootmgr"], stdout=EFIBOOTMGR)
    target.add_efi_boot_entry(runner, "/dev/vda2")
    argvs = [list(c.argv) for c in runner.calls]
    assert ["efibootmgr", "--quiet", "--bootnum", "0004", "--delete-bootnum"] in argvs
    assert ["efibootmgr", "--quiet", "--bootnum", "0007", "--delete-bootnum"] in argvs
    create = next(a for a in argvs if "--create" in a)
    assert create == ["efibootmgr", "--create", "--disk", "/dev/vda", "--part", "2", "--label", "hcinode",
                      "--loader", "\\EFI\\debian\\shimx64.efi"]
    assert argvs.index(create) > argvs.index(["efibootmgr", "--quiet", "--bootnum", "0007", "--delete-bootnum"])


# After a power loss the live system's journal is gone (RAM): the re-run starts over. Whether it can
# depends on the kickstart clearing the half-installed disk.

def _half_installed_vm() -> HostFacts:
    vm = single_disk_vm()
    vda = vm.disks[0]
    parts = (BlockDevice("vda1", "/dev/vda1", "part", 1 << 20),
             BlockDevice("vda2", "/dev/vda2", "part", 512 << 20, fstype="vfat"),
             BlockDevice("vda3", "/dev/vda3", "part", 1 << 30, fstype="ext4"),
             BlockDevice("vda4", "/dev/vda4", "part", 18 << 30, fstype="LVM2_member", children=(
                 BlockDevice("onn-pool00_tmeta", "/dev/mapper/onn-pool00_tmeta", "lvm", 1 << 30),)))
    half = dataclasses.replace(vda, partition_table="gpt", children=parts)
    return dataclasses.replace(vm, disks=(half,))


def test_power_loss_rerun_reinstalls_when_the_kickstart_clears_the_disk() -> None:
    text = f"rootpw --iscrypted {HASH}\nclearpart --all --initlabel --drives=vda\nzerombr\nautopart --type=thinp\n"
    report = ValidationReport()
    layout = resolve_layout(kickstart.parse(text).config, _half_installed_vm(), report)
    assert report.ok, report.render_text()
    assert layout is not None and layout.clear == ("/dev/vda",)


def test_power_loss_rerun_without_clearpart_says_exactly_what_to_add() -> None:
    text = f"rootpw --iscrypted {HASH}\nautopart --type=thinp\n"
    report = ValidationReport()
    resolve_layout(kickstart.parse(text).config, _half_installed_vm(), report)
    out = report.render_text()
    assert "disk vda has data on it (gpt partition table, 4 partition(s))" in out
    assert "add 'clearpart --all --initlabel --drives=vda' to erase it" in out
