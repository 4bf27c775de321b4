"""Whole-image updates on an INSTALLED node (the session's PXE install, booted from an overlay of its
disk), over HTTP from the harness's server, with real reboots (issue 16):

1. v2 = the session's image (build/pxe/filesystem.squashfs, what v1 was installed from) unpacked once,
   its /usr/share/hcinode/image.json version changed, packed again (zstd level 1: seconds, not the
   release build's minutes). Served as http://10.0.2.2:PORT/<version>/ with the build's vmlinuz and
   initrd.img beside it and a SHA256SUMS naming all three, the layout `make pxe` writes.
   `hcinode update apply http://.../0.1.1/filesystem.squashfs --force` (the session's node is joined
   to an engine that is not running here: the maintenance refusal is tested in the unit tests),
   reboot: GRUB's one-time entry boots v2, confirm-boot commits it, and v2 runs with the same host
   name, address, machine-id, root password and SSH host keys (the ssh client's known_hosts of this VM
   would refuse another host key).
2. v3 = the same tree with one more unit that fails at every boot, an honest unhealthy image (the
   system comes up "degraded"; no test hook in the product). Applied with `--trial-bound 300`: its
   trial boot is not healthy when the bound passes, confirm-boot reboots, GRUB's saved default is v2
   again; `hcinode update status` says v3 was rolled back and names the failed unit.
3. `hcinode update rollback --to` v1 by hand on v2: after the reboot v1 runs, with the same identity.

The images are made into build/update-e2e/ per session (about a minute). `update_cycle` is also what
bench/update.py times.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from installer.target import sha256_file
from nodecore import __version__
from nodecore.runner import LocalRunner
from tests.e2e.test_install import HOSTNAME, STATIC_IP, InstalledNode, check_disk_boot, overlay_of
from tests.e2e.vm import BUILD, PXE_DIR, VM, Disk, SshKey, vm_ssh, wait_for_ssh

V1, V2, V3 = __version__, "0.1.1", "0.1.2"
V3_BOUND = 300  # seconds from the trial boot to healthy before v3 is rolled back
UPDATE_BUILD = BUILD / "update-e2e"
BROKEN_UNIT = """[Unit]
Description=hcinode e2e: a unit that fails at every boot (this image is unhealthy on purpose)

[Service]
Type=oneshot
ExecStart=/bin/false

