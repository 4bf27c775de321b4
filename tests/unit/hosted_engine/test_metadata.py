"""The metadata file's blocks: round trip, every way a slot can be bad, and the file I/O (buffered
fallback only because tmpfs refuses O_DIRECT; test_hosted_engine_metadata.py does O_DIRECT on XFS)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosted_engine import metadata as md

DEPLOYMENT = "7d3c5a1e-0000-4000-8000-000000000001"


def host(host_id: int = 3, sequence: int = 1, **kw: object) -> md.HostSlot:
    fields: dict[str, object] = dict(host_id=host_id, hostname=f"node{host_id}", deployment=DEPLOYMENT,
                                     timestamp=1700000000.5, sequence=sequence, score=3400, state="EngineUp",
                                     engine_vm="up", engine_health="good", vm_status="running")
    fields.update(kw)
    return md.HostSlot(**fields)  # type: ignore[arg-type]


def test_block_round_trip() -> None:
    block = md.encode_block(3, host().to_payload())
    assert len(block) == md.SLOT_SIZE
    read = md.decode_block(3, block, DEPLOYMENT)
    assert read.status == "ok" and read.slot == host()


def test_global_round_trip() -> None:
    g = md.GlobalSlot(DEPLOYMENT, True, 1.0, 4, written_by=2)
    read = md.decode_block(0, md.encode_block(0, g.to_payload()))
    assert read.slot == g
    assert md.global_maintenance([read]) is True


def test_empty_slot() -> None:
    assert md.decode_block(5, bytes(md.SLOT_SIZE)).status == "empty"
    assert md.global_maintenance([md.decode_block(0, bytes(md.SLOT_SIZE))]) is False


@pytest.mark.parametrize("damage, status, words", [
    (lambda b: b"garbage!" + b[8:], "foreign", "header"),
    (lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:], "corrupt", "checksum"),
    (lambda b: b[:8] + b"\x00\x09" + b[10:], "corrupt", "version 9"),
    (lambda b: b[:10] + b"\x00\x04" + b[12:], "corrupt", "slot 4"),
    (lambda b: b[:12] + b"\x00\x00\x20\x00" + b[16:], "corrupt", "more than a block"),
    (lambda b: b[:4000], "corrupt", "4000 bytes"),
])
def test_bad_blocks_are_named(damage: object, status: str, words: str) -> None:
    block = md.encode_block(3, host().to_payload())
    read = md.decode_block(3, damage(block))  # type: ignore[operator]
    assert read.status == status and words in read.error and read.slot is None


def test_record_of_another_host_or_deployment() -> None:
    assert "host 4 in slot 3" in md.decode_block(3, md.encode_block(3, host(4).to_payload())).error
    other = md.decode_block(3, md.encode_block(3, host(deployment="other").to_payload()), DEPLOYMENT)
    assert other.status == "foreign" and "other" in other.error


def test_payload_with_bad_fields() -> None:
    payload = host().to_payload()
    payload["engine_vm"] = "sideways"
    assert "not known" in md.decode_block(3, md.encode_block(3, payload)).error
    del payload["score"]
    assert md.decode_block(3, md.encode_block(3, payload)).status == "corrupt"
    assert "global record" in md.decode_block(0, md.encode_block(0, host().to_payload())).error
    assert md.global_maintenance([md.decode_block(0, md.encode_block(0, host().to_payload()))]) is None


def test_payload_too_big() -> None:
    with pytest.raises(md.MetadataError, match="does not fit"):
        md.encode_block(3, host(hostname="x" * 5000).to_payload())


def test_file_create_write_read(tmp_path: Path) -> None:
    f = md.MetadataFile(str(tmp_path / "metadata"), allow_buffered=True)
    f.create()
    assert os.path.getsize(f.path) == md.FILE_SIZE
    assert all(r.status == "empty" for r in f.read_all())
    f.write_host(host(3))
    f.write_host(host(250, sequence=9))
    f.write_global(md.GlobalSlot(DEPLOYMENT, False, 2.0, 1, 3))
    reads = f.read_all(DEPLOYMENT)
    assert [r.number for r in reads if r.status == "ok"] == [0, 3, 250]
    assert reads[250].slot == host(250, sequence=9)
    f.clear_slot(250)
    assert f.read_all()[250].status == "empty"
    with pytest.raises(md.MetadataError, match="exists|File exists"):
        f.create()


def test_no_silent_fallback_without_the_flag(tmp_path: Path) -> None:
    """Without allow_buffered a file system that refuses O_DIRECT is an error, never a page cache."""
    path = tmp_path / "metadata"
    path.write_bytes(bytes(md.FILE_SIZE))
    f = md.MetadataFile(str(path))
    try:
        f.read_all()
    except md.MetadataError as exc:
        assert "Invalid argument" in str(exc)
    else:  # tmp_path on a file system that does O_DIRECT: then it really was direct
        assert f.direct


def test_host_id_range(tmp_path: Path) -> None:
    f = md.MetadataFile(str(tmp_path / "m"), allow_buffered=True)
    with pytest.raises(md.MetadataError, match="outside"):
        f.write_host(host(0))
    with pytest.raises(md.MetadataError, match="outside"):
        f.write_block(251, {})


def test_short_file(tmp_path: Path) -> None:
    path = tmp_path / "m"
    path.write_bytes(bytes(4096))
    with pytest.raises(md.MetadataError, match="not 1028096"):
        md.MetadataFile(str(path), allow_buffered=True).read_all()
