"""The metadata file with real O_DIRECT|O_SYNC I/O on XFS (no buffered fallback), written by two
"hosts" (two file objects, as two hosts open it) that never overwrite each other's slots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from hosted_engine import metadata as md

pytestmark = pytest.mark.integration

if os.geteuid() != 0 or not shutil.which("mkfs.xfs"):
    pytest.skip("needs root (loop mount) and xfsprogs", allow_module_level=True)

from tests.integration.xfs_loop import xfs_mount  # noqa: E402

DEPLOYMENT = "0f6e3c2a-1111-4222-8333-444444444444"


@pytest.fixture(scope="module")
def mnt() -> Iterator[str]:
    with xfs_mount() as path:
        yield path


def slot(host_id: int, seq: int) -> md.HostSlot:
    return md.HostSlot(host_id, f"node{host_id}", DEPLOYMENT, 1.0 * seq, seq, 3400, "EngineDown", "down", "unknown",
                       "none")


def test_direct_io_round_trip(mnt: str) -> None:
    path = os.path.join(mnt, "metadata")
    a, b = md.MetadataFile(path), md.MetadataFile(path)  # no allow_buffered: O_DIRECT or fail
    a.create()
    for seq in range(1, 6):
        a.write_host(slot(1, seq))
        b.write_host(slot(2, seq * 10))
    a.write_global(md.GlobalSlot(DEPLOYMENT, True, 1.0, 1, 1))
    reads = b.read_all(DEPLOYMENT)
    assert a.direct and b.direct
    assert reads[1].slot == slot(1, 5) and reads[2].slot == slot(2, 50)
    assert md.global_maintenance(reads) is True
    assert os.path.getsize(path) == md.FILE_SIZE
    # a torn block (as after power loss) is reported, never decoded
    with open(path, "r+b") as f:
        f.seek(2 * md.SLOT_SIZE + 30)
        f.write(b"\xff\xff")
    os.sync()
    assert b.read_all(DEPLOYMENT)[2].status == "corrupt"
