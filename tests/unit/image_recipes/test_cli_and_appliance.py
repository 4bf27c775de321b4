"""CLI dry-run and validate; the appliance disk image steps (recorded, nothing runs)."""

from __future__ import annotations

import json
import os

from image_recipes import appliance
from nodecore.cli import main
from nodecore.runner import RecordingRunner


def test_dry_run_prints_the_plan_and_changes_nothing(capsys, tmp_path) -> None:
    rc = main(["--log-file", str(tmp_path / "log"), "image", "build", "node", "--dry-run",
               "--build-dir", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Bootstrap the Debian root filesystem" in out
    assert "Make the hybrid BIOS+UEFI ISO" in out
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_dry_run_json_for_the_appliance(capsys, tmp_path) -> None:
    rc = main(["--log-file", str(tmp_path / "log"), "image", "build", "engine-appliance", "--dry-run", "--json",
               "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["action"] for s in plan["steps"]][-2:] == ["disk_image", "manifest"]


def test_invalid_recipe_exits_2(capsys, tmp_path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: x\nkind: live-iso\npackages: {virtualisation: [qemu]}\n")
    rc = main(["--log-file", str(tmp_path / "log"), "image", "build", str(recipe), "--dry-run"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "distribution" in err and "virtualisation" in err


def test_appliance_disk_image_steps(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "usr/lib/modules/6.1.0-1-cloud-amd64").mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    core = work / "core.img"
    core.write_bytes(b"\0" * 4096)  # what grub-mkimage would have written
    class Runner(RecordingRunner):
        def run(self, argv, **kwargs):  # type: ignore[no-untyped-def]
            if argv[0] in ("qemu-img", "truncate"):  # the files these would have written
                open(argv[-1], "wb").close()
            return super().run(argv, **kwargs)

    runner = Runner()
    out = tmp_path / "engine.qcow2"
    appliance.disk_image(runner, {"root": str(root), "out": str(out), "work": str(work), "size": 4 << 30,
                                  "cmdline": "console=ttyS0,115200n8", "epoch": 1})
    tools = [argv[0] for argv in runner.argvs]
    assert tools == ["truncate", "sfdisk", "mkfs.ext4", "grub-mkimage", "dd", "dd", "qemu-img"]
    mkfs = runner.argvs[2]
    assert "-d" in mkfs and any(a.startswith("offset=1048576") for a in mkfs)
    cfg = runner.files[os.path.join(str(root), "boot/grub/grub.cfg")].decode()
    assert "vmlinuz-6.1.0-1-cloud-amd64" in cfg and "console=ttyS0" in cfg
    assert out.exists()
