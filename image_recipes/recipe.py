"""Recipe schema: a recipe directory holds `recipe.yaml` plus overlay trees.

The dataclasses below are the schema; `load_recipe` reports every problem at once (unknown keys
such as a misspelt package set, missing overlay paths, bad sizes) before anything runs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Literal

from nodecore.config import Size, load_config, load_yaml_file
from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport

RECIPES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recipes")
_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_MODULE_DIR_RE = re.compile(r"[A-Za-z0-9_./-]+")


def _check_packages(names: tuple[str, ...]) -> str | None:
    bad = [n for n in names if not _PACKAGE_RE.fullmatch(n)]
    return f"not a Debian package name: {', '.join(bad)}" if bad else None


def _check_url(url: str) -> str | None:
    return None if url.startswith(("http://", "https://", "file:/")) else f"not a mirror URL: {url!r}"


def _check_module_dirs(dirs: tuple[str, ...]) -> str | None:
    ok = all(_MODULE_DIR_RE.fullmatch(d) and ".." not in d for d in dirs)
    return None if ok else "module dirs are relative paths like drivers/gpu"


# the project's top-level packages (the wheel's contents); image_recipes.builder ships them
PROJECT_PACKAGES = ("nodecore", "image_recipes", "installer", "node_setup", "tui", "gluster_setup",
                    "hosted_engine", "agent", "engine", "update")


def _check_project_packages(names: tuple[str, ...]) -> str | None:
    unknown = [n for n in names if n not in PROJECT_PACKAGES]
    if unknown:
        return f"not a package of this project: {', '.join(unknown)} (known: {', '.join(PROJECT_PACKAGES)})"
    return None if not names or "nodecore" in names else "the project's packages need nodecore (the hcinode command)"


# trees a prune must never reach: the image's configuration and its package database
_PROTECTED = ("etc", "var/lib/dpkg")


def _check_prune_paths(paths: tuple[str, ...]) -> str | None:
    """Relative globs, no '..', and none that can match /etc (a "*" or "e*/..." would delete it)."""
    for glob in paths:
        parts = glob.split("/")
        if glob.startswith("/") or ".." in parts or "" in parts or "." in parts:
            return f"prune path {glob!r} must be relative to the root and normalised (no '/', '..', '//' at its start)"
        for protected in _PROTECTED:
            top = protected.split("/")
            if all(fnmatch.fnmatchcase(t, p) for t, p in zip(top, parts, strict=False)):
                return f"prune path {glob!r} reaches /{protected}, which the node needs"
    return None


@dataclass(frozen=True)
class Mirror:
    uri: str = field(metadata={"check": _check_url})
    suites: tuple[str, ...]
    components: tuple[str, ...] = ("main",)

    def source_lines(self) -> list[str]:
        return [f"deb {self.uri} {suite} {' '.join(self.components)}" for suite in self.suites]


@dataclass(frozen=True)
class Distribution:
    suite: str
    # Exactly the URLs of this machine's apt sources: the Debian security host that tools pick by
    # default is not reachable from the build machines.
    mirrors: tuple[Mirror, ...]
    # SOURCE_DATE_EPOCH for the whole build: the same inputs give the same squashfs
    source_date_epoch: int = 1747699200


@dataclass(frozen=True)
class PackageSets:
    """Named groups so a reader sees why each package is there. Unknown group names are errors."""

    base: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    kernel: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    boot: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    network: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    virtualization: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    storage: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    python: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    bootloader: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    tools: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    cloud: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})
    database: tuple[str, ...] = field(default=(), metadata={"check": _check_packages})

    def all(self) -> tuple[str, ...]:
        names: list[str] = []
        for group in (self.base, self.kernel, self.boot, self.network, self.virtualization,
                      self.storage, self.python, self.bootloader, self.tools, self.cloud, self.database):
            names.extend(n for n in group if n not in names)
        return tuple(sorted(names))


@dataclass(frozen=True)
class Services:
    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    mask: tuple[str, ...] = ()


@dataclass(frozen=True)
class PruneCut:
    """Paths the image does without, with what they are and the proof the node works without them."""

    paths: tuple[str, ...] = field(metadata={"check": _check_prune_paths})
    removes: str
    proven_by: str


@dataclass(frozen=True)
class Prune:
    # directories under /usr/lib/modules/<version>/kernel/ that a server node never needs
    kernel_module_dirs: tuple[str, ...] = field(default=(), metadata={"check": _check_module_dirs})
    # globs relative to the root (caches, docs that slipped through dpkg's path-exclude)
    paths: tuple[str, ...] = field(default=(), metadata={"check": _check_prune_paths})
    # replace libicudata's 30 MiB of ICU data by ICU's own "stubdata" (a header with no entries,
    # image_recipes.builder.ICU_STUB_C): see the node recipe for who uses ICU and why that is safe
    icu_data_stub: bool = False
    # directories whose modules ship as bytecode only: X.py goes where __pycache__/X.<tag>.pyc
    # exists, the .pyc moves to X.pyc (Python imports a sourceless X.pyc from there); tracebacks
    # keep file and line, not the source line
    python_bytecode_only: tuple[str, ...] = field(default=(), metadata={"check": _check_prune_paths})
    # glibc's extra iconv converters (CJK, IBM/EBCDIC, ...: the modules only gconv-modules.d/
    # gconv-modules-extra.conf names) go and gconv-modules.cache is rebuilt; UTF-*, UCS-*, ISO-8859-1/15,
    # CP1252 stay (image_recipes.builder.gconv_extra)
    glibc_gconv_extra: bool = False
    # path globs removed with what they remove and why that is safe (the manifest's `pruned` entries
    # carry both); kernel modules as usr/lib/modules/*/kernel/... (depmod runs afterwards)
    cuts: tuple[PruneCut, ...] = ()


def _check_exclude_glob(path: str) -> str | None:
    parts = path.split("/")
    if path.startswith("/") or ".." in parts or "" in parts:
        return f"squashfs exclude {path!r} must be a relative, normalised path glob (boot/vmlinuz-*)"
    return None


@dataclass(frozen=True)
class SquashfsExclude:
    """A file kept in the staged root (the ISO and PXE steps read it there) but left out of the
    squashfs, with why that is safe: the manifest lists it among the pruned items."""

    path: str = field(metadata={"check": _check_exclude_glob})
    removes: str
    proven_by: str


_MODULE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\.\*)?")


def _check_module_names(names: tuple[str, ...]) -> str | None:
    bad = [n for n in names if not _MODULE_NAME_RE.fullmatch(n)]
    return f"not a Python module name: {', '.join(bad)} (tui.app, or tui.pages.* for a package and its modules)" \
        if bad else None


@dataclass(frozen=True)
class Squashfs:
    exclude: tuple[SquashfsExclude, ...] = ()
    # Python modules imported, in this order, in a chroot of the staged root; the files they load go
    # first in the squashfs in that order (mksquashfs -sort): image_recipes.builder.first_files
    first_imports: tuple[str, ...] = field(default=(), metadata={"check": _check_module_names})


@dataclass(frozen=True)
class Initramfs:
    # "list": only the modules below plus their dependencies (smallest initrd that boots servers)
    modules: Literal["list", "most", "dep"] = "list"
    compress: Literal["zstd", "xz", "gzip"] = "zstd"
    # mkinitramfs COMPRESSLEVEL (0: its default, 9 for zstd); the kernel decompresses zstd at the
    # same speed whatever the level, so a high level only costs build time
    compress_level: int = field(default=0, metadata={"check": lambda v: None if 0 <= v <= 19 else
                                                     "compress_level is 0 (default) or 1-19"})
    include_modules: tuple[str, ...] = ()
    # directories under kernel/ dropped from the initramfs after all hooks ran (live-boot's hook
    # adds every network driver for netboot; servers need the common server NICs only)
    exclude_module_dirs: tuple[str, ...] = field(default=(), metadata={"check": _check_module_dirs})
    # when set, a second initrd for the boot medium (the ISO) leaves these out as well: the ISO
    # boots from the medium, only a network boot (PXE, fetch=) needs the NIC drivers in the initrd
    medium_exclude_module_dirs: tuple[str, ...] = field(default=(), metadata={"check": _check_module_dirs})


@dataclass(frozen=True)
class Python:
    # install this project plus its pinned dependencies from a wheelhouse built on the host
    install_project: bool = True
    # the project's top-level packages in the image (default: all); the engine appliance ships
    # nodecore + engine, so the node's installer/console code and its dependencies stay out
    packages: tuple[str, ...] = field(default=(), metadata={"check": _check_project_packages})
    # roots of the pinned dependency closure, by name from pyproject's `dependencies` (default: all)
    dependencies: tuple[str, ...] = ()
    # the third-party wheels as bytecode only, their extension modules stripped (the project keeps
    # its sources): image_recipes.builder.slim_dependencies
    slim_dependencies: bool = False


@dataclass(frozen=True)
class Outputs:
    iso: str = ""
    pxe: str = ""
    qcow2: str = ""
    volume_id: str = "HCINODE"
    # size target for the ISO / disk image (a benchmark: the build warns and the manifest records it)
    max_size: Size = Size(0)
    disk_size: Size = Size(0)


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: Literal["live-iso", "disk-image"]
    distribution: Distribution
    packages: PackageSets
    description: str = ""
    hostname: str = ""
    overlays: tuple[str, ...] = ()
    services: Services = Services()
    kernel_cmdline: str = ""
    prune: Prune = Prune()
    initramfs: Initramfs = Initramfs()
    squashfs: Squashfs = Squashfs()
    python: Python = Python()
    outputs: Outputs = Outputs()
    # set by load_recipe: the directory the recipe was read from (overlay paths are relative to it)
    directory: str = ""

    def overlay_dirs(self) -> list[str]:
        return [os.path.join(self.directory, o) for o in self.overlays]

    def mirror_lines(self) -> list[str]:
        return [line for m in self.distribution.mirrors for line in m.source_lines()]


def recipe_path(name_or_path: str) -> str:
    """A recipe is named (node, engine-appliance) or given as a directory / recipe.yaml path."""
    if os.path.isdir(name_or_path):
        return os.path.join(name_or_path, "recipe.yaml")
    if name_or_path.endswith((".yaml", ".yml")):
        return name_or_path
    return os.path.join(RECIPES_DIR, name_or_path, "recipe.yaml")


def load_recipe(name_or_path: str) -> Recipe:
    """Load and validate; raises InvalidInput listing every problem."""
    path = recipe_path(name_or_path)
    report = ValidationReport(path)
    if not os.path.exists(path):
        known = sorted(d for d in os.listdir(RECIPES_DIR) if os.path.isdir(os.path.join(RECIPES_DIR, d)))
        report.error("recipe", f"no recipe at {path}", "known recipes: " + ", ".join(known))
        raise InvalidInput(report)
    data = load_yaml_file(path)
    if isinstance(data, dict):
        data.pop("directory", None)
    recipe = load_config(Recipe, data, report)
    directory = os.path.dirname(os.path.abspath(path))
    # checked on the raw data, so a missing overlay is reported even when other fields are bad
    overlays = data.get("overlays") if isinstance(data, dict) else None
    for i, overlay in enumerate(overlays if isinstance(overlays, list) else []):
        full = os.path.join(directory, str(overlay))
        if not os.path.isdir(full):
            report.error(f"overlays[{i}]", f"overlay directory does not exist: {full}",
                         "create it or remove the entry")
    if recipe is not None:
        recipe = _with_directory(recipe, directory)
        validate(recipe, report)
    report.raise_if_errors()
    assert recipe is not None
    return recipe


def _with_directory(recipe: Recipe, directory: str) -> Recipe:
    from dataclasses import replace

    return replace(recipe, directory=directory)


def validate(recipe: Recipe, report: ValidationReport) -> None:
    """Checks across fields (the per-field ones run while loading)."""
    if not recipe.packages.all():
        report.error("packages", "no packages listed")
    if recipe.kind == "live-iso":
        if not recipe.outputs.iso:
            report.error("outputs.iso", "a live-iso recipe needs an ISO output path")
        if "linux-image-amd64" not in recipe.packages.all():
            report.error("packages.kernel", "a bootable image needs linux-image-amd64")
        if "live-boot" not in recipe.packages.all():
            report.error("packages.boot", "a live ISO needs live-boot")
        if not re.fullmatch(r"[A-Z0-9_]{1,32}", recipe.outputs.volume_id):
            report.error("outputs.volume_id", "ISO volume ids are 1-32 of A-Z, 0-9, _")
    if recipe.kind == "disk-image":
        if not recipe.outputs.qcow2:
            report.error("outputs.qcow2", "a disk-image recipe needs a qcow2 output path")
        if recipe.outputs.disk_size < Size.parse("1G"):
            report.error("outputs.disk_size", f"disk size {recipe.outputs.disk_size.human()} is too small",
                         "use at least 1G (the disk is sparse: unused space costs nothing)")
    if recipe.hostname and not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", recipe.hostname):
        report.error("hostname", f"not a valid hostname: {recipe.hostname!r}")


def tree_hash(paths: list[str]) -> str:
    """Content hash of files under `paths` (names, modes and bytes), for cache keys."""
    h = hashlib.sha256()
    for top in paths:
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, top)
                if "__pycache__" in rel or rel.endswith(".pyc"):
                    continue
                st = os.lstat(full)
                h.update(f"{rel}\0{st.st_mode:o}\0".encode())
                if os.path.islink(full):
                    h.update(os.readlink(full).encode())
                else:
                    with open(full, "rb") as f:
                        h.update(f.read())
    return h.hexdigest()
