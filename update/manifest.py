"""What an image says about itself: its version and its architecture.

Every node image carries the hcinode package it was built with (image_recipes' stage step installs
it under /usr/local/lib/python3*/dist-packages), so its version is the image's version; the
architecture is the ELF machine of the image's /usr/bin/dash. Images built since issue 16 carry
/usr/share/hcinode/image.json ({"version", "architecture", "build_id", "source_date_epoch"},
written by image_recipes.builder.write_identity; the version may be overridden at build time with
HCINODE_IMAGE_VERSION), and it is read from there first. The same rules read the running system
(root "/") and an image inside a squashfs (those few files unpacked by unsquashfs).
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from nodecore import image_version
from nodecore.report import ValidationReport
from nodecore.runner import Runner

IMAGE_JSON = image_version.IMAGE_JSON.lstrip("/")
DIST_INFO_GLOB = "usr/local/lib/python3*/dist-packages/hcinode-*.dist-info/METADATA"
ELF_PROBE = "usr/bin/dash"
# ELF e_machine -> Debian architecture name
ELF_MACHINES = {0x3E: "amd64", 0xB7: "arm64", 0x03: "i386", 0xF3: "riscv64", 0x15: "ppc64el", 0x16: "s390x"}


class ManifestError(RuntimeError):
    pass


@dataclass(frozen=True)
class ImageManifest:
    version: str
    architecture: str

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "architecture": self.architecture}


def version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Numbers compare as numbers, the rest as text: 0.10.0 > 0.9.1, 1.0.0 > 1.0.0rc1 is not
    claimed (a pre-release sorts after its release here: name releases with numbers only)."""
    parts = re.findall(r"\d+|[A-Za-z]+", version)
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in parts)


def compare_versions(a: str, b: str) -> int:
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


def elf_architecture(head: bytes) -> str:
    if len(head) < 20 or head[:4] != b"\x7fELF":
        raise ManifestError(f"{ELF_PROBE} is not an ELF file: cannot tell the image's architecture")
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return ELF_MACHINES.get(machine, f"elf-machine-{machine:#x}")


def metadata_version(text: str) -> str:
    m = re.search(r"^Version:\s*(\S+)\s*$", text, re.M)
    if not m:
        raise ManifestError("the hcinode package metadata in the image has no Version line")
    return m.group(1)


def manifest_from(read: Callable[[str], bytes | None], find_metadata: Callable[[], str]) -> ImageManifest:
    """The one rule, over two ways to read files (a directory tree, a squashfs)."""
    raw = read(IMAGE_JSON)
    if raw:
        try:
            data = json.loads(raw)
            return ImageManifest(str(data["version"]), str(data["architecture"]))
        except (ValueError, KeyError, TypeError):
            raise ManifestError(f"/{IMAGE_JSON} in the image is not valid JSON with version and architecture") \
                from None
    meta_path = find_metadata()
    if not meta_path:
        raise ManifestError("this is not an hcinode node image (no hcinode package in "
                            f"/{os.path.dirname(os.path.dirname(DIST_INFO_GLOB))})")
    meta = read(meta_path)
    if meta is None:
        raise ManifestError(f"cannot read /{meta_path} in the image")
    head = read(ELF_PROBE)
    if head is None:
        raise ManifestError(f"the image has no /{ELF_PROBE}: cannot tell its architecture")
    return ImageManifest(metadata_version(meta.decode("utf-8", "replace")), elf_architecture(head[:64]))


def tree_manifest(root: str) -> ImageManifest:
    """The manifest of an unpacked tree (the running system: root "/")."""
    def read(rel: str) -> bytes | None:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                return f.read(1024 * 1024)
        except OSError:
            return None

    def find() -> str:
        found = sorted(glob.glob(os.path.join(root, DIST_INFO_GLOB)))
        return os.path.relpath(found[-1], root) if found else ""

    return manifest_from(read, find)


def squashfs_manifest(runner: Runner, image: str, work: str) -> ImageManifest:
    """The manifest inside a squashfs: only the few files the rule reads are unpacked (into `work`,
    emptied first), then read as a tree."""
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.dirname(work) or ".", exist_ok=True)
    result = runner.run(["unsquashfs", "-f", "-no-progress", "-d", work, image, IMAGE_JSON, DIST_INFO_GLOB,
                         ELF_PROBE], check=False, timeout=300)
    if not os.path.isdir(work):
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ManifestError(f"unsquashfs cannot read the image: {tail[0]}")
    return tree_manifest(work)


def check_compatible(report: ValidationReport, new: ImageManifest, running: ImageManifest, *,
                     allow_downgrade: bool, field: str = "SOURCE") -> None:
    """Another architecture never; an older version only with --allow-downgrade; the same version
    is refused too (nothing to do: `update rollback` returns to an image that is still there)."""
    if new.architecture != running.architecture:
        report.error(field, f"the image is for {new.architecture}, this node is {running.architecture}",
                     f"use the {running.architecture} build of the image")
    order = compare_versions(new.version, running.version)
    if order < 0 and not allow_downgrade:
        report.error(field, f"the image is version {new.version}, older than the running {running.version}",
                     "add --allow-downgrade to install an older image on purpose, or `hcinode update rollback` "
                     "to return to the previous image")
    elif order == 0:
        report.error(field, f"the image is version {new.version}, the version this node runs",
                     "nothing to update; build an image with a new version")