[Install]
WantedBy=multi-user.target
"""
# what must be the same before and after an update (printed as one block, compared whole)
IDENTITY = (f"hostname; cat /etc/hostname /etc/machine-id; ip -o -4 addr show | grep -F ' {STATIC_IP}/24' | "
            "awk '{print $2, $4}'; cat /etc/ssh/ssh_host_*_key.pub | sha256sum; "
            "grep ^root: /etc/shadow | cut -d: -f2 | sha256sum; ls /etc/NetworkManager/system-connections")
VERSION = "python3 -c 'import json; print(json.load(open(\"/usr/share/hcinode/image.json\"))[\"version\"])'"


@dataclass(frozen=True)
class UpdateImages:
    """The served directory: <version>/filesystem.squashfs + vmlinuz + initrd.img + SHA256SUMS."""

    serve_dir: Path
    versions: tuple[str, ...]
    sizes: dict[str, int]

    @staticmethod
    def name(version: str) -> str:
        return f"{version}/filesystem.squashfs"


def set_version(tree: Path, version: str) -> None:
    path = tree / "usr/share/hcinode/image.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "version": version, "build_id": f"e2e-{version}"}, indent=1) + "\n")


def hash_of_this_recipe() -> str:
    import hashlib
    import inspect
    return hashlib.sha256((BROKEN_UNIT + inspect.getsource(make_update_images) + inspect.getsource(set_version))
                          .encode()).hexdigest()[:16]


def make_update_images(work: Path, pxe: Path = PXE_DIR) -> UpdateImages:
    """v2 (a version change) and v3 (v2 plus a unit that fails at boot) from the session's own image,
    each in its own served directory with the build's kernel and initrd (hard links) beside it."""
    runner = LocalRunner()
    serve = work / "serve"
    # made again only when the session's image (or what this function makes of it) changed
    key = sha256_file(str(pxe / "filesystem.squashfs")) + " " + str(hash_of_this_recipe())
    stamp = work / "made-from"
    if stamp.exists() and stamp.read_text() == key:
        return UpdateImages(serve, (V2, V3), {v: (serve / v / "filesystem.squashfs").stat().st_size for v in (V2, V3)})
    stamp.unlink(missing_ok=True)
    tree = work / "root"
    runner.run(["rm", "-rf", str(tree)])
    work.mkdir(parents=True, exist_ok=True)
    runner.run(["unsquashfs", "-no-progress", "-q", "-d", str(tree), str(pxe / "filesystem.squashfs")], timeout=1800)
    sizes = {}
    for version in (V2, V3):
        set_version(tree, version)
        if version == V3:
            unit = tree / "etc/systemd/system/hcinode-e2e-broken.service"
            unit.parent.mkdir(parents=True, exist_ok=True)
            unit.write_text(BROKEN_UNIT)
            wants = tree / "etc/systemd/system/multi-user.target.wants/hcinode-e2e-broken.service"
            wants.parent.mkdir(parents=True, exist_ok=True)
            wants.symlink_to("../hcinode-e2e-broken.service")
        directory = serve / version
        runner.run(["rm", "-rf", str(directory)])
        directory.mkdir(parents=True)
        squashfs = directory / "filesystem.squashfs"
        runner.run(["nice", "-n", "19", "mksquashfs", str(tree), str(squashfs), "-noappend", "-no-progress", "-quiet",
                    "-comp", "zstd", "-Xcompression-level", "1", "-processors", "2"], timeout=1800)
        for name in ("vmlinuz", "initrd.img"):
            os.link(pxe / name, directory / name)
        (directory / "SHA256SUMS").write_text("".join(
            f"{sha256_file(str(directory / n))}  {n}\n" for n in ("filesystem.squashfs", "vmlinuz", "initrd.img")))
        sizes[version] = squashfs.stat().st_size
    runner.run(["rm", "-rf", str(tree)])
    stamp.write_text(key)
    return UpdateImages(serve, (V2, V3), sizes)


@pytest.fixture(scope="session")
def update_images() -> UpdateImages:
    return make_update_images(UPDATE_BUILD)


def disk_sectors_written(sh: Callable[..., str]) -> int:
    """Sectors the guest wrote to vda since boot (/sys/block/vda/stat, field 7)."""
    return int(sh("cat /sys/block/vda/stat").split()[6])


@dataclass
class UpdateNode:
    """An overlay of the installed node booted for updates: ssh as root, `update status`, reboots."""

    vm: VM
    key: SshKey
    images: UpdateImages

    def sh(self, command: str, timeout: float = 300, check: bool = True) -> str:
        result = vm_ssh(self.vm, self.key, command, timeout=timeout, check=False)
        if check:
            assert result.ok, f"$ {command}\nrc={result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.sh("hcinode update status --json"))
        return data

    def boot_id(self) -> str:
        return self.sh("cat /proc/sys/kernel/random/boot_id").strip()

    def url(self, version: str) -> str:
        assert self.vm.http is not None
        return f"http://10.0.2.2:{self.vm.http.port}/{self.images.name(version)}"

    def apply(self, version: str, *options: str) -> str:
        out = self.sh(f"hcinode update apply {self.url(version)} --force {' '.join(options)}", timeout=3600)
        assert f"image {version} is written and armed" in out, out
        return out

    def reboot(self) -> None:
        self.sh("sync; (sleep 2; systemctl reboot) </dev/null >/dev/null 2>&1 &")

    def reboot_and_wait(self) -> float:
        """Reboot and wait for ssh on a new boot; seconds from the reboot to ssh."""
        old = self.boot_id()
        self.reboot()
        started = time.monotonic()
        new = old
        while new == old:
            time.sleep(5)
            new = wait_for_ssh(self.vm, self.key, timeout=1800, command="cat /proc/sys/kernel/random/boot_id").strip()
        return time.monotonic() - started

    def wait_trial_settled(self, timeout: float) -> dict[str, Any]:
        """`update status` once confirm-boot has decided (the trial no longer armed or trying)."""
        deadline = time.monotonic() + timeout
        while (data := self.status())["trial"]["state"] in ("armed", "trying"):
            assert time.monotonic() < deadline, (data, self.sh("systemctl --failed; journalctl -b -u "
                                                               "hcinode-update-confirm", check=False))
            time.sleep(5)
        return data


