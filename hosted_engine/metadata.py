"""The shared metadata file of a hosted-engine deployment (docs/hosted-engine.md "Metadata").

One 4096-byte block per slot: slot 0 is the global slot (global maintenance), slot N belongs to
the host with sanlock host id N (1..250), at offset N*4096. A block is a fixed header followed by
a JSON payload and zero padding:

    offset size
    0      8    magic b"HCIHEMD\\0"
    8      2    format version (big endian), 1
    10     2    slot number (big endian): a block copied to the wrong offset is refused
    12     4    payload length (big endian)
    16     4    CRC-32 of bytes 0..15 and the payload (zlib.crc32)
    20     ..   payload: UTF-8 JSON object
    ..     4096 zeros

An all-zero block is an empty slot (never written). Anything else that does not decode is
"corrupt" and observers do not act on it (oVirt users hit torn or foreign slots after power loss).

All I/O is O_DIRECT|O_SYNC with page-aligned (mmap) buffers: the file lives on Gluster with
`performance.strict-o-direct on`, so every write reaches the bricks before it returns and every
read sees the bricks, not a page cache. A host writes only its own slot, one 4 KiB block at a time,
so hosts never overwrite each other.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from hosted_engine.layout import MAX_HOST_ID
from hosted_engine.layout import METADATA_SIZE as FILE_SIZE
from hosted_engine.layout import METADATA_SLOT_SIZE as SLOT_SIZE
from hosted_engine.layout import METADATA_SLOTS as SLOTS  # slot 0 (global) + host ids 1..250
from nodecore.errors import HcinodeError

MAGIC = b"HCIHEMD\0"
VERSION = 1
_HEADER = struct.Struct(">8sHHII")
HEADER_SIZE = _HEADER.size  # 20
MAX_PAYLOAD = SLOT_SIZE - HEADER_SIZE

# engine status values as oVirt's `--vm-status` shows them
VM_VALUES = ("up", "down", "unknown")
HEALTH_VALUES = ("good", "bad", "unknown")


class MetadataError(HcinodeError):
    """The metadata file cannot be read or written (the message names the file and the cause)."""


@dataclass(frozen=True)
class HostSlot:
    """What one host publishes about itself every agent tick."""

    host_id: int
    hostname: str
    deployment: str  # the deployment uuid: a slot of another deployment is foreign data
    timestamp: float  # the writer's wall clock (display only: observers never compare clocks)
    sequence: int  # +1 on every write: observers judge liveness by its change in their own history
    score: int
    state: str  # the writer's state machine state (states.State)
    engine_vm: str  # "up" / "down" / "unknown": the engine VM on the writer's host
    engine_health: str  # "good" / "bad" / "unknown": the engine's /health as the writer sees it
    vm_status: str  # the libvirt domain state on the writer's host ("running", "shutoff", "none" ..)
    local_maintenance: bool = False
    stopped: bool = False  # the agent stopped cleanly (state AgentStopped)

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "host", **asdict(self)}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> HostSlot:
        try:
            slot = cls(host_id=int(data["host_id"]), hostname=str(data["hostname"]),
                       deployment=str(data["deployment"]), timestamp=float(data["timestamp"]),
                       sequence=int(data["sequence"]), score=int(data["score"]), state=str(data["state"]),
                       engine_vm=str(data["engine_vm"]), engine_health=str(data["engine_health"]),
                       vm_status=str(data["vm_status"]), local_maintenance=bool(data["local_maintenance"]),
                       stopped=bool(data["stopped"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"host slot field missing or wrong: {exc}") from None
        if slot.engine_vm not in VM_VALUES or slot.engine_health not in HEALTH_VALUES:
            raise ValueError(f"host slot engine status {slot.engine_vm!r}/{slot.engine_health!r} is not known")
        return slot


@dataclass(frozen=True)
class GlobalSlot:
    """Slot 0: what every host obeys. Written by whichever host's CLI sets global maintenance."""

    deployment: str
    global_maintenance: bool
    timestamp: float
    sequence: int
    written_by: int  # host id of the writer

    def to_payload(self) -> dict[str, Any]:
        return {"kind": "global", **asdict(self)}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> GlobalSlot:
        try:
            return cls(deployment=str(data["deployment"]), global_maintenance=bool(data["global_maintenance"]),
                       timestamp=float(data["timestamp"]), sequence=int(data["sequence"]),
                       written_by=int(data["written_by"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"global slot field missing or wrong: {exc}") from None


@dataclass(frozen=True)
class SlotRead:
    """One slot as read: status "ok" (with `slot`), "empty", "corrupt" or "foreign" (with `error`)."""

    number: int
    status: str
    slot: HostSlot | GlobalSlot | None = None
    error: str = ""


def encode_block(number: int, payload: Mapping[str, Any]) -> bytes:
    """The 4096-byte block for slot `number`."""
    body = json.dumps(dict(payload), sort_keys=True, separators=(",", ":")).encode()
    if len(body) > MAX_PAYLOAD:
        raise MetadataError(f"metadata slot {number}: payload of {len(body)} bytes does not fit {MAX_PAYLOAD}")
    head = struct.pack(">8sHHI", MAGIC, VERSION, number, len(body))
    crc = zlib.crc32(head + body)
    return (head + struct.pack(">I", crc) + body).ljust(SLOT_SIZE, b"\0")


def decode_block(number: int, block: bytes, deployment: str | None = None) -> SlotRead:
    """Decode one block; never raises. `deployment`: the uuid every slot must carry."""
    if not any(block):
        return SlotRead(number, "empty")
    if len(block) != SLOT_SIZE:
        return SlotRead(number, "corrupt", error=f"block of {len(block)} bytes, not {SLOT_SIZE}")
    magic, version, slot_no, length, crc = _HEADER.unpack_from(block)
    if magic != MAGIC:
        return SlotRead(number, "foreign", error="no hcinode metadata header (foreign or overwritten data)")
    if version != VERSION:
        return SlotRead(number, "corrupt", error=f"format version {version}; this agent reads {VERSION}")
    if slot_no != number:
        return SlotRead(number, "corrupt", error=f"block says slot {slot_no}")
    if length > MAX_PAYLOAD:
        return SlotRead(number, "corrupt", error=f"payload length {length} is more than a block")
    body = block[HEADER_SIZE:HEADER_SIZE + length]
    if zlib.crc32(block[:16] + body) != crc:
        return SlotRead(number, "corrupt", error="checksum mismatch (torn or damaged write)")
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("payload is not an object")
        slot: HostSlot | GlobalSlot
        if number == 0:
            if data.get("kind") != "global":
                raise ValueError("slot 0 does not hold the global record")
            slot = GlobalSlot.from_payload(data)
        else:
            if data.get("kind") != "host":
                raise ValueError("not a host record")
            slot = HostSlot.from_payload(data)
            if slot.host_id != number:
                raise ValueError(f"record of host {slot.host_id} in slot {number}")
    except ValueError as exc:
        return SlotRead(number, "corrupt", error=str(exc))
    if deployment is not None and slot.deployment != deployment:
        return SlotRead(number, "foreign", error=f"slot of deployment {slot.deployment}, not {deployment}")
    return SlotRead(number, "ok", slot=slot)


def _aligned(size: int) -> mmap.mmap:
    """An anonymous mapping: page-aligned memory, as O_DIRECT needs (bytes objects are not aligned)."""
    return mmap.mmap(-1, size)


class MetadataFile:
    """The metadata file at `path`.

    `allow_buffered`: tests only. tmpfs (the unit tests' file system) refuses O_DIRECT with EINVAL;
    with this flag, and only after that refusal, the file is opened without O_DIRECT (still O_SYNC).
    The product never sets it: on a file system without O_DIRECT the agent must fail, not silently
    read a page cache that hides the other hosts' writes. tests/integration/test_hosted_engine_metadata.py
    runs the real O_DIRECT path on XFS.
    """

    def __init__(self, path: str, *, allow_buffered: bool = False) -> None:
        self.path = path
        self.allow_buffered = allow_buffered
        self.direct = True  # False after a test fallback

    def _open(self, flags: int) -> int:
        try:
            return os.open(self.path, flags | os.O_DIRECT | os.O_SYNC)
        except OSError as exc:
            if exc.errno == errno.EINVAL and self.allow_buffered:
                self.direct = False
                return os.open(self.path, flags | os.O_SYNC)
            raise MetadataError(f"cannot open {self.path}: {exc.strerror}") from None

    def create(self) -> None:
        """Make the file (FILE_SIZE zero bytes: every slot empty). Refuses to replace an existing file."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
        except OSError as exc:
            raise MetadataError(f"cannot create {self.path}: {exc.strerror}") from None
        os.close(fd)
        fd = self._open(os.O_WRONLY)
        buf = _aligned(FILE_SIZE)
        try:
            self._pwrite(fd, buf, 0)
        finally:
            os.close(fd)
            buf.close()

    def _pwrite(self, fd: int, buf: mmap.mmap, offset: int) -> None:
        try:
            written = os.pwritev(fd, [buf], offset)
        except OSError as exc:
            raise MetadataError(f"cannot write {self.path} at {offset}: {exc.strerror}") from None
        if written != len(buf):
            raise MetadataError(f"short write to {self.path} at {offset}: {written} of {len(buf)} bytes")

    def read_blocks(self) -> list[bytes]:
        """Every slot's raw block, from one O_DIRECT read of the whole file."""
        fd = self._open(os.O_RDONLY)
        buf = _aligned(FILE_SIZE)
        try:
            try:
                got = os.preadv(fd, [buf], 0)
            except OSError as exc:
                raise MetadataError(f"cannot read {self.path}: {exc.strerror}") from None
            if got != FILE_SIZE:
                raise MetadataError(f"{self.path} holds {got} bytes, not {FILE_SIZE} ({SLOTS} slots of {SLOT_SIZE})")
            return [bytes(buf[i * SLOT_SIZE:(i + 1) * SLOT_SIZE]) for i in range(SLOTS)]
        finally:
            os.close(fd)
            buf.close()

    def read_all(self, deployment: str | None = None) -> list[SlotRead]:
        """Every slot decoded (index = slot number)."""
        return [decode_block(i, block, deployment) for i, block in enumerate(self.read_blocks())]

    def write_block(self, number: int, payload: Mapping[str, Any]) -> None:
        self._write_slot(number, encode_block(number, payload))

    def _write_slot(self, number: int, block: bytes) -> None:
        """One whole slot, through an aligned buffer (O_DIRECT)."""
        if not 0 <= number <= MAX_HOST_ID:
            raise MetadataError(f"slot {number} is outside 0..{MAX_HOST_ID}")
        buf = _aligned(SLOT_SIZE)
        buf[:] = block
        fd = self._open(os.O_WRONLY)
        try:
            self._pwrite(fd, buf, number * SLOT_SIZE)
        finally:
            os.close(fd)
            buf.close()

    def write_host(self, slot: HostSlot) -> None:
        """This host's own slot (slot number = its sanlock host id)."""
        if not 1 <= slot.host_id <= MAX_HOST_ID:
            raise MetadataError(f"host id {slot.host_id} is outside 1..{MAX_HOST_ID}")
        self.write_block(slot.host_id, slot.to_payload())

    def write_global(self, slot: GlobalSlot) -> None:
        self.write_block(0, slot.to_payload())

    def clear_slot(self, number: int) -> None:
        """Zero one slot (a removed host's; issue 15's remove-host)."""
        self._write_slot(number, bytes(SLOT_SIZE))


def global_maintenance(reads: list[SlotRead]) -> bool | None:
    """Global maintenance from slot 0: False for an empty slot, None when slot 0 is corrupt or foreign
    (the caller must not act: it cannot know whether the admin asked everyone to keep still)."""
    first = reads[0]
    if first.status == "empty":
        return False
    if first.status == "ok" and isinstance(first.slot, GlobalSlot):
        return first.slot.global_maintenance
    return None
