"""The shared path rule and bounded reads of input files."""

from __future__ import annotations

import os

import pytest

from nodecore.config import load_yaml_file
from nodecore.errors import InvalidInput
from nodecore.inputs import InputError, device_problem, path_problem, read_input


@pytest.mark.parametrize("value", ["/gluster_bricks", "/mnt/glusterSD/", "/etc/fstab", "/a/b.c-d_e"])
def test_plain_absolute_paths_pass(value: str) -> None:
    assert path_problem(value) is None


@pytest.mark.parametrize("value, words", [
    ("", "absolute"),
    ("relative/dir", "absolute"),
    ("/", "not / itself"),
    ("/mnt/../etc", "'..'"),
    ("/mnt/./x", "normalised"),
    ("/mnt//x", "normalised"),
    ("//mnt", "normalised"),
    ("/mnt/x'; touch /tmp/pwned; '", "blanks"),
    ("/gluster_bricks\nUUID=1 / xfs defaults 0 0", "control"),
    ("/mnt/x\x7f", "control"),
    ("/mnt/a b", "blanks"),
])
def test_bad_paths_are_named(value: str, words: str) -> None:
    problem = path_problem(value)
    assert problem is not None and words in problem


def test_disks_only_under_dev() -> None:
    assert device_problem("/dev/sdb") is None
    assert device_problem("/dev/disk/by-id/wwn-0x5000c500a1b2c3d4") is None
    for bad in ("/dev", "/dev/", "/etc/passwd", "sdb", "/dev/../etc/shadow", "/devices/sdb"):
        assert device_problem(bad), bad


def test_read_input_refuses_devices_fifos_and_huge_files(tmp_path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        read_input("/dev/zero")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):  # and does not wait for a writer
        read_input(str(fifo))
    big = tmp_path / "big"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(InputError, match="larger than 1 KiB"):
        read_input(str(big), limit=1024)
    with pytest.raises(InputError, match="No such file"):
        read_input(str(tmp_path / "missing"))
    assert read_input(str(big)) == b"x" * 2048


def test_yaml_file_from_a_device_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        load_yaml_file("/dev/zero")
    assert "not a regular file" in info.value.report.render_text()