def apply_phases(node: UpdateNode) -> dict[str, float]:
    """Seconds of the last apply's download and checksum (hcinode.log) and of each step (its journal)."""
    phases: dict[str, float] = {}
    log = node.sh("grep -E 'update: (downloaded|sha256 of|apply prepared)' /var/log/hcinode/hcinode.log | tail -3",
                  check=False)
    for m in re.finditer(r"(downloaded|sha256 of) \S+ .*?in ([\d.]+)s", log):
        phases[m.group(1)] = float(m.group(2))
    for m in re.finditer(r"(source|manifest|facts|cluster facts) ([\d.]+)s", log):
        phases[f"prepare: {m.group(1)}"] = float(m.group(2))
    journal = node.sh("cat $(ls -t /var/lib/hcinode/journal/done/update-*.jsonl | head -1)", check=False)
    for line in journal.splitlines():
        record = json.loads(line)
        phases[record["title"][:40]] = record.get("seconds", 0.0)
    return phases


def update_vm(vm_factory: Callable[..., VM], name: str, overlay: Path, images: UpdateImages, **kwargs: Any) -> VM:
    # the served directory is linked into the VM's srv/ (pxe_dir); http_files starts the server
    return vm_factory(name, boot="disk", memory=2048, ssh_to=STATIC_IP, allow_reboot=True, disks=[Disk(overlay)],
                      pxe_dir=images.serve_dir, http_files={"README": "hcinode update e2e images\n"}, **kwargs)


def first_boot(node: UpdateNode, timings: dict[str, Any]) -> str:
    """v1 is up (ssh): returns its identity block."""
    wait_for_ssh(node.vm, node.key, timeout=1800)
    timings["boot_v1_to_ssh_s"] = round(node.vm.seconds_since_start(), 1)
    # the consoles' start-up (issue 17: the TUI's own time to its first screen, from hcinode.log)
    timings["console_ready"] = node.sh("grep -h 'console ready' /var/log/hcinode/hcinode.log", check=False).strip()
    identity = node.sh(IDENTITY)
    assert HOSTNAME.split(".")[0] in identity and STATIC_IP in identity, identity
    assert node.status()["running"] == V1
    return identity


def update_to_v2(node: UpdateNode, identity: str, timings: dict[str, Any]) -> None:
    """v1 -> v2 over HTTP, reboot: committed, the root is v2's LV, the same identity."""
    written = disk_sectors_written(node.sh)
    started = time.monotonic()
    node.apply(V2)
    timings["apply_v2_s"] = round(time.monotonic() - started, 1)
    timings["apply_v2_bytes_written"] = (disk_sectors_written(node.sh) - written) * 512
    timings["image_bytes"] = node.images.sizes[V2]
    timings["apply_v2_phases"] = apply_phases(node)
    data = node.status()
    assert data["staged"] == [V2] and data["trial"]["state"] == "armed", data
    started = time.monotonic()
    timings["reboot_v2_to_ssh_s"] = round(node.reboot_and_wait(), 1)
    data = node.wait_trial_settled(1200)
    timings["reboot_v2_to_healthy_s"] = round(time.monotonic() - started, 1)
    assert data["trial"]["state"] == "committed" and data["running"] == V2 and data["default"] == V2, data
    assert data["previous"] == V1, data
    assert node.sh(VERSION).strip() == V2
    # device-mapper doubles the dashes of VG and LV names: onn/root-0.1.1 is /dev/mapper/onn-root--0.1.1
    assert node.sh("lvs --noheadings -o lv_name $(findmnt -no SOURCE /)").strip() == f"root-{V2}", \
        node.sh("findmnt -no SOURCE /; lvs", check=False)
    assert node.sh(IDENTITY) == identity  # and ssh accepted the same host key (known_hosts of this VM)


