"""The installer puts the image's kernel and initrd into /boot when the squashfs leaves them out."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from installer.target import boot_file_sources, bzimage_version, install_boot_files
from nodecore.runner import LocalRunner

RELEASE = "6.1.0-57-amd64"


def fake_bzimage(release: str) -> bytes:
    data = bytearray(0x1000)
    data[0x202:0x206] = b"HdrS"
    data[0x20E:0x210] = (0x400 - 0x200).to_bytes(2, "little")
    text = f"{release} (debian-kernel@lists.debian.org) #1 SMP Debian".encode() + b"\0"
    data[0x400:0x400 + len(text)] = text
    return bytes(data)


def boot_dir(path: Path, release: str = RELEASE) -> Path:
    path.mkdir(parents=True)
    (path / "vmlinuz").write_bytes(fake_bzimage(release))
    (path / "initrd.img").write_bytes(b"initrd of " + release.encode())
    return path


def target_root(path: Path, release: str = RELEASE) -> Path:
    (path / "usr/lib/modules" / release).mkdir(parents=True)
    (path / "boot").mkdir()
    return path


def test_sources_liveimg_dir_then_medium_then_fetch_dir() -> None:
    cmdline = "boot=live fetch=http://10.0.2.2:8080/pxe/filesystem.squashfs BOOTIF=01-52-54-00-12-34-56"
    assert boot_file_sources("http://192.0.2.1/img/filesystem.squashfs", cmdline, "/m/live") == [
        "http://192.0.2.1/img", "/m/live", "http://10.0.2.2:8080/pxe"]
    assert boot_file_sources("file:///srv/pxe/filesystem.squashfs", "", "/m/live") == ["/srv/pxe", "/m/live"]
    assert boot_file_sources("", "boot=live quiet", "/m/live") == ["/m/live"]
    # the update tool's image (an ISO's live/ or a pxe/ directory) has them beside it
    assert boot_file_sources("", "", "/m/live", image_dir="/mnt/iso/live") == ["/mnt/iso/live", "/m/live"]
    assert boot_file_sources("", "", "/m/live", image_dir="/m/live") == ["/m/live"]


def test_bzimage_version(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(fake_bzimage(RELEASE))
    (tmp_path / "not").write_bytes(b"\0" * 0x1000)
    assert bzimage_version(str(tmp_path / "k")) == RELEASE
    assert bzimage_version(str(tmp_path / "not")) == ""
    assert bzimage_version(str(tmp_path / "missing")) == ""


def test_copies_from_the_first_source_with_the_right_release(tmp_path: Path) -> None:
    target = target_root(tmp_path / "target")
    other = boot_dir(tmp_path / "other", "6.1.0-99-amd64")
    medium = boot_dir(tmp_path / "medium")
    install_boot_files(LocalRunner(), str(target), [str(tmp_path / "absent"), str(other), str(medium)])
    assert bzimage_version(str(target / f"boot/vmlinuz-{RELEASE}")) == RELEASE
    assert (target / f"boot/initrd.img-{RELEASE}").read_bytes() == b"initrd of " + RELEASE.encode()
    assert sorted(os.listdir(target / "boot")) == [f"initrd.img-{RELEASE}", f"vmlinuz-{RELEASE}"]


def test_an_image_that_carries_its_kernel_is_left_alone(tmp_path: Path) -> None:
    target = target_root(tmp_path / "target")
    (target / f"boot/vmlinuz-{RELEASE}").write_bytes(b"own")
    (target / f"boot/initrd.img-{RELEASE}").write_bytes(b"own")
    install_boot_files(LocalRunner(), str(target), [str(boot_dir(tmp_path / "medium"))])
    assert (target / f"boot/vmlinuz-{RELEASE}").read_bytes() == b"own"


def test_no_source_names_what_was_tried(tmp_path: Path) -> None:
    target = target_root(tmp_path / "target")
    other = boot_dir(tmp_path / "other", "6.1.0-99-amd64")
    with pytest.raises(RuntimeError, match=r"6\.1\.0-57-amd64.*vmlinuz is kernel 6\.1\.0-99-amd64"):
        install_boot_files(LocalRunner(), str(target), [str(other)])
    assert os.listdir(target / "boot") == []


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[str]:
    served = boot_dir(tmp_path / "served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_downloads_from_the_fetch_directory(tmp_path: Path, http_dir: str) -> None:
    target = target_root(tmp_path / "target")
    install_boot_files(LocalRunner(), str(target), [str(tmp_path / "absent"), http_dir])
    assert bzimage_version(str(target / f"boot/vmlinuz-{RELEASE}")) == RELEASE
    assert (target / f"boot/initrd.img-{RELEASE}").exists()


def test_copy_payload_takes_them_from_beside_the_squashfs(tmp_path: Path) -> None:
    """The image as the node build ships it (no /boot kernel) written the way the installer and the
    update tool write it: unsquashfs, then kernel + initrd from the image's own directory."""
    from installer.target import copy_payload

    tree = target_root(tmp_path / "tree")
    media = boot_dir(tmp_path / "media")
    runner = LocalRunner()
    runner.run(["mksquashfs", str(tree), str(media / "filesystem.squashfs"), "-quiet", "-no-progress"])
    target = tmp_path / "target"
    target.mkdir()
    copy_payload(runner, {"image": str(media / "filesystem.squashfs"), "target": str(target), "root_name": "/"})
    assert bzimage_version(str(target / f"boot/vmlinuz-{RELEASE}")) == RELEASE
    assert (target / f"boot/initrd.img-{RELEASE}").read_bytes() == b"initrd of " + RELEASE.encode()


def test_an_image_without_kernel_modules_gets_no_kernel(tmp_path: Path) -> None:
    """A payload that is not a bootable system (no usr/lib/modules): nothing is looked for or added."""
    (tmp_path / "etc").mkdir()
    install_boot_files(LocalRunner(), str(tmp_path), [str(tmp_path / "nowhere")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc"]
