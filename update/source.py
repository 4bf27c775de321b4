"""SOURCE of `update apply`: an ISO, a squashfs (the PXE directory's filesystem.squashfs) or a URL
to either, with its sha256 from `--checksum` (the digest, a file or URL holding it) or found beside
it: SOURCE.sha256, SHA256SUMS, or the build's manifest.json (build/manifest.json names every
artifact's sha256, the PXE squashfs as "pxe/filesystem.squashfs").

Everything here runs before the plan: a bad source is refused with exit 2 and nothing changed.
Downloads land in the update work dir (never beside the running root) and are reused by a re-run.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass

from installer.sources import SourceError, download, fetch_http
from installer.target import payload_kind, sha256_file
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import mask_url, register_url

ISO_SQUASHFS = "/live/filesystem.squashfs"  # where image_recipes.isoboot puts it
CHECKSUM_MAX_BYTES = 4 * 1024 * 1024
SQUASHFS_SUPERBLOCK = 96


@dataclass(frozen=True)
class Source:
    given: str  # as typed (a URL's credentials masked)
    kind: str  # iso | squashfs
    path: str  # the local file (downloaded if SOURCE is a URL)
    checksum: str  # the expected sha256
    checksum_from: str  # where it came from, for the plan


def is_url(value: str) -> bool:
    return bool(re.match(r"^https?://", value))


def parse_checksum_text(text: str, name: str) -> str:
    """The sha256 for `name` in a checksum file: a bare digest, or `digest  name` lines
    (sha256sum's format, also SHA256SUMS with many files), or a build manifest.json."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return ""
        for key, art in (data.get("artifacts") or {}).items():
            if isinstance(art, dict) and os.path.basename(str(key)) == name and art.get("sha256"):
                return str(art["sha256"]).lower()
        return ""
    lines = [line.split() for line in stripped.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) == 1 and len(lines[0]) == 1 and re.fullmatch(r"[0-9a-fA-F]{64}", lines[0][0]):
        return lines[0][0].lower()
    for fields in lines:
        if len(fields) >= 2 and re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]) and \
                os.path.basename(fields[-1].lstrip("*")) == name:
            return fields[0].lower()
    return ""


def candidates(source: str) -> list[str]:
    """Where a checksum is looked for when --checksum is not given, in this order."""
    base = source.rsplit("/", 1)[0] if "/" in source else "."
    parent = base.rsplit("/", 1)[0] if "/" in base else ".."
    return [source + ".sha256", f"{base}/SHA256SUMS", f"{base}/manifest.json", f"{parent}/manifest.json"]


def _read_small(location: str) -> str | None:
    if is_url(location):
        try:
            return fetch_http(location, attempts=2, limit=CHECKSUM_MAX_BYTES, deadline=30).decode("utf-8", "replace")
        except SourceError:
            return None
    try:
        with open(location, encoding="utf-8", errors="replace") as f:
            return f.read(CHECKSUM_MAX_BYTES)
    except OSError:
        return None


def find_checksum(source: str, given: str) -> tuple[str, str]:
    """(sha256, where from) or ("", "") when none is found."""
    name = os.path.basename(source.split("?", 1)[0])
    if given:
        if re.fullmatch(r"[0-9a-fA-F]{64}", given):
            return given.lower(), "--checksum"
        text = _read_small(given)
        digest = parse_checksum_text(text, name) if text is not None else ""
        return (digest, mask_url(given)) if digest else ("", "")
    for location in candidates(source):
        text = _read_small(location)
        digest = parse_checksum_text(text, name) if text else ""
        if digest:
            return digest, mask_url(location)
    return "", ""


def squashfs_truncated(path: str) -> str:
    """'' or why the squashfs is cut short: its superblock says how many bytes it uses."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(SQUASHFS_SUPERBLOCK)
    if len(head) < SQUASHFS_SUPERBLOCK or head[:4] != b"hsqs":
        return "it has no squashfs superblock"
    (bytes_used,) = struct.unpack_from("<Q", head, 40)
    if bytes_used > size:
        return f"it is truncated: {size} bytes of the {bytes_used} its superblock names"
    return ""


def kind_of(path: str) -> str:
    with open(path, "rb") as f:
        f.seek(0x8001)
        if f.read(5) == b"CD001":
            return "iso"
    try:
        kind = payload_kind(path)
    except RuntimeError:
        return ""
    return kind if kind == "squashfs" else ""


def resolve(value: str, checksum: str, work: str, report: ValidationReport) -> Source | None:
    """Fetch (a URL), find the checksum, verify it and the file's kind. Errors go into report."""
    given = mask_url(value) if is_url(value) else value
    if is_url(value):
        register_url(value)
    if not is_url(value) and not os.path.isfile(value):
        report.error("SOURCE", f"{value}: no such file", "give an ISO, a squashfs or an http(s) URL")
        return None
    digest, where = find_checksum(value, checksum)
    if not digest:
        hint = ("give --checksum SHA256 (or a file or URL holding it), or put "
                f"{os.path.basename(value.split('?', 1)[0])}.sha256 or SHA256SUMS beside the image")
        report.error("--checksum" if checksum else "SOURCE",
                     f"no sha256 for {given}" + (f" in {mask_url(checksum)}" if checksum else
                                                 " (none beside it, no manifest.json)"), hint)
        return None
    if is_url(value):
        os.makedirs(work, exist_ok=True)
        path = os.path.join(work, "download-" + digest[:16])
        if not os.path.exists(path):
            try:
                download(value, path)
            except SourceError as exc:
                report.error("SOURCE", str(exc), "check the URL and that the server is reachable from this node")
                return None
    else:
        path = os.path.abspath(value)
    kind = kind_of(path)
    if not kind:
        report.error("SOURCE", f"{given} is neither a node ISO nor a squashfs", "give build/node.iso or "
                     "build/pxe/filesystem.squashfs")
        return None
    actual = sha256_file(path)
    if actual != digest:
        report.error("SOURCE", f"the sha256 of {given} is {actual}, {where} says {digest}: the image is "
                     "corrupt, truncated or not the one the checksum is for", "fetch the image again")
        if is_url(value):
            os.remove(path)  # a bad download is not kept for the re-run
        return None
    if kind == "squashfs":
        short = squashfs_truncated(path)
        if short:
            report.error("SOURCE", f"{given}: {short}", "fetch the image again")
            return None
    return Source(given, kind, path, digest, where)


def squashfs_of(source: Source, runner: Runner, work: str, report: ValidationReport) -> str:
    """The squashfs to write: the file itself, or the one inside the ISO (extracted once)."""
    if source.kind == "squashfs":
        return source.path
    out = os.path.join(work, f"iso-{source.checksum[:16]}.squashfs")
    if not os.path.exists(out):
        os.makedirs(work, exist_ok=True)
        result = runner.run(["xorriso", "-osirrox", "on", "-indev", source.path, "-extract", ISO_SQUASHFS,
                             out + ".part"], check=False, timeout=1800)
        if not result.ok or not os.path.exists(out + ".part"):
            report.error("SOURCE", f"{source.given} has no {ISO_SQUASHFS}: not a node ISO",
                         "give build/node.iso or the PXE directory's filesystem.squashfs")
            return ""
        os.replace(out + ".part", out)
    short = squashfs_truncated(out)
    if short:
        report.error("SOURCE", f"the squashfs in {source.given}: {short}", "build the ISO again")
        return ""
    return out