def unhealthy_v3_rolls_back(node: UpdateNode, identity: str, timings: dict[str, Any]) -> None:
    """v2 -> v3 whose boot finishes with a failed unit: confirm-boot reboots, v2 runs again by itself."""
    v2_boot = node.boot_id()
    node.apply(V3, f"--trial-bound {V3_BOUND}")
    node.reboot()
    started = time.monotonic()
    seen: dict[str, str] = {}  # boot id -> version, as ssh saw them
    deadline = time.monotonic() + V3_BOUND + 2400
    while True:
        assert time.monotonic() < deadline, f"not back on {V2}: boots seen {seen}"
        time.sleep(10)
        result = vm_ssh(node.vm, node.key, f"cat /proc/sys/kernel/random/boot_id; {VERSION}", timeout=120,
                        check=False, connect_timeout=30)
        lines = result.stdout.split()
        if not result.ok or len(lines) != 2:
            continue
        seen[lines[0]] = lines[1]
        if lines[0] != v2_boot and lines[1] == V2:
            break
    timings["v3_trial_to_back_on_v2_s"] = round(time.monotonic() - started, 1)
    data = node.wait_trial_settled(600)  # confirm-boot on v2 records it
    assert data["running"] == V2 and data["default"] == V2, data
    assert data["trial"]["version"] == V3 and data["trial"]["state"] == "rolled-back", data
    assert data["trial"]["boots"] == 1, data  # v3 did boot once (confirm-boot counted it there)
    # the boot finished "degraded": rolled back at once, not when the bound passed
    assert "finished its boot unhealthy" in data["last"] and "hcinode-e2e-broken.service" in data["last"], \
        data["last"]
    text = node.sh("hcinode update status")
    assert f"{V3} was rolled back" in text, text
    assert node.sh(IDENTITY) == identity
    timings["boots_seen_during_v3"] = seen


def rollback_by_hand_to_v1(node: UpdateNode, identity: str, timings: dict[str, Any]) -> None:
    """v2 -> v1 (`update rollback --to`): the default changes, the reboot runs v1."""
    out = node.sh(f"hcinode update rollback --to {V1}")
    assert f"{V1} is the default" in out, out
    assert node.status()["default"] == V1
    timings["rollback_v1_to_ssh_s"] = round(node.reboot_and_wait(), 1)
    data = node.status()
    assert data["running"] == V1 and data["default"] == V1, data
    assert node.sh(VERSION).strip() == V1 and node.sh(IDENTITY) == identity


def update_cycle(key: SshKey, images: UpdateImages, vm: VM) -> dict[str, Any]:
    """Boot v1, update to v2 over HTTP, reboot (committed, same identity), v3 that is unhealthy:
    back on v2 by itself, then back to v1 by hand. Returns the timings and bytes (bench/update.py
    prints them)."""
    node = UpdateNode(vm, key, images)
    timings: dict[str, Any] = {}
    vm.start()
    vm.drain_serial()
    identity = first_boot(node, timings)
    update_to_v2(node, identity, timings)
    unhealthy_v3_rolls_back(node, identity, timings)
    rollback_by_hand_to_v1(node, identity, timings)
    timings["total_s"] = round(vm.seconds_since_start(), 1)
    return timings


