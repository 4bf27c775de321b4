"""The live system and the installed node never present a floppy as a disk (fd0 on QEMU/KVM)."""

from __future__ import annotations

import os

from image_recipes.recipe import load_recipe


def test_node_image_prunes_and_blacklists_the_floppy_driver() -> None:
    recipe = load_recipe("node")
    # the path of the module in Debian's linux-image-amd64 (CONFIG_BLK_DEV_FD=m)
    assert "drivers/block/floppy.ko" in recipe.prune.kernel_module_dirs
    confs = [os.path.join(d, "etc/modprobe.d/hcinode-no-floppy.conf") for d in recipe.overlay_dirs()]
    (conf,) = [c for c in confs if os.path.isfile(c)]
    with open(conf, encoding="utf-8") as f:
        rules = [line.split() for line in f if line.strip() and not line.startswith("#")]
    assert ["blacklist", "floppy"] in rules
    assert ["install", "floppy", "/bin/false"] in rules


def test_floppy_is_not_in_the_initramfs_module_list() -> None:
    assert "floppy" not in load_recipe("node").initramfs.include_modules
