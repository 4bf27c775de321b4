"""SOURCE of `update apply`: an ISO, a squashfs (the PXE directory's filesystem.squashfs) or a URL
to either, with its sha256 from `--checksum` (the digest, a file or URL holding it) or found beside
it: SOURCE.sha256, SHA256SUMS, or the build's manifest.json (build/manifest.json names every
artifact's sha256, the PXE squashfs as "pxe/filesystem.squashfs").

Everything here runs before the plan: a bad source is refused with exit 2 and nothing changed.
Downloads land in the update work dir (never beside the running root) and are reused by a re-run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import time
from dataclasses import dataclass

from installer.sources import SourceError, download, fetch_http
from installer.target import payload_kind, sha256_file
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import mask_url, register_url

ISO_LIVE = "/live"  # where image_recipes.isoboot puts the squashfs, the kernel and the initrd
SQUASHFS_NAME = "filesystem.squashfs"
# The squashfs leaves out the kernel and initrd (the boot media carry them beside it): an update needs
# both beside the image it writes, from the same build (installer.target.install_boot_files checks the
# kernel release against the image's modules)
BOOT_FILES = ("vmlinuz", "initrd.img")
CHECKSUM_MAX_BYTES = 4 * 1024 * 1024
SQUASHFS_SUPERBLOCK = 96
log = logging.getLogger("hcinode.update")


@dataclass(frozen=True)
class Source:
    given: str  # as typed (a URL's credentials masked)
    kind: str  # iso | squashfs
    path: str  # the local file (downloaded if SOURCE is a URL; vmlinuz + initrd.img beside a squashfs)
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
    downloaded = ""  # the sha256 of a download made now
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
        # its own directory: the kernel and initrd are fetched beside the image, as the build serves them
        directory = os.path.join(work, "download-" + digest[:16])
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, os.path.basename(value.split("?", 1)[0]) or SQUASHFS_NAME)
        if not os.path.exists(path):
            started = time.monotonic()
            try:
                downloaded = download(value, path)
            except SourceError as exc:
                report.error("SOURCE", str(exc), "check the URL and that the server is reachable from this node")
                return None
            log.info("downloaded %s (%d bytes) in %.1fs", given, os.path.getsize(path), time.monotonic() - started)
    else:
        path = os.path.abspath(value)
    kind = kind_of(path)
    if not kind:
        report.error("SOURCE", f"{given} is neither a node ISO nor a squashfs", "give build/node.iso or "
                     "build/pxe/filesystem.squashfs")
        return None
    actual = downloaded
    if not actual:  # a local file, or a download a re-run reuses
        started = time.monotonic()
        actual = sha256_file(path)
        log.info("sha256 of %s in %.1fs", path, time.monotonic() - started)
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
        if not boot_files_beside(value, path, checksum, report):
            return None
    return Source(given, kind, path, digest, where)


def boot_files_beside(value: str, path: str, checksum: str, report: ValidationReport) -> bool:
    """vmlinuz and initrd.img beside the squashfs (a URL's are fetched beside the download), each
    checked against the checksum source when it names them (a build's manifest.json or SHA256SUMS
    does). False with an error per missing or bad file: found before anything on the node changes."""
    base = value.split("?", 1)[0].rsplit("/", 1)[0] if "/" in value else "."
    directory = os.path.dirname(path)
    ok = True
    for name in BOOT_FILES:
        local = os.path.join(directory, name)
        where = f"{mask_url(base) if is_url(value) else base}/{name}"
        fetched = ""  # the sha256 of a download made now (hashed as it arrived)
        if is_url(value) and not os.path.exists(local):
            try:
                fetched = download(f"{base}/{name}", local, attempts=3, deadline=900.0)
            except SourceError as exc:
                report.error("SOURCE", f"no {name} beside {mask_url(value)}: {exc}",
                             f"serve the build's pxe/{name} in the same directory as the squashfs")
                ok = False
                continue
        if not os.path.isfile(local):
            report.error("SOURCE", f"no {name} beside {value} (the squashfs carries no kernel of its own)",
                         f"put the build's pxe/{name} beside it, or give the node ISO")
            ok = False
            continue
        digest, _from = find_checksum(f"{base}/{name}", checksum if checksum and not
                                      re.fullmatch(r"[0-9a-fA-F]{64}", checksum) else "")
        if digest and (fetched or sha256_file(local)) != digest:
            report.error("SOURCE", f"the sha256 of {where} is not the one its checksum file names",
                         "fetch the image again: the kernel and initrd must be from the same build")
            if is_url(value):
                os.remove(local)
            ok = False
    return ok


def squashfs_of(source: Source, runner: Runner, work: str, report: ValidationReport) -> str:
    """The squashfs to write: the file itself, or the one inside the ISO, extracted once together with
    the ISO's kernel and initrd into one directory (copy_payload takes them from beside the image)."""
    if source.kind == "squashfs":
        return source.path
    directory = os.path.join(work, f"iso-{source.checksum[:16]}")
    out = os.path.join(directory, SQUASHFS_NAME)
    if not os.path.exists(out):
        part = directory + ".part"
        runner.run(["rm", "-rf", part], check=False)
        os.makedirs(part)
        argv = ["xorriso", "-osirrox", "on", "-indev", source.path]
        for name in (SQUASHFS_NAME, *BOOT_FILES):
            argv += ["-extract", f"{ISO_LIVE}/{name}", os.path.join(part, name)]
        result = runner.run(argv, check=False, timeout=1800)
        missing = [f"{ISO_LIVE}/{n}" for n in (SQUASHFS_NAME, *BOOT_FILES) if not os.path.exists(os.path.join(part, n))]
        if not result.ok or missing:
            report.error("SOURCE", f"{source.given} has no {', '.join(missing) or ISO_LIVE}: not a node ISO",
                         "give build/node.iso or the PXE directory's filesystem.squashfs with its kernel")
            return ""
        runner.run(["rm", "-rf", directory], check=False)
        os.replace(part, directory)
    short = squashfs_truncated(out)
    if short:
        report.error("SOURCE", f"the squashfs in {source.given}: {short}", "build the ISO again")
        return ""
    return out
