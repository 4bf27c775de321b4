"""`hcinode install` without touching the machine: --validate, --dry-run against captured facts, sources, first boot."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from installer import firstboot, kickstart, sources, target
from nodecore.cli import main
from tests.unit.installer.test_kickstart import DATA

GOOD = DATA / "kickstart" / "good"
BAD = DATA / "kickstart" / "bad"
FACTS = DATA / "facts"


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))


def test_validate_good_and_bad(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--kickstart", str(GOOD / "bond-vlan.ks"), "--validate"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["install", "--kickstart", str(BAD / "unknown-command.ks"), "--validate"]) == 2
    err = capsys.readouterr().err
    assert "kickstart:5: Unknown command: frobnicate" in err and "nothing was changed" in err


def test_validate_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--kickstart", str(BAD / "packages-section.ks"), "--validate", "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    assert not data["ok"] and data["problems"][0]["field"] == "kickstart:5"


def test_dry_run_prints_layout_and_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["install", "--kickstart", str(GOOD / "multi-disk.ks"), "--dry-run",
               "--facts", str(FACTS / "nvme-server.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "/dev/nvme0n1 (ERASED, new GPT)" in out and "/dev/nvme1n1 (ERASED, new GPT)" in out
    assert "not touched: /dev/sda" in out
    assert "LV root           thin in pool00" in out
    for title in ("Partition and format /dev/nvme0n1, /dev/nvme1n1 (blivet)", "Copy the node image",
                  "Write /etc/fstab", "Install GRUB for BIOS and UEFI", "Unmount"):
        assert title in out
    assert "$6$" not in out  # the password hash is masked in plans


def test_dry_run_json_is_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["install", "--kickstart", str(GOOD / "post-scripts.ks"), "--dry-run", "--json",
               "--facts", str(FACTS / "qemu-virtio.json")])
    plan = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [s["action"] for s in plan["steps"]][:2] == ["fetch_payload", "storage_apply"]
    assert "run_post" in [s["action"] for s in plan["steps"]]
    assert plan["summary"]["then"] == "poweroff"


def test_dry_run_refuses_what_does_not_fit(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["install", "--kickstart", str(GOOD / "multi-disk.ks"), "--dry-run",
               "--facts", str(FACTS / "qemu-virtio.json")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "disk 'nvme0n1' does not exist on this machine" in err and "no NIC 'eno1'" in err


def test_missing_kickstart_file_is_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--kickstart", "/nonexistent/ks.cfg", "--validate"]) == 2
    assert "cannot read the kickstart /nonexistent/ks.cfg" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "kind", "location", "path"), [
    ("http://10.0.2.2:8000/ks.cfg", "http", "http://10.0.2.2:8000/ks.cfg", ""),
    ("https://ks.example.com/a/b.ks", "http", "https://ks.example.com/a/b.ks", ""),
    ("file:///run/install/ks.cfg", "file", "/run/install/ks.cfg", ""),
    ("/tmp/ks.cfg", "file", "/tmp/ks.cfg", ""),
    ("hd:LABEL=OEMDRV:/ks.cfg", "hd", "LABEL=OEMDRV", "/ks.cfg"),
    ("hd:sdb1:/kickstart/node.ks", "hd", "sdb1", "/kickstart/node.ks"),
    ("cdrom:/ks.cfg", "cdrom", "", "/ks.cfg"),
])
def test_parse_source(value: str, kind: str, location: str, path: str) -> None:
    src = sources.parse_source(value)
    assert (src.kind, src.location, src.path) == (kind, location, path)


def test_bad_source() -> None:
    with pytest.raises(sources.SourceError, match="not http"):
        sources.parse_source("nfs:server:/ks.cfg")


def test_ks_from_cmdline() -> None:
    assert sources.ks_from_cmdline("boot=live quiet inst.ks=hd:LABEL=KS:/ks.cfg console=ttyS0") == \
        "hd:LABEL=KS:/ks.cfg"
    assert sources.ks_from_cmdline("boot=live") == ""


class _Flaky(http.server.BaseHTTPRequestHandler):
    failures = 2
    calls = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).calls += 1
        if type(self).calls <= type(self).failures:
            self.send_response(503)
            self.end_headers()
            return
        body = b"rootpw --lock\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_http_fetch_retries_with_backoff() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    slept: list[float] = []
    try:
        url = f"http://127.0.0.1:{server.server_port}/ks.cfg"
        assert sources.fetch_http(url, sleep=slept.append) == b"rootpw --lock\n"
        assert slept == [1.0, 2.0]  # doubled after each failure
        _Flaky.calls, _Flaky.failures = 0, 99
        with pytest.raises(sources.SourceError, match="after 3 attempts: HTTP 503"):
            sources.fetch_http(url, attempts=3, sleep=slept.append)
    finally:
        server.shutdown()
        _Flaky.calls, _Flaky.failures = 0, 2


def test_first_boot_settings_from_bonds_and_vlans() -> None:
    from node_setup.model import load_node_config
    from nodecore.facts import HostFacts
    from nodecore.report import ValidationReport

    cfg = kickstart.parse((GOOD / "bond-vlan.ks").read_text()).config
    data = firstboot.node_settings(cfg, HostFacts.load(str(FACTS / "nvme-server.json")))
    net = data["network"]
    assert isinstance(net, dict)
    (bond,) = net["bonds"]
    assert bond["mode"] == "802.3ad" and bond["slaves"] == ["ens1f0", "ens1f1"] and bond["mtu"] == 9000
    assert bond["options"] == {"lacp_rate": "fast", "xmit_hash_policy": "layer3+4"}
    assert [v["name"] for v in net["vlans"]] == ["bond0.100", "storage0"]
    assert net["vlans"][0]["ipv4"] == {"method": "static", "addresses": ["192.0.2.21/24"], "gateway": "192.0.2.1"}
    assert net["dns"] == {"servers": ["192.0.2.53", "192.0.2.54"]}
    report = ValidationReport()
    assert load_node_config(data, report) is not None and report.ok, report.render_text()


def test_bootif_and_mac_devices_resolve_to_the_nic() -> None:
    from nodecore.facts import HostFacts

    vm = HostFacts.load(str(FACTS / "qemu-virtio.json"))
    assert firstboot.bootif_mac("BOOTIF=01-52-54-00-12-34-57 quiet") == "52:54:00:12:34:57"
    assert firstboot.resolve_device("bootif", vm, "BOOTIF=01-52-54-00-12-34-57") == ("ens4", "52:54:00:12:34:57")
    assert firstboot.resolve_device("52:54:00:12:34:56", vm) == ("ens3", "52:54:00:12:34:56")
    assert firstboot.resolve_device("ens3", vm) == ("ens3", "")


def test_fstab_by_uuid_with_thin_discard() -> None:
    devices = {
        "/boot": {"path": "/dev/vda3", "fstype": "ext4", "mountpoint": "/boot", "options": "defaults"},
        "/boot/efi": {"path": "/dev/vda2", "fstype": "efi", "mountpoint": "/boot/efi", "options": "umask=0077"},
        "onn/root": {"path": "/dev/mapper/onn-root", "fstype": "ext4", "mountpoint": "/",
                     "options": "defaults,discard"},
        "onn/swap": {"path": "/dev/mapper/onn-swap", "fstype": "swap", "mountpoint": "", "options": ""},
        "onn/pool00": {"path": "/dev/mapper/onn-pool00", "fstype": "", "mountpoint": "", "options": ""},
    }
    uuids = {"/dev/vda3": "b-1", "/dev/vda2": "E-F", "/dev/mapper/onn-root": "r-1", "/dev/mapper/onn-swap": "s-1"}
    lines = [ln for ln in target.fstab_text(devices, uuids).splitlines() if not ln.startswith("#")]
    assert lines == ["UUID=r-1  /  ext4  defaults,discard  0  1", "UUID=b-1  /boot  ext4  defaults  0  2",
                     "UUID=E-F  /boot/efi  vfat  umask=0077  0  2", "UUID=s-1  none  swap  sw  0  0"]


def test_grub_cfg_uses_serial_when_asked() -> None:
    cfg = target.grub_cfg(version="6.1.0-28-amd64", boot_uuid="u1", boot_prefix="", hostname="n1",
                          root_arg="root=/dev/mapper/onn-root", append="console=ttyS0,115200n8", timeout=3)
    assert "terminal_output console serial" in cfg and "set timeout=3" in cfg
    assert "linux /vmlinuz-6.1.0-28-amd64 root=/dev/mapper/onn-root ro console=ttyS0,115200n8" in cfg
    assert "serial" not in target.grub_cfg(version="v", boot_uuid="u", boot_prefix="/boot", hostname="n",
                                           root_arg="root=UUID=x", append="", timeout=5)


def test_initramfs_is_rebuilt_only_when_it_cannot_mount_a_thin_root(tmp_path: Path) -> None:
    from nodecore.runner import RecordingRunner

    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/vmlinuz-6.1.0-28-amd64").write_text("")
    has_thin = RecordingRunner()
    has_thin.respond(["chroot", str(tmp_path), "lsinitramfs"], stdout="usr/sbin/lvm\n"
                     "usr/lib/modules/6.1.0-28-amd64/kernel/drivers/md/dm-mod.ko\n"
                     "usr/lib/modules/6.1.0-28-amd64/kernel/drivers/md/dm-thin-pool.ko\n")
    target.make_initramfs(has_thin, {"target": str(tmp_path)})
    assert not any("update-initramfs" in a for a in has_thin.argvs)
    assert b"dm_thin_pool" in has_thin.files[str(tmp_path / "etc/initramfs-tools/modules")]
    lacks = RecordingRunner()
    lacks.respond(["chroot", str(tmp_path), "lsinitramfs"], stdout="usr/sbin/lvm\n")
    target.make_initramfs(lacks, {"target": str(tmp_path)})
    assert ("chroot", str(tmp_path), "update-initramfs", "-u", "-k", "6.1.0-28-amd64") in lacks.argvs


def test_an_initrd_the_image_build_listed_is_not_listed_again(tmp_path: Path) -> None:
    import hashlib
    import json

    from nodecore.runner import RecordingRunner

    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/vmlinuz-6.1.0-28-amd64").write_text("")
    (tmp_path / "boot/initrd.img-6.1.0-28-amd64").write_bytes(b"the initrd")
    record = tmp_path / target.INITRD_RECORD
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({hashlib.sha256(b"the initrd").hexdigest(): {"name": "initrd.img-6.1.0-28-amd64",
                                                                            "thin_lvm_root": True}}))
    runner = RecordingRunner()
    target.make_initramfs(runner, {"target": str(tmp_path)})
    assert not any("lsinitramfs" in a or "update-initramfs" in a for a in runner.argvs)
    # another initrd (not the build's bytes) is listed as before
    (tmp_path / "boot/initrd.img-6.1.0-28-amd64").write_bytes(b"rebuilt on the node")
    runner = RecordingRunner()
    runner.respond(["chroot", str(tmp_path), "lsinitramfs"], stdout="usr/sbin/lvm\n")
    target.make_initramfs(runner, {"target": str(tmp_path)})
    assert ("chroot", str(tmp_path), "update-initramfs", "-u", "-k", "6.1.0-28-amd64") in runner.argvs


def test_reset_identity_gives_each_node_its_own_ids(tmp_path: Path) -> None:
    from nodecore.runner import LocalRunner

    wants = tmp_path / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "hcinode-install.service").symlink_to("../hcinode-install.service")
    (tmp_path / "etc/ssh").mkdir()
    (tmp_path / "etc/ssh/ssh_host_ed25519_key").write_text("live media key")
    (tmp_path / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    target.reset_identity(LocalRunner(), {"target": str(tmp_path), "lang": "de_DE.UTF-8", "hostname": "n1.example.com"})
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert not (tmp_path / "etc/ssh/ssh_host_ed25519_key").exists()
    assert not (wants / "hcinode-install.service").is_symlink()
    assert "127.0.1.1\tn1.example.com n1" in (tmp_path / "etc/hosts").read_text()
    assert (tmp_path / "etc/default/locale").read_text() == "LANG=de_DE.UTF-8\n"
    assert (tmp_path / "etc/hcinode/installed").exists()