@pytest.mark.e2e  # make e2e's update proof; it also stands for test_install.py's UEFI disk boot
def test_uefi_boot_then_update_and_an_unhealthy_image_rolls_back_by_itself(
        vm_factory: Callable[..., VM], installed_node: InstalledNode, update_images: UpdateImages,
        tmp_path: Path) -> None:
    """make e2e's update proof, on the installed disk's UEFI boot (test_install.py's checks first):
    one update that commits and one that rolls back by itself."""
    vm = update_vm(vm_factory, "update-uefi", overlay_of(installed_node, tmp_path / "update.qcow2"), update_images,
                   firmware="uefi")
    node = UpdateNode(vm, installed_node.key, update_images)
    timings: dict[str, Any] = dict(check_disk_boot(vm, installed_node, "uefi"))
    identity = first_boot(node, timings)
    update_to_v2(node, identity, timings)
    unhealthy_v3_rolls_back(node, identity, timings)
    print("e2e update timings:", json.dumps(timings))


@pytest.mark.e2e
@pytest.mark.e2e_full  # the whole cycle under BIOS, with the rollback by hand
def test_update_over_http_then_an_unhealthy_image_rolls_back_by_itself(
        vm_factory: Callable[..., VM], installed_node: InstalledNode, update_images: UpdateImages,
        tmp_path: Path) -> None:
    vm = update_vm(vm_factory, "update", overlay_of(installed_node, tmp_path / "update.qcow2"), update_images)
    timings = update_cycle(installed_node.key, update_images, vm)
    print("e2e update timings:", json.dumps(timings))


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_a_power_cut_during_apply_leaves_v1_running_and_a_rerun_completes(
        vm_factory: Callable[..., VM], installed_node: InstalledNode, update_images: UpdateImages,
        tmp_path: Path) -> None:
    overlay = overlay_of(installed_node, tmp_path / "powercut.qcow2")
    t0 = time.monotonic()

    def boot(name: str) -> UpdateNode:
        node = UpdateNode(update_vm(vm_factory, name, overlay, update_images), installed_node.key, update_images)
        node.vm.start()
        node.vm.drain_serial()
        wait_for_ssh(node.vm, node.key, timeout=1800)
        return node

    first = boot("powercut")
    first.sh(f"PYTHONUNBUFFERED=1 nohup hcinode update apply {first.url(V2)} --force >/root/apply.log 2>&1 "
             "</dev/null &")
    deadline = time.monotonic() + 1800
    # progress to a file has "done" lines only: the copy starts when the new root is mounted
    while "done     Mount the new root" not in (log := first.sh("cat /root/apply.log")):
        assert time.monotonic() < deadline and "rror" not in log, log
        time.sleep(2)
    time.sleep(20)  # the payload copy (about 100 s of guest time) is writing the new root now
    log = first.sh("cat /root/apply.log")
    assert "done     Write image" not in log, f"the copy finished before the power cut; test is void\n{log}"
    first.vm.kill()  # the power cut: QEMU quits, nothing is synced or unmounted
    cut_s = time.monotonic() - t0

    second = boot("after-the-cut")
    data = second.status()
    assert data["running"] == V1 and data["default"] == V1 and not data["staged"], data
    assert second.sh(VERSION).strip() == V1
    second.apply(V2)
    second.reboot()
    deadline = time.monotonic() + 1800
    while True:
        assert time.monotonic() < deadline, "v2 did not come up after the re-run"
        time.sleep(10)
        result = vm_ssh(second.vm, second.key, "hcinode update status --json", timeout=120, check=False,
                        connect_timeout=30)
        if result.ok and (data := json.loads(result.stdout))["running"] == V2 and \
                data["trial"]["state"] == "committed":
            break
    print("e2e update power cut timings:", json.dumps({"power_cut_after_s": round(cut_s, 1),
                                                       "total_s": round(time.monotonic() - t0, 1)}))
