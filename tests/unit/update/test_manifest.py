import json
import shutil
import subprocess

import pytest

from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner
from update.manifest import (
    ImageManifest,
    ManifestError,
    check_compatible,
    compare_versions,
    elf_architecture,
    squashfs_manifest,
    tree_manifest,
)


def make_tree(root, version="0.2.0", elf="/usr/bin/dash"):
    meta = root / "usr/local/lib/python3.11/dist-packages" / f"hcinode-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hcinode\nVersion: {version}\n")
    (root / "usr/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(elf, root / "usr/bin/dash")
    return root


def test_versions_compare_as_numbers():
    assert compare_versions("0.10.0", "0.9.1") == 1
    assert compare_versions("1.0", "1.0") == 0
    assert compare_versions("0.1.0", "0.2.0") == -1


def test_elf_architecture():
    head = bytearray(64)
    head[:6] = b"\x7fELF\x02\x01"
    head[18:20] = (0xB7).to_bytes(2, "little")
    assert elf_architecture(bytes(head)) == "arm64"
    with pytest.raises(ManifestError):
        elf_architecture(b"#!/bin/sh\n" + bytes(20))


def test_tree_manifest_from_the_package_and_the_elf(tmp_path):
    assert tree_manifest(str(make_tree(tmp_path))) == ImageManifest("0.2.0", "amd64")


def test_image_json_wins_and_garbage_is_refused(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "usr/share/hcinode").mkdir(parents=True)
    (tmp_path / "usr/share/hcinode/image.json").write_text(json.dumps({"version": "3", "architecture": "arm64"}))
    assert tree_manifest(str(tmp_path)) == ImageManifest("3", "arm64")
    (tmp_path / "usr/share/hcinode/image.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        tree_manifest(str(tmp_path))


def test_not_a_node_image(tmp_path):
    with pytest.raises(ManifestError, match="not an hcinode node image"):
        tree_manifest(str(tmp_path))


def test_squashfs_manifest_unpacks_only_what_it_reads(tmp_path):
    make_tree(tmp_path / "root", "0.3.1")
    (tmp_path / "root/etc").mkdir()
    (tmp_path / "root/etc/big").write_text("x" * 10000)
    image = tmp_path / "img.sqfs"
    subprocess.run(["mksquashfs", str(tmp_path / "root"), str(image), "-quiet", "-no-progress"], check=True)
    work = tmp_path / "work"
    assert squashfs_manifest(LocalRunner(), str(image), str(work)) == ImageManifest("0.3.1", "amd64")
    assert not (work / "etc").exists()


def test_compatibility_rules():
    running = ImageManifest("0.2.0", "amd64")
    ok = ValidationReport()
    check_compatible(ok, ImageManifest("0.3.0", "amd64"), running, allow_downgrade=False)
    assert ok.ok
    bad = ValidationReport()
    check_compatible(bad, ImageManifest("0.1.0", "arm64"), running, allow_downgrade=False)
    text = bad.render_text()
    assert "for arm64, this node is amd64" in text and "--allow-downgrade" in text
    down = ValidationReport()
    check_compatible(down, ImageManifest("0.1.0", "amd64"), running, allow_downgrade=True)
    assert down.ok
    same = ValidationReport()
    check_compatible(same, running, running, allow_downgrade=True)
    assert "the version this node runs" in same.render_text()
