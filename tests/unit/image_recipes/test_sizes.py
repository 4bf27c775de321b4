"""The manifest's biggest files and directories (image_recipes.sizes) and the squashfs excludes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from image_recipes import builder, sizes
from image_recipes.recipe import load_recipe
from nodecore.runner import LocalRunner


def tree(root: Path) -> Path:
    (root / "usr/lib").mkdir(parents=True)
    (root / "boot").mkdir()
    (root / "proc").mkdir()
    (root / "usr/lib/big").write_bytes(b"a" * 3_000_000)  # compresses to almost nothing
    (root / "usr/lib/random").write_bytes(os.urandom(1_500_000))  # does not compress
    os.link(root / "usr/lib/big", root / "usr/lib/big-link")  # one inode: counted once
    os.symlink("big", root / "usr/lib/big-symlink")
    (root / "boot/vmlinuz-1").write_bytes(b"k" * 1000)
    (root / "proc/x").write_bytes(b"p" * 5000)
    (root / "small").write_bytes(b"s")
    return root


def test_files_count_each_inode_once_and_skip_excludes(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    files = sizes.squashfs_files(str(root), ["boot/vmlinuz-*"])
    assert [(f.path, f.size) for f in files] == [("small", 1), ("usr/lib/big", 3_000_000),
                                                ("usr/lib/random", 1_500_000)]


def test_compressed_estimate_per_block(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    files = sizes.squashfs_files(str(root))
    est = sizes.estimate_compressed(str(root), files, workers=1)
    assert est["usr/lib/big"] < 10_000  # three 1 MiB blocks of one byte value
    assert est["usr/lib/random"] == 1_500_000  # stored uncompressed, as mksquashfs does
    assert sizes.compressed_block_size(b"\x7fELF" + b"\x90" * 4096, elf=True) < 200
    # an earlier estimate of an unchanged file is reused, a changed file is compressed again
    known = {f.stamp(): 7 for f in files}
    (root / "small").write_bytes(b"changed" * 1000)
    again = sizes.estimate_compressed(str(root), sizes.squashfs_files(str(root)), workers=1, known=known)
    assert again["usr/lib/big"] == 7 and again["small"] != 7


def test_biggest_lists_files_and_directories(tmp_path: Path) -> None:
    files = [sizes.FileSize("usr/lib/a", 10), sizes.FileSize("usr/lib/b", 30), sizes.FileSize("etc/c", 20)]
    out = sizes.biggest(files, {"usr/lib/a": 1, "usr/lib/b": 3, "etc/c": 2}, count=2)
    assert out["files"] == [{"path": "/usr/lib/b", "bytes": 30, "compressed_bytes": 3},
                            {"path": "/etc/c", "bytes": 20, "compressed_bytes": 2}]
    assert out["directories"] == [{"path": "/usr", "bytes": 40, "compressed_bytes": 4},
                                  {"path": "/usr/lib", "bytes": 40, "compressed_bytes": 4}]
    assert sizes.biggest(files, None, count=1)["files"][0]["compressed_bytes"] is None


def test_sizes_action_writes_the_list_once_per_key(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    out = tmp_path / "sizes.json"
    params = {"root": str(root), "exclude": ["boot/vmlinuz-*"], "compressed": True, "key": "k1", "out": str(out)}
    builder.sizes(LocalRunner(), params)
    data = json.loads(out.read_text())
    assert data["total_bytes"] == 4_500_001
    assert data["files"][0]["path"] == "/usr/lib/big"
    assert "1 MiB blocks" in data["method"]
    out.write_text("{}")
    builder.sizes(LocalRunner(), params)  # same key: not measured again
    assert out.read_text() == "{}"


def test_node_squashfs_leaves_out_what_the_boot_medium_carries() -> None:
    recipe = load_recipe("node")
    excluded = {e.path for e in recipe.squashfs.exclude}
    assert {"boot/vmlinuz-*", "boot/initrd.img-*"} <= excluded
    assert all(e.removes and e.proven_by.startswith("tests/") for e in recipe.squashfs.exclude)
    options = builder.BuildOptions(release=True, project_dir=builder.default_project_dir(),
                                   build_dir="/tmp/b", cache_dir="/tmp/c")
    plan = builder.build_plan(recipe, options, [])
    squashfs = next(s for s in plan.steps if s.action == "squashfs")
    assert set(squashfs.params["exclude"]) == excluded
    measure = next(s for s in plan.steps if s.action == "sizes")
    assert measure.params["compressed"] is True


def test_excluded_items_are_pruned_entries(tmp_path: Path) -> None:
    root = tree(tmp_path / "r")
    items = builder.excluded_items(str(root), [{"path": "boot/vmlinuz-*", "removes": "the kernel",
                                                "proven_by": "tests/e2e/test_install.py"}])
    assert items == [{"path": "/boot/vmlinuz-1", "bytes": 1000, "where": "squashfs only",
                      "removes": "the kernel", "proven_by": "tests/e2e/test_install.py"}]


def test_the_iso_takes_the_medium_initrd_pxe_the_full_one(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "usr/lib/modules/6.1.0-57-amd64").mkdir(parents=True)
    (root / "boot").mkdir()
    for name in ("vmlinuz-6.1.0-57-amd64", "initrd.img-6.1.0-57-amd64"):
        (root / "boot" / name).write_bytes(b"x")
    assert builder._boot_files(str(root), medium=True)[1].endswith("/boot/initrd.img-6.1.0-57-amd64")
    (root / "boot/initrd-medium.img-6.1.0-57-amd64").write_bytes(b"small")
    assert builder._boot_files(str(root), medium=True)[1].endswith("/boot/initrd-medium.img-6.1.0-57-amd64")
    assert builder._boot_files(str(root))[1].endswith("/boot/initrd.img-6.1.0-57-amd64")


def test_the_node_plan_builds_a_medium_initrd_without_nic_drivers() -> None:
    recipe = load_recipe("node")
    options = builder.BuildOptions(project_dir=builder.default_project_dir(), build_dir="/tmp/b", cache_dir="/tmp/c")
    base = next(s for s in builder.build_plan(recipe, options, []).steps if s.action == "prepare_base")
    assert base.params["medium_exclude_module_dirs"] == ["drivers/net"]
    assert 'HCINODE_INITRD:-}" = medium' in builder.INITRAMFS_HOOK
