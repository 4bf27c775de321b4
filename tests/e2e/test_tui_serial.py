"""The node ISO's serial console runs the console UI: its first screen, and an interactive install
driven over the serial line that leaves a disk which boots to the node console.

Over the serial line urwid draws with escape sequences, so the tests wait for short phrases that
are drawn in one attribute run (a label, a title), not for whole lines.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from tests.e2e.vm import VM, Disk, make_disk, root_shell

BOOT_TIMEOUT = 900  # TCG on 2 cores shared with other VM tests: boots took 3-10+ minutes here
INSTALL_TIMEOUT = 3600  # initramfs and grub under TCG on a loaded machine take long
# A secret canary: distinctive, with a '#' (a kickstart comment character) and a '-'; searched
# for on the installed disk after the install (as typed, URL- or base64-encoded, or key by key)
PASSWORD = "Canary-Zq7#x9Lp"
HOSTNAME = "tuinode.example.test"


@pytest.fixture
def tui_iso(request: pytest.FixtureRequest) -> Path:
    """build/node.iso, or HCINODE_TUI_ISO (an ISO built elsewhere, e.g. with a recipe copy whose
    outputs point outside build/, so a console change is tested without replacing the shared ISO)."""
    override = os.environ.get("HCINODE_TUI_ISO")
    return Path(override) if override else request.getfixturevalue("node_iso")  # type: ignore[no-any-return]


def type_slowly(vm, text: str) -> None:  # type: ignore[no-untyped-def]
    # a 115200 baud line and a busy guest: a short pause per key keeps every key (no input drops)
    for ch in text:
        vm.send(ch)
        time.sleep(0.05)


# make e2e sees the first screen in test_image_boot.py and in the interactive install below
@pytest.mark.e2e
@pytest.mark.e2e_full
def test_iso_serial_console_shows_the_installer_first_screen(vm_factory, tui_iso) -> None:
    vm = vm_factory("tui-serial", boot="iso", firmware="bios", iso=tui_iso)
    vm.start()
    vm.expect("What to do", timeout=BOOT_TIMEOUT)  # the installer's welcome page, not a login
    vm.expect("Rescue shell", timeout=30)
    vm.send_key("f10")  # keys arrive over the serial line: F10 is "Next"
    vm.expect("Keyboard layout", timeout=60)
    vm.send_key("esc")
    vm.expect("What to do", timeout=60)
    vm.poweroff()


# The only proof of an interactive install, so it runs in `make e2e` (~15 min under load here).
@pytest.mark.e2e
def test_interactive_install_over_serial_then_boot_the_disk(vm_factory, tui_iso, tmp_path) -> None:
    disk = make_disk(tmp_path / "disk0.qcow2", "20G")
    vm = vm_factory("tui-install", boot="iso", firmware="bios", iso=tui_iso, disks=[Disk(disk)], memory=2048)
    vm.start()
    vm.expect("What to do", timeout=BOOT_TIMEOUT)
    vm.send_key("f10")  # Install
    vm.expect("Keyboard layout", timeout=60)
    vm.send_key("f10")  # us, UTC
    vm.expect("Choose the disk", timeout=60)
    vm.send(" ")  # the first (only) disk
    time.sleep(0.5)
    vm.send_key("f10")
    vm.expect("The network used", timeout=60)
    vm.send_key("f10")  # DHCP on the first NIC
    vm.expect("fully qualified", timeout=60)
    type_slowly(vm, HOSTNAME)
    vm.send_key("f10")
    vm.expect("The password of the admin", timeout=60)
    type_slowly(vm, PASSWORD)
    vm.send_key("down")
    type_slowly(vm, PASSWORD)
    vm.send_key("f10")
    vm.expect("Disks to ERASE", timeout=120)
    vm.send_key("f10")  # Install: the confirmation with the plan
    vm.expect("Erase and install", timeout=120)
    vm.send_key("enter")
    vm.expect("Installing", timeout=60)
    vm.expect("hcinode is installed", timeout=INSTALL_TIMEOUT)
    vm.send_key("f10")  # Reboot: confirm
    vm.expect("Reboot into the installed node now", timeout=60)
    vm.send_key("enter")
    vm.wait_exit(timeout=300)  # QEMU runs with -no-reboot: the reboot ends it

    installed = vm_factory("tui-installed", boot="disk", firmware="bios", disks=[Disk(disk)], memory=2048)
    installed.start()
    installed.expect("Node status", timeout=BOOT_TIMEOUT)  # the node pages, not the installer
    installed.expect(HOSTNAME.split(".")[0], timeout=60)
    installed.poweroff()

    # after the installer and the first boot wrote to it: the disk's logs, /root, /etc and state
    rescue = vm_factory("tui-canary", boot="kernel", iso=tui_iso, memory=1536, disks=[Disk(disk)],
                        kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1"])
    leaks, searched = _canary_on_the_disk(rescue, PASSWORD)
    assert searched > 20, f"only {searched} files searched: the disk was not mounted as expected"
    assert not leaks, f"the admin password typed over the serial console is on the installed disk: {leaks}"


def _canary_on_the_disk(vm: VM, secret: str) -> tuple[list[str], int]:
    """Boot the live media to a rescue shell, mount every file system of the installed disk read-only
    and grep the places a secret could land. Returns (files with the secret, files searched)."""
    import base64
    import shlex
    from urllib.parse import quote

    vm.start()
    root_shell(vm)
    vm.run("vgchange -ay >/dev/null 2>&1; udevadm settle; mkdir -p /mnt/d", timeout=600)
    # every file system of the disk under /mnt/d/<name>: the LVs that are volumes (thin 'V' or plain '-',
    # never a thin pool's own devices, whose data area blkid may take for a file system) and the partitions
    vm.run("for dev in $(lvs --noheadings -o lv_dm_path,lv_attr 2>/dev/null | awk '$2 ~ /^[V-]/ {print $1}') "
           "$(lsblk -rnpo NAME,FSTYPE,TYPE /dev/vda | awk '$3 == \"part\" && $2 ~ /^(ext4|xfs|vfat)$/ {print $1}'); "
           "do n=$(basename $dev); mkdir -p /mnt/d/$n; timeout 120 mount -o ro $dev /mnt/d/$n 2>/dev/null "
           "|| rmdir /mnt/d/$n; done; ls /mnt/d", timeout=600)
    places = "/mnt/d/*/var/log /mnt/d/*/root /mnt/d/*/etc /mnt/d/*/var/lib/hcinode /mnt/d/*-var_log* /mnt/d/*-home*"
    forms = [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()]
    fixed = " ".join(f"-e {shlex.quote(f)}" for f in forms)
    # one logged key per line (urwid's DEBUG log): the characters in order, each the first of its kind
    # within 200 bytes of the one before. `[^c]{0,200}c` matches one way only, so the scan is linear
    # (GNU grep -E with chained `.{0,200}` ran for over 15 min on 350 files under TCG, and a lazy
    # `.{0,200}?` backtracks without bound on text full of the canary's characters)
    tail = secret.split("-", 1)[1]
    keys = re.escape(tail[0]) + "".join(f"[^{re.escape(c)}]{{0,200}}{re.escape(c)}" for c in tail[1:])
    scan = ("import re,sys,os\n"
            f"k=re.compile({keys!r}.encode(),re.S)\n"
            "for f in open('/tmp/files','rb').read().split(b'\\0'):\n"
            " if f and os.path.getsize(f)<4<<20 and k.search(open(f,'rb').read()):print('LEAK-KEYS:',f.decode())\n")
    vm.put_file("/tmp/keys.py", scan)
    # one grep over all files for the fixed forms (a process per file took over 900 s under TCG)
    out = vm.run(f"find {places} -xdev -type f -size -64M -print0 2>/dev/null | sort -zu > /tmp/files; "
                 "echo SEARCHED $(tr -cd '\\000' < /tmp/files | wc -c); "
                 f"xargs -0 -r grep -laF {fixed} < /tmp/files | sed 's/^/LEAK: /'; "
                 "python3 /tmp/keys.py; echo SEARCH-DONE", timeout=900)
    assert "SEARCH-DONE" in out, out
    searched = int(re.search(r"SEARCHED (\d+)", out).group(1))  # type: ignore[union-attr]
    leaks = [line for line in out.splitlines() if line.startswith("LEAK")]
    vm.kill()
    return leaks, searched
