"""Recipe schema: the shipped recipes are valid; a bad recipe is rejected with every problem at once."""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from image_recipes.recipe import RECIPES_DIR, load_recipe
from nodecore.errors import InvalidInput


def test_node_recipe_is_valid_and_carries_what_the_installer_needs() -> None:
    recipe = load_recipe("node")
    packages = recipe.packages.all()
    for needed in ("linux-image-amd64", "live-boot", "network-manager", "qemu-system-x86",
                   "libvirt-daemon-system", "glusterfs-server", "sanlock", "python3-blockdev",
                   "grub-efi-amd64-signed", "shim-signed", "squashfs-tools", "lvm2"):
        assert needed in packages
    assert "cloud-init" not in packages
    assert recipe.hostname == "hcinode"
    assert recipe.outputs.volume_id == "HCINODE"
    assert all(os.path.isdir(d) for d in recipe.overlay_dirs())


def _write_recipe(tmp_path, mutate) -> str:
    src = os.path.join(RECIPES_DIR, "node")
    dest = tmp_path / "node"
    shutil.copytree(src, dest)
    with open(dest / "recipe.yaml") as f:
        data = yaml.safe_load(f)
    mutate(data)
    with open(dest / "recipe.yaml", "w") as f:
        yaml.safe_dump(data, f)
    return str(dest)


def test_bad_recipe_reports_all_problems_at_once(tmp_path) -> None:
    def break_it(data: dict) -> None:
        data["packages"]["virtualisation"] = ["qemu-system-x86"]  # misspelt package set
        data["overlays"] = ["overlay", "no-such-overlay"]
        data["outputs"]["max_size"] = "lots"

    path = _write_recipe(tmp_path, break_it)
    with pytest.raises(InvalidInput) as exc:
        load_recipe(path)
    text = exc.value.report.render_text()
    fields = {p.field for p in exc.value.report.errors}
    assert "packages.virtualisation" in fields
    assert "did you mean 'virtualization'" in text
    assert "outputs.max_size" in fields
    assert "not a size" in text
    # overlay paths are checked even though other fields already failed
    assert "overlays[1]" in fields
    assert "no-such-overlay" in text


def test_bad_package_name_and_unknown_recipe(tmp_path) -> None:
    path = _write_recipe(tmp_path, lambda d: d["packages"].update(tools=["Not A Package"]))
    with pytest.raises(InvalidInput) as exc:
        load_recipe(path)
    assert "not a Debian package name" in exc.value.report.render_text()
    with pytest.raises(InvalidInput) as exc:
        load_recipe("no-such-recipe")
    assert "known recipes" in exc.value.report.render_text()


@pytest.mark.parametrize("mutate,words", [
    (lambda d: d["prune"]["paths"].append("etc/ssh/*"), "reaches /etc"),
    (lambda d: d["prune"]["paths"].append("*"), "reaches /etc"),
    (lambda d: d["prune"]["paths"].append("/usr/share/doc"), "relative"),
    (lambda d: d["prune"]["paths"].append("usr/../etc/passwd"), "relative"),
    (lambda d: d["distribution"]["mirrors"][0].update(uri="http://deb.debian.org/debian\ndeb http://evil/ x y"),
     "control character"),
    (lambda d: d.update(kernel_cmdline="boot=live quiet\ninit=/bin/sh"), "control character"),
], ids=["etc", "star", "absolute", "dotdot", "mirror-newline", "cmdline-newline"])
def test_dangerous_recipe_values_refused(tmp_path, mutate, words) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_recipe(_write_recipe(tmp_path, mutate))
    assert words in exc.value.report.render_text()
