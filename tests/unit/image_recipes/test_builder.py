"""The build plan is a pure function of the recipe; cache keys follow their inputs; steps are guarded."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from image_recipes import builder, isoboot
from image_recipes.recipe import PackageSets, load_recipe
from nodecore.errors import CommandFailed
from nodecore.runner import RecordingRunner


def _plan(release: bool = False, recipe=None):
    recipe = recipe or load_recipe("node")
    options = builder.BuildOptions(release=release, project_dir=builder.default_project_dir(),
                                   build_dir="/tmp/b", cache_dir="/tmp/c")
    return builder.build_plan(recipe, options, ["urwid==2.6.16"])


def test_node_plan_is_a_flat_list_of_named_steps() -> None:
    plan = _plan()
    actions = [s.action for s in plan.steps]
    assert actions == ["bootstrap", "prepare_base", "wheelhouse", "stage", "squashfs", "sizes", "iso", "pxe",
                       "manifest"]
    assert plan.id == _plan().id  # stable
    text = plan.render_text()
    assert "Make the squashfs (zstd)" in text
    assert "Make the squashfs (xz)" in _plan(release=True).render_text()
    bootstrap = plan.steps[0].params
    assert "deb http://deb.debian.org/debian-security bookworm-security main" in bootstrap["mirrors"]
    assert json.loads(plan.to_json())["steps"][0]["action"] == "bootstrap"


def test_rootfs_cache_key_changes_only_with_its_inputs() -> None:
    recipe = load_recipe("node")
    same = replace(recipe, kernel_cmdline="boot=live debug")
    more = replace(recipe, packages=replace(recipe.packages, tools=("htop",)))
    assert builder.rootfs_key(recipe) == builder.rootfs_key(same)
    assert builder.rootfs_key(recipe) != builder.rootfs_key(more)
    pruned_less = replace(recipe, prune=replace(recipe.prune, kernel_module_dirs=()))
    assert builder.rootfs_key(pruned_less) == builder.rootfs_key(recipe)
    assert builder.base_key(pruned_less) != builder.base_key(recipe)


def test_bootstrap_skips_when_cached(tmp_path) -> None:
    dest = tmp_path / "rootfs"
    dest.mkdir()
    (dest / "packages.tsv").write_text("bash\t5.2\n")
    runner = RecordingRunner()
    builder.bootstrap(runner, {"dest": str(dest)})
    assert runner.argvs == []


def test_bootstrap_names_a_missing_package(tmp_path) -> None:
    runner = RecordingRunner()
    runner.respond(["mmdebstrap"], 1, stderr="E: Unable to locate package hcinode-nonexistent\n")
    params = {"dest": str(tmp_path / "rootfs"), "suite": "bookworm", "mirrors": ["deb http://m bookworm main"],
              "packages": ["bash", "hcinode-nonexistent"], "epoch": 1}
    with pytest.raises(RuntimeError, match="hcinode-nonexistent"):
        builder.bootstrap(runner, params)
    # the half-built tree stays under .tmp, never under the cache key
    assert not (tmp_path / "rootfs").exists()


def test_other_bootstrap_failures_propagate(tmp_path) -> None:
    runner = RecordingRunner()
    runner.respond(["mmdebstrap"], 1, stderr="E: network unreachable\n")
    params = {"dest": str(tmp_path / "r"), "suite": "bookworm", "mirrors": [], "packages": ["bash"], "epoch": 1}
    with pytest.raises(CommandFailed):
        builder.bootstrap(runner, params)


def test_grub_menu_has_the_four_entries() -> None:
    cfg = isoboot.grub_cfg("boot=live quiet", "0.1.0")
    for entry in ("Install hcinode", "Install hcinode (serial console)", "Rescue shell", "Boot first local disk"):
        assert f'menuentry "{entry}"' in cfg
    assert "console=ttyS0,115200n8" in cfg


def test_pxe_configs_fetch_the_squashfs_over_http() -> None:
    configs = isoboot.pxe_configs("boot=live quiet")
    assert set(configs) == {"boot.ipxe", "grub/grub.cfg", "grub/hcinode.cfg", "pxelinux.cfg/default"}
    assert "fetch=${hcinode-base}/filesystem.squashfs" in configs["boot.ipxe"]
    assert "${hcinode-extra}" in configs["boot.ipxe"]
    assert "fetch=http://PXE_SERVER/" in configs["pxelinux.cfg/default"]
    # UEFI: grubnetx64 reads grub/grub.cfg (the site's settings), which sources the menu; the HTTP
    # base defaults to the TFTP server; kernel/initrd paths are absolute on the server
    assert "source $prefix/hcinode.cfg" in configs["grub/grub.cfg"]
    menu = configs["grub/hcinode.cfg"]
    assert "fetch=${hcinode_base}/filesystem.squashfs" in menu
    assert "set hcinode_base=http://$net_default_server" in menu
    assert "export hcinode_base" in menu and "export hcinode_extra" in menu  # else empty in a menuentry
    assert "linux /vmlinuz " in menu and "initrd /initrd.img" in menu and "serial --unit=0" in menu


def test_pxe_configs_name_the_boot_nic_with_bootif() -> None:
    """Each loader passes BOOTIF= (the NIC that booted), so live-boot and the live system's
    NetworkManager (hcinode-cmdline-network) use that NIC, as dracut/anaconda do."""
    configs = isoboot.pxe_configs("boot=live quiet")
    # iPXE: netX is the device it booted from; hexhyp gives pxelinux's dashed form
    assert " BOOTIF=01-${netX/mac:hexhyp} " in configs["boot.ipxe"]
    # pxelinux: IPAPPEND 2 in each label appends BOOTIF=01-<mac>
    pxelinux = configs["pxelinux.cfg/default"]
    assert pxelinux.count("LABEL ") == pxelinux.count("\n  IPAPPEND 2\n") == 2
    # grub: net_default_mac (colons) read at the top, where it is defined, and exported to the entries
    menu = configs["grub/hcinode.cfg"]
    assert 'set hcinode_bootif="BOOTIF=01-$net_default_mac"' in menu and "export hcinode_bootif" in menu
    assert menu.index("export hcinode_bootif") < menu.index("menuentry")
    assert all("$hcinode_bootif" in line for line in menu.splitlines() if line.strip().startswith("linux "))


def test_xorriso_uses_fixed_dates_and_volume_id() -> None:
    argv = isoboot.xorriso_argv("/s", "/o.iso", "HCINODE", 1747699200)
    assert argv[argv.index("-V") + 1] == "HCINODE"
    assert "--modification-date=2025052000000000" in argv


def test_python_requirements_are_pinned_and_skip_debian_bindings() -> None:
    reqs = builder.python_requirements()
    names = {r.split("==")[0].lower() for r in reqs}
    assert all("==" in r for r in reqs)
    assert {"urwid", "pykickstart", "blivet"} <= names
    assert not names & builder.DEBIAN_PROVIDED


def test_packages_all_is_sorted_and_unique() -> None:
    sets = PackageSets(base=("b", "a"), tools=("a", "c"))
    assert sets.all() == ("a", "b", "c")


def test_the_build_records_which_initrds_activate_a_thin_lvm_root(tmp_path: Path) -> None:
    import hashlib

    from installer.target import INITRD_RECORD

    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/initrd.img-6.1").write_bytes(b"full")
    (tmp_path / "boot/initrd-medium.img-6.1").write_bytes(b"medium")
    runner = RecordingRunner()
    runner.respond(["chroot", str(tmp_path), "lsinitramfs", "/boot/initrd.img-6.1"],
                   stdout="usr/sbin/lvm\nusr/lib/modules/6.1/kernel/drivers/md/dm-mod.ko\n"
                          "usr/lib/modules/6.1/kernel/drivers/md/dm-thin-pool.ko\n")
    runner.respond(["chroot", str(tmp_path), "lsinitramfs", "/boot/initrd-medium.img-6.1"], stdout="usr/sbin/lvm\n")
    builder.record_initrds(runner, str(tmp_path), ["/boot/initrd.img-6.1", "/boot/initrd-medium.img-6.1"])
    record = json.loads(runner.files[str(tmp_path / INITRD_RECORD)])
    assert record == {hashlib.sha256(b"full").hexdigest(): {"name": "initrd.img-6.1", "thin_lvm_root": True},
                      hashlib.sha256(b"medium").hexdigest(): {"name": "initrd-medium.img-6.1", "thin_lvm_root": False}}


def test_first_files_lists_what_the_console_start_loads_in_load_order() -> None:
    """FIRST_FILES_PY run for real (this python, not a chroot): the files come in load order, the
    bytecode where there is some, and urwid's optional event loops stay out (tui/__init__.py)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-B", "-W", "ignore", "-c", builder.FIRST_FILES_PY,
                          "nodecore.cli", "tui.app", "tui.pages.*"], capture_output=True, text=True, check=True,
                         cwd=builder.default_project_dir()).stdout.splitlines()
    names = [Path(p).name for p in out]
    assert any(n.startswith("cli.") for n in names) and any(n.startswith("install.") for n in names)
    loaded = "\n".join(out)
    assert "/urwid/" in loaded and "/tui/pages/" in loaded
    assert "/gi/" not in loaded and "/trio/" not in loaded  # blocked: nothing of them is read
    cli = next(i for i, p in enumerate(out) if p.endswith(("nodecore/cli.py", "cli.cpython-311.pyc"))
               and "nodecore" in p)
    assert cli < next(i for i, p in enumerate(out) if "/urwid/" in p)  # nodecore.cli was imported first


def test_the_squashfs_step_puts_the_first_files_first(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.respond(["chroot"], stdout="/usr/lib/python3.11/os.pyc\n/usr/local/lib/a.pyc\n/usr/lib/python3.11/os.pyc\n")
    out = tmp_path / "filesystem.squashfs"
    (tmp_path / "filesystem.squashfs.tmp").write_bytes(b"")  # what mksquashfs would write
    builder.squashfs(runner, {"root": "/r", "out": str(out), "compression": "xz", "key": "k", "epoch": 1,
                              "first_imports": ["tui.app"]})
    chroot, mksquashfs = runner.argvs[-2], runner.argvs[-1]
    assert chroot[:5] == ("chroot", "/r", "python3", "-B", "-I") and chroot[-1] == "tui.app"
    assert mksquashfs[mksquashfs.index("-sort") + 1] == f"{out}.sort"
    assert runner.files[f"{out}.sort"] == b"usr/lib/python3.11/os.pyc 32767\nusr/local/lib/a.pyc 32766\n"
    assert b"first tui.app" in runner.files[f"{out}.key"]
