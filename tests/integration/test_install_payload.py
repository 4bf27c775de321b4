"""Payload copy onto real file systems on loop devices (root): unsquashfs, block copy, and a copy
interrupted halfway that a re-run completes.

(The blivet storage step needs device-mapper, which this machine's kernel lacks; it is proven in
the VM tests in tests/e2e/test_install.py.)
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from installer import target
from nodecore.runner import LocalRunner

pytestmark = pytest.mark.integration
RUNNER = LocalRunner()


def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "lost+found"]
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink():
                out[str(path.relative_to(root))] = "->" + os.readlink(path)
            else:
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree shaped like a root file system (many small files, some large, symlinks)."""
    if os.geteuid() != 0:
        pytest.fail("integration tests run as root (make test)")
    root = tmp_path_factory.mktemp("payload") / "root"
    root.mkdir()
    RUNNER.run(["cp", "-a", "/usr/lib/python3/dist-packages", str(root / "usr-lib-python3")], timeout=300)
    RUNNER.run(["cp", "-a", "/usr/share/zoneinfo", str(root / "zoneinfo")])
    (root / "big.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    (root / "link").symlink_to("zoneinfo/UTC")
    return root


@pytest.fixture(scope="module")
def squashfs(source_tree: Path) -> Path:
    out = source_tree.parent / "filesystem.squashfs"
    RUNNER.run(["mksquashfs", str(source_tree), str(out), "-noappend", "-no-progress", "-quiet",
                "-comp", "zstd", "-processors", "2"], timeout=600)
    return out


class LoopFs:
    def __init__(self, path: Path, size: str, fstype: str = "ext4") -> None:
        RUNNER.run(["truncate", "-s", size, str(path)])
        self.dev = RUNNER.run(["losetup", "--find", "--show", str(path)]).stdout.strip()
        if fstype:
            RUNNER.run([f"mkfs.{fstype}", "-q", *(["-F"] if fstype == "ext4" else ["-f"]), self.dev])
        self.mnt = path.with_suffix(".mnt")
        self.mnt.mkdir()

    def mount(self) -> Path:
        RUNNER.run(["mount", self.dev, str(self.mnt)])
        return self.mnt

    def close(self) -> None:
        RUNNER.run(["umount", "--recursive", str(self.mnt)], check=False)
        RUNNER.run(["losetup", "-d", self.dev], check=False)


@pytest.fixture
def loopfs(tmp_path: Path) -> Iterator[LoopFs]:
    fs = LoopFs(tmp_path / "root.img", "1G")
    yield fs
    fs.close()


def _devices_file(tmp_path: Path, dev: str) -> Path:
    import json

    path = tmp_path / "devices.json"
    path.write_text(json.dumps({"vg/root": {"path": dev, "fstype": "ext4", "mountpoint": "/", "options": ""}}))
    return path


def test_unsquashfs_payload_is_identical(tmp_path: Path, source_tree: Path, squashfs: Path,
                                         loopfs: LoopFs) -> None:
    mnt = loopfs.mount()
    params = {"image": str(squashfs), "target": str(mnt), "devices_file": str(_devices_file(tmp_path, loopfs.dev)),
              "root_name": "vg/root"}
    target.copy_payload(RUNNER, params)
    assert _tree_digest(mnt) == _tree_digest(source_tree)


def test_block_copy_of_an_ext4_image_is_identical_and_grown(tmp_path: Path, source_tree: Path,
                                                            loopfs: LoopFs) -> None:
    image = tmp_path / "rootfs.ext4"
    RUNNER.run(["mkfs.ext4", "-q", "-F", "-d", str(source_tree), str(image), "400M"], timeout=600)
    mnt = loopfs.mnt
    params = {"image": str(image), "target": str(mnt), "devices_file": str(_devices_file(tmp_path, loopfs.dev)),
              "root_name": "vg/root"}
    target.copy_payload(RUNNER, params)  # block-copies, grows, then mounts the layout
    assert _tree_digest(mnt) == _tree_digest(source_tree)
    df = os.statvfs(mnt)
    assert df.f_blocks * df.f_frsize > 900 * 1024 * 1024  # grown from 400M to the 1G device


def test_payload_copy_interrupted_by_power_loss_is_completed_by_a_rerun(
        tmp_path: Path, source_tree: Path, squashfs: Path, loopfs: LoopFs) -> None:
    mnt = loopfs.mount()
    # the "power loss", made deterministic (a timed kill is void on a fast machine): part of the
    # tree unpacked, and the large file torn halfway through its write
    RUNNER.run(["unsquashfs", "-f", "-n", "-d", str(mnt), str(squashfs), "zoneinfo", "big.bin"], timeout=300)
    big = mnt / "big.bin"
    os.truncate(big, big.stat().st_size // 2)
    partial = _tree_digest(mnt)
    assert partial != _tree_digest(source_tree), "the copy finished before the interruption; test is void"
    params = {"image": str(squashfs), "target": str(mnt), "devices_file": str(_devices_file(tmp_path, loopfs.dev)),
              "root_name": "vg/root"}
    target.copy_payload(RUNNER, params)
    assert _tree_digest(mnt) == _tree_digest(source_tree)


def test_payload_checksum_mismatch_stops_before_anything_is_written(tmp_path: Path, squashfs: Path) -> None:
    params = {"image": str(tmp_path / "image"), "url": f"file://{squashfs}", "checksum": "0" * 64}
    with pytest.raises(RuntimeError, match="checksum does not match"):
        target.fetch_payload(RUNNER, params)
    good = dict(params, checksum=target.sha256_file(str(squashfs)))
    target.fetch_payload(RUNNER, good)
    assert os.path.realpath(tmp_path / "image") == str(squashfs)
