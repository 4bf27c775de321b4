"""The image builder: a recipe becomes a flat list of named steps (a nodecore Plan).

Each step is a named action; each action is guarded (`if already done: return`) and timed, and
every process goes through the Runner. Expensive, Python-independent stages are cached under
`$HCINODE_CACHE` (default /var/cache/hcinode, outside the clone so CI and fresh clones reuse it),
keyed by a content hash of their inputs:

    rootfs/<key>/   mmdebstrap output (packages, mirrors, SOURCE_DATE_EPOCH)
    base/<key>/     rootfs pruned + initramfs built (adds prune rules, initramfs config)
    wheels/<key>/   wheels of the pinned Python dependencies

A cache entry is built in `<key>.tmp` and renamed when complete, so an interrupted build never
leaves a half-built entry that a later build would trust; artifacts are written to a temporary
name beside the target and renamed likewise.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from image_recipes import isoboot
from image_recipes.recipe import PROJECT_PACKAGES, Recipe, tree_hash
from nodecore import __version__
from nodecore.config import to_data
from nodecore.errors import CommandFailed
from nodecore.executor import Action
from nodecore.plan import Plan, Step, canonical_json
from nodecore.runner import Runner

log = logging.getLogger("hcinode.image")

LONG = 3600.0  # seconds: bootstrap and xz squashfs on 2 shared cores


def default_cache_dir() -> str:
    return os.environ.get("HCINODE_CACHE") or "/var/cache/hcinode"


def default_project_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class BuildOptions:
    release: bool = False
    project_dir: str = ""
    build_dir: str = ""  # default: <project>/build
    cache_dir: str = ""
    # the version the image says it is (image.json, the ISO's menu); default: the hcinode package's.
    # `HCINODE_IMAGE_VERSION=0.1.1 make iso` builds a "v2" of the same code for update tests
    image_version: str = ""

    def resolved(self) -> BuildOptions:
        project = self.project_dir or default_project_dir()
        return BuildOptions(self.release, project, self.build_dir or os.path.join(project, "build"),
                            self.cache_dir or default_cache_dir(), self.image_version or __version__)


IMAGE_VERSION_ENV = "HCINODE_IMAGE_VERSION"
# numbers only: update.manifest.compare_versions orders them as numbers (0.10.0 > 0.9.1)
IMAGE_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}$")


def image_identity(version: str, architecture: str, build_id: str, epoch: int) -> str:
    """/usr/share/hcinode/image.json: what the image is, for `hcinode update` on the node. Content
    only (no build time beyond SOURCE_DATE_EPOCH): the same inputs give the same bytes. `build_id`
    is the stage key, a hash of everything the root is made of (independent of squashfs options)."""
    return json.dumps({"version": version, "architecture": architecture, "build_id": build_id,
                       "source_date_epoch": epoch}, indent=1, sort_keys=True) + "\n"


@contextlib.contextmanager
def build_lock(*directories: str) -> Iterator[None]:
    """One build at a time per build directory and per cache (parallel `make iso` runs share
    build/work and the cache's .tmp entries)."""
    with contextlib.ExitStack() as stack:
        for directory in dict.fromkeys(directories):
            os.makedirs(directory, exist_ok=True)
            lock = stack.enter_context(open(os.path.join(directory, ".image-build.lock"), "w"))
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another image build using {directory}...", file=sys.stderr, flush=True)
                fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _key(*parts: Any) -> str:
    return hashlib.sha256(canonical_json(to_data(list(parts))).encode()).hexdigest()[:16]


def project_tree_hash(project_dir: str) -> str:
    paths = [os.path.join(project_dir, p) for p in PROJECT_PACKAGES if os.path.isdir(os.path.join(project_dir, p))]
    h = hashlib.sha256(tree_hash(paths).encode())
    with open(os.path.join(project_dir, "pyproject.toml"), "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def rootfs_key(recipe: Recipe) -> str:
    d = recipe.distribution
    return _key("rootfs-v1", d.suite, recipe.mirror_lines(), d.source_date_epoch, recipe.packages.all())


def base_key(recipe: Recipe) -> str:
    return _key("base-v2", rootfs_key(recipe), recipe.prune, recipe.initramfs, recipe.kind, INITRAMFS_HOOK,
                ICU_STUB_C if recipe.prune.icu_data_stub else "")


def build_plan(recipe: Recipe, options: BuildOptions, python_requirements: list[str] | None = None) -> Plan:
    """Pure function of (recipe, options, the pinned Python requirements) -> the build plan."""
    o = options.resolved()
    cache, build = o.cache_dir, o.build_dir
    work = os.path.join(build, "work", recipe.name)
    d = recipe.distribution
    requirements = sorted(python_requirements or [])
    rootfs_dir = os.path.join(cache, "rootfs", rootfs_key(recipe))
    wheels_dir = os.path.join(cache, "wheels", _key("wheels-v1", requirements))
    staged = os.path.join(work, "rootfs")
    stage_key = _key("stage-v1", base_key(recipe), requirements,
                     project_tree_hash(o.project_dir) if recipe.python.install_project else "", recipe.python,
                     tree_hash(recipe.overlay_dirs()), recipe.hostname, recipe.services, o.image_version)
    epoch = d.source_date_epoch
    steps = [
        Step("Bootstrap the Debian root filesystem (mmdebstrap, cached)", action="bootstrap",
             params={"dest": rootfs_dir, "suite": d.suite, "mirrors": recipe.mirror_lines(),
                     "packages": list(recipe.packages.all()), "epoch": epoch}, timeout=LONG),
    ]
    base_dir = os.path.join(cache, "base", base_key(recipe))
    steps.append(Step("Prune the root filesystem and build the initramfs (cached)", action="prepare_base",
                      params={"source": rootfs_dir, "dest": base_dir,
                              "module_dirs": list(recipe.prune.kernel_module_dirs),
                              "paths": list(recipe.prune.paths), "icu_data_stub": recipe.prune.icu_data_stub,
                              "python_bytecode_only": list(recipe.prune.python_bytecode_only),
                              "glibc_gconv_extra": recipe.prune.glibc_gconv_extra,
                              "cuts": [to_data(c) for c in recipe.prune.cuts],
                              "initramfs_modules": recipe.initramfs.modules,
                              "initramfs_compress": recipe.initramfs.compress,
                              "initramfs_compress_level": recipe.initramfs.compress_level,
                              "include_modules": list(recipe.initramfs.include_modules),
                              "exclude_module_dirs": list(recipe.initramfs.exclude_module_dirs),
                              "medium_exclude_module_dirs": list(recipe.initramfs.medium_exclude_module_dirs),
                              "epoch": epoch},
                      timeout=LONG))
    if recipe.python.install_project:
        steps.append(Step("Build the wheelhouse (project + pinned dependencies)", action="wheelhouse",
                          params={"project": o.project_dir, "requirements": requirements, "wheels": wheels_dir,
                                  "packages": list(recipe.python.packages or PROJECT_PACKAGES),
                                  "project_wheels": os.path.join(work, "project-wheels"), "epoch": epoch},
                          timeout=LONG))
    steps.append(Step("Stage the image root (cached base + project + overlay + services)", action="stage",
                      params={"base": base_dir, "dest": staged, "key": stage_key,
                              "wheels": wheels_dir if recipe.python.install_project else "",
                              "project_wheels": os.path.join(work, "project-wheels")
                              if recipe.python.install_project else "", "requirements": requirements,
                              "overlays": recipe.overlay_dirs(), "hostname": recipe.hostname,
                              "enable": list(recipe.services.enable), "disable": list(recipe.services.disable),
                              "mask": list(recipe.services.mask), "epoch": epoch,
                              "slim_dependencies": recipe.python.slim_dependencies,
                              "image_version": o.image_version}, timeout=LONG))
    if recipe.kind == "live-iso":
        squashfs = os.path.join(work, "filesystem.squashfs")
        comp = "xz" if o.release else "zstd"
        excludes = [e.path for e in recipe.squashfs.exclude]
        steps.append(Step(f"Make the squashfs ({comp})", action="squashfs",
                          params={"root": staged, "out": squashfs, "compression": comp, "key": stage_key,
                                  "exclude": excludes, "epoch": epoch,
                                  "first_imports": list(recipe.squashfs.first_imports)}, timeout=LONG))
        steps.append(Step("Measure the biggest files and directories"
                          + (" (xz estimate per 1 MiB block)" if o.release else ""), action="sizes",
                          params={"root": staged, "exclude": excludes, "compressed": o.release,
                                  "key": stage_key, "out": os.path.join(work, "sizes.json")}, timeout=LONG))
        cmdline = recipe.kernel_cmdline
        if recipe.outputs.iso:
            steps.append(Step("Make the hybrid BIOS+UEFI ISO", action="iso",
                              params={"root": staged, "squashfs": squashfs,
                                      "out": os.path.join(build, recipe.outputs.iso),
                                      "staging": os.path.join(work, "iso"), "volume_id": recipe.outputs.volume_id,
                                      "cmdline": cmdline, "epoch": epoch, "version": o.image_version,
                                      "max_size": int(recipe.outputs.max_size), "release": o.release},
                              timeout=LONG))
        if recipe.outputs.pxe:
            steps.append(Step("Make the PXE directory", action="pxe",
                              params={"root": staged, "squashfs": squashfs,
                                      "out": os.path.join(build, recipe.outputs.pxe),
                                      "cmdline": cmdline}, timeout=600))
    if recipe.kind == "disk-image":
        steps.append(Step("Make the sparse qcow2 disk image", action="disk_image",
                          params={"root": staged, "out": os.path.join(build, recipe.outputs.qcow2),
                                  "work": work, "size": int(recipe.outputs.disk_size), "cmdline": recipe.kernel_cmdline,
                                  "epoch": epoch}, timeout=LONG))
    steps.append(Step("Write the build manifest", action="manifest",
                      params={"recipe": recipe.name, "release": o.release, "image_version": o.image_version,
                              "out": os.path.join(build, "manifest.json"),
                              "packages_file": os.path.join(rootfs_dir, "packages.tsv"),
                              "pruned_file": os.path.join(base_dir, "pruned.json"),
                              "stage_pruned_file": staged + ".pruned.json",
                              "sizes_file": os.path.join(work, "sizes.json") if recipe.kind == "live-iso" else "",
                              "root": staged,
                              "iso_staging": os.path.join(work, "iso") if recipe.outputs.iso else "",
                              "squashfs_exclude": [to_data(e) for e in recipe.squashfs.exclude],
                              "artifacts": _artifacts(recipe, build), "max_size": int(recipe.outputs.max_size)}))
    summary = {"recipe": recipe.name, "kind": recipe.kind, "release": o.release, "cache": cache,
               "packages": len(recipe.packages.all()), "rootfs cache key": rootfs_key(recipe),
               "outputs": _artifacts(recipe, build)}
    return Plan(f"build image {recipe.name}", tuple(steps), summary)


def _artifacts(recipe: Recipe, build: str) -> list[str]:
    out = []
    if recipe.outputs.iso:
        out.append(os.path.join(build, recipe.outputs.iso))
    if recipe.outputs.pxe:
        pxe = os.path.join(build, recipe.outputs.pxe)
        out += [os.path.join(pxe, n) for n in ("vmlinuz", "initrd.img", "filesystem.squashfs")]
    if recipe.outputs.qcow2:
        out.append(os.path.join(build, recipe.outputs.qcow2))
    return out


# ---------------------------------------------------------------------------------------------
# Actions. Each takes (runner, params); guards first; processes only through the runner.


def _rm(runner: Runner, *paths: str) -> None:
    existing = [p for p in paths if os.path.lexists(p)]
    if existing:
        runner.run(["rm", "-rf", "--one-file-system", *existing], timeout=600)


def _publish_dir(runner: Runner, tmp: str, dest: str) -> None:
    """Replace `dest` by the complete `tmp` (rename, so readers never see half a tree)."""
    old = dest + ".old"
    _rm(runner, old)
    if os.path.exists(dest):
        os.rename(dest, old)
    os.rename(tmp, dest)
    _rm(runner, old)


MISSING_PACKAGE_RE = re.compile(r"Unable to locate package (\S+)|Package '?(\S+?)'? has no installation candidate")


def bootstrap(runner: Runner, p: Mapping[str, Any]) -> None:
    dest = p["dest"]
    if os.path.isfile(os.path.join(dest, "packages.tsv")):
        log.info("rootfs cache hit: %s", dest)
        return
    tmp = dest + ".tmp"
    _rm(runner, tmp)  # left by an interrupted build: never trusted
    os.makedirs(tmp)
    root = os.path.join(tmp, "root")
    argv = ["mmdebstrap", "--mode=root", "--variant=apt", "--aptopt=APT::Install-Recommends \"false\"",
            "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-include=/usr/share/locale/locale.alias", "--dpkgopt=path-exclude=/usr/share/info/*",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            # a list-mode initramfs config before the kernel's postinst builds the first initrd (fast)
            "--essential-hook=mkdir -p \"$1/etc/initramfs-tools/conf.d\" && "
            "printf 'MODULES=list\\nCOMPRESS=zstd\\n' > \"$1/etc/initramfs-tools/conf.d/hcinode.conf\"",
            "--include=" + ",".join(p["packages"]), p["suite"], root, *p["mirrors"]]
    try:
        runner.run(argv, env={"SOURCE_DATE_EPOCH": str(p["epoch"])}, timeout=LONG)
    except CommandFailed as exc:
        missing = sorted({a or b for a, b in MISSING_PACKAGE_RE.findall(exc.stdout + exc.stderr)})
        if missing:
            raise RuntimeError(f"package(s) not found in the mirror: {', '.join(missing)} "
                               f"(mirrors: {'; '.join(p['mirrors'])})") from exc
        raise
    # the build host's identity leaks in; the image gets its own
    for leaked in ("etc/hostname", "etc/resolv.conf"):
        path = os.path.join(root, leaked)
        if os.path.lexists(path):
            os.remove(path)
    # every node must have its own ssh host keys: generated at first boot (hcinode-ssh-keygen.service)
    for key in glob.glob(os.path.join(root, "etc/ssh/ssh_host_*")):
        os.remove(key)
    listing = runner.run(["chroot", root, "dpkg-query", "-W", "-f", "${Package}\t${Version}\n"]).stdout
    runner.write_file(os.path.join(tmp, "packages.tsv"), listing)
    _publish_dir(runner, tmp, dest)


def _dir_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                total += os.lstat(full).st_size
    return total


def kernel_version(root: str) -> str:
    versions = sorted(os.listdir(os.path.join(root, "usr/lib/modules")))
    if len(versions) != 1:
        raise RuntimeError(f"expected one kernel in the image, found {versions}")
    return versions[0]


INITRAMFS_HOOK = """#!/bin/sh
# hcinode: copy the curated module list (storage, NIC, virtual drivers) into the initramfs;
# udev loads what matches the hardware. Written by the image builder.
PREREQ=""
prereqs() { echo "$PREREQ"; }
case "$1" in prereqs) prereqs; exit 0 ;; esac
. /usr/share/initramfs-tools/hook-functions
for m in $(cat /etc/initramfs-tools/hcinode-modules); do
    manual_add_modules "$m"
done
# /etc hooks run after the packages' hooks: drop what they added that the recipe excludes
# (mkinitramfs runs depmod afterwards)
for d in $(cat /etc/initramfs-tools/hcinode-exclude); do
    rm -rf "${DESTDIR}/usr/lib/modules/${version}/kernel/${d}"
done
# the boot medium's initrd (HCINODE_INITRD=medium) leaves out what only a network boot needs
if [ "${HCINODE_INITRD:-}" = medium ]; then
    for d in $(cat /etc/initramfs-tools/hcinode-exclude-medium); do
        rm -rf "${DESTDIR}/usr/lib/modules/${version}/kernel/${d}"
    done
fi
"""
# the ISO's initrd when the recipe has initramfs.medium_exclude_module_dirs (beside the full one)
MEDIUM_INITRD = "boot/initrd-medium.img-{version}"


def prepare_base(runner: Runner, p: Mapping[str, Any]) -> None:
    dest = p["dest"]
    if os.path.isfile(os.path.join(dest, "pruned.json")):
        log.info("base cache hit: %s", dest)
        return
    tmp = dest + ".tmp"
    _rm(runner, tmp)
    os.makedirs(tmp)
    root = os.path.join(tmp, "root")
    runner.run(["cp", "-a", "--reflink=auto", os.path.join(p["source"], "root"), root], timeout=LONG)
    version = kernel_version(root)
    pruned: list[dict[str, Any]] = []
    kernel_dir = os.path.join(root, "usr/lib/modules", version, "kernel")
    for rel in p["module_dirs"]:
        path = os.path.join(kernel_dir, rel)
        if os.path.lexists(path):  # a directory or a single module (foo.ko)
            size = _dir_size(path) if os.path.isdir(path) else os.lstat(path).st_size
            pruned.append({"path": f"/usr/lib/modules/{version}/kernel/{rel}", "bytes": size})
            _rm(runner, path)

    def prune_glob(pattern: str, **why: str) -> int:
        matches = sorted(glob.glob(os.path.join(root, pattern)))
        for m in matches:
            size = _dir_size(m) if os.path.isdir(m) else os.lstat(m).st_size
            pruned.append({"path": "/" + os.path.relpath(m, root), "bytes": size, **why})
        _rm(runner, *matches)
        return len(matches)

    for pattern in p["paths"]:
        prune_glob(pattern)
    for cut in p.get("cuts", []):
        for pattern in cut["paths"]:
            if not prune_glob(pattern, removes=cut["removes"], proven_by=cut["proven_by"]):
                # a cut that matches nothing is stale (a package moved the file): say so, do not hide it
                raise RuntimeError(f"prune cut {pattern!r} matches nothing in the root")
    if p.get("glibc_gconv_extra"):
        pruned.append(gconv_extra(runner, root))
    if p.get("icu_data_stub"):
        pruned.append(icu_data_stub(runner, root))
    for rel in p.get("python_bytecode_only", []):
        pruned.append(python_bytecode_only(root, rel))
    if any(x["path"].startswith("/usr/lib/udev/hwdb.d/") for x in pruned):
        # hwdb.bin is compiled from hwdb.d: rebuilt, or udev would still carry what was pruned. In
        # the chroot: hwdb.bin records each entry's source path (--root would put the cache's in)
        hwdb = os.path.join(root, "usr/lib/udev/hwdb.bin")
        before = os.path.getsize(hwdb) if os.path.isfile(hwdb) else 0
        runner.run(["chroot", root, "systemd-hwdb", "update", "--usr"])
        pruned.append({"path": "/usr/lib/udev/hwdb.bin", "bytes": before - os.path.getsize(hwdb),
                       "removes": "the pruned hwdb.d entries, compiled (rebuilt from what is left)"})
    runner.run(["chroot", root, "depmod", "-a", version])
    conf = os.path.join(root, "etc/initramfs-tools")
    level = p.get("initramfs_compress_level") or 0
    runner.write_file(os.path.join(conf, "conf.d/hcinode.conf"),
                      f"# written by the hcinode image builder\nMODULES={p['initramfs_modules']}\n"
                      f"COMPRESS={p['initramfs_compress']}\n" + (f"COMPRESSLEVEL={level}\n" if level else ""))
    runner.write_file(os.path.join(conf, "hcinode-modules"), "\n".join(p["include_modules"]) + "\n")
    runner.write_file(os.path.join(conf, "hcinode-exclude"), "\n".join(p["exclude_module_dirs"]) + "\n")
    runner.write_file(os.path.join(conf, "hooks/hcinode-modules"), INITRAMFS_HOOK, mode=0o755)
    # a private mount namespace: /proc and /sys for mkinitramfs vanish with it, even on a crash
    runner.run(["unshare", "--mount", "--propagation", "private", "chroot", root, "sh", "-c",
                "mount -t proc proc /proc && mount -t sysfs sysfs /sys && "
                'mkinitramfs -o "/boot/initrd.img-$1.new" "$1" && mv "/boot/initrd.img-$1.new" "/boot/initrd.img-$1"',
                "sh", version],
               env={"SOURCE_DATE_EPOCH": str(p["epoch"])}, timeout=LONG)
    medium = p.get("medium_exclude_module_dirs") or []
    if medium:
        runner.write_file(os.path.join(conf, "hcinode-exclude-medium"), "\n".join(medium) + "\n")
        out = "/" + MEDIUM_INITRD.format(version=version)
        runner.run(["unshare", "--mount", "--propagation", "private", "chroot", root, "sh", "-c",
                    "mount -t proc proc /proc && mount -t sysfs sysfs /sys && "
                    f'mkinitramfs -o "{out}.new" "$1" && mv "{out}.new" "{out}"', "sh", version],
                   env={"SOURCE_DATE_EPOCH": str(p["epoch"]), "HCINODE_INITRD": "medium"}, timeout=LONG)
    record_initrds(runner, root, [f"/boot/initrd.img-{version}"] + (["/" + MEDIUM_INITRD.format(version=version)]
                                                                     if medium else []))
    runner.write_file(os.path.join(tmp, "pruned.json"), json.dumps(
        {"kernel": version, "pruned": pruned, "pruned_bytes": sum(x["bytes"] for x in pruned)}, indent=1))
    _publish_dir(runner, tmp, dest)


def record_initrds(runner: Runner, root: str, initrds: list[str]) -> None:
    """installer.target.INITRD_RECORD in the root: each initrd's sha256 and whether it activates a
    thin-LVM root, listed here once (a second natively) so that the installer and `update apply` on
    the node skip lsinitramfs, 40-120 s under TCG. Imported here: see write_identity."""
    from installer.target import INITRD_RECORD, lists_thin_lvm, sha256_file

    record = {}
    for initrd in initrds:
        listing = runner.run(["chroot", root, "lsinitramfs", initrd], timeout=LONG).stdout
        record[sha256_file(os.path.join(root, initrd.lstrip("/")))] = {
            "name": os.path.basename(initrd), "thin_lvm_root": lists_thin_lvm(listing)}
    runner.write_file(os.path.join(root, INITRD_RECORD), json.dumps(record, indent=1, sort_keys=True) + "\n")


# ICU's stubdata (icu4c/source/stubdata/stubdata.cpp): a common-data header with no entries, what
# ICU builds that load their data from a file link against. ICU then finds no data (no .dat file
# is installed) and its data-driven services fail with an error code instead of crashing.
ICU_STUB_C = """#include <stdint.h>
typedef struct {
    uint16_t headerSize;
    uint8_t magic1, magic2;
    struct {
        uint16_t size, reservedWord;
        uint8_t isBigEndian, charsetFamily, sizeofUChar, reservedByte;
        uint8_t dataFormat[4], formatVersion[4], dataVersion[4];
    } info;
    char padding[8];
    uint32_t count, reserved;
    uint32_t toc[2];
} ICU_Data_Header;
__attribute__((visibility("default"))) const ICU_Data_Header SYMBOL = {
    32, 0xda, 0x27, {20, 0, 0, 0, 2, 0, {0x54, 0x6f, 0x43, 0x50}, {1, 0, 0, 0}, {0, 0, 0, 0}},
    {0, 0, 0, 0, 0, 0, 0, 0}, 0, 0, {0, 0}};
"""
ICU_DATA_RE = re.compile(r"libicudata\.so\.(\d+)\.[\d.]+")


def icu_data_stub(runner: Runner, root: str) -> dict[str, Any]:
    """Replace the image's libicudata.so.NN.x by the stub (same soname and symbol icudtNN_dat)."""
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    found = sorted(n for n in os.listdir(libdir) if ICU_DATA_RE.fullmatch(n))
    if len(found) != 1:
        raise RuntimeError(f"prune.icu_data_stub: expected one libicudata.so.NN.x in {libdir}, found {found}")
    path = os.path.join(libdir, found[0])
    major = ICU_DATA_RE.fullmatch(found[0]).group(1)  # type: ignore[union-attr]
    before = os.lstat(path).st_size
    source = path + ".stub.c"
    runner.write_file(source, ICU_STUB_C.replace("SYMBOL", f"icudt{major}_dat"))
    # no build id and no C library: the same bytes on every build machine
    runner.run(["gcc", "-O2", "-shared", "-fPIC", "-nostdlib", f"-Wl,-soname,libicudata.so.{major}",
                "-Wl,--build-id=none", "-o", path + ".stub", source])
    os.remove(source)
    os.replace(path + ".stub", path)
    return {"path": "/" + os.path.relpath(path, root), "bytes": before - os.lstat(path).st_size,
            "removes": "ICU's data (30 MiB) behind ICU's own stub data: libxml2 (libvirt, gluster) asks ICU "
                       "only for encodings glibc's iconv lacks; UTF-8 and every iconv encoding work unchanged",
            "proven_by": "tests/unit/image_recipes/test_icu_stub.py (xmllint and virsh with the stub) and the "
                         "VM tests (libvirt domain XML, gluster)"}


GCONV_DIR = "usr/lib/x86_64-linux-gnu/gconv"
GCONV_EXTRA_CONF = "gconv-modules.d/gconv-modules-extra.conf"


def _gconv_module_files(conf: str) -> set[str]:
    """The module files (4th field of `module FROM TO FILE COST`) a gconv-modules file names."""
    names = set()
    for line in _read(conf).splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 4 and fields[0] == "module":
            names.add(fields[3])
    return names


def gconv_extra(runner: Runner, root: str) -> dict[str, Any]:
    """Remove glibc's extra iconv modules (those only gconv-modules-extra.conf names, and the CJK
    helper libraries they link) and rebuild gconv-modules.cache from what is left."""
    gconv = os.path.join(root, GCONV_DIR)
    extra_conf = os.path.join(gconv, GCONV_EXTRA_CONF)
    if not os.path.isfile(extra_conf):
        raise RuntimeError(f"prune.glibc_gconv_extra: {extra_conf} not found")
    keep = _gconv_module_files(os.path.join(gconv, "gconv-modules"))
    drop = sorted(_gconv_module_files(extra_conf) - keep)
    paths = [os.path.join(gconv, f"{name}.so") for name in drop]
    # helpers of the CJK modules only (libJIS.so, libGB.so, libKSC.so, libCNS.so, libISOIR165.so, ...)
    paths += sorted(glob.glob(os.path.join(gconv, "lib*.so")))
    paths = [x for x in paths if os.path.lexists(x)] + [extra_conf]
    saved = sum(os.lstat(x).st_size for x in paths)
    _rm(runner, *paths)
    cache = os.path.join(gconv, "gconv-modules.cache")
    before = os.path.getsize(cache) if os.path.isfile(cache) else 0
    runner.run(["chroot", root, "iconvconfig"])
    saved += before - (os.path.getsize(cache) if os.path.isfile(cache) else 0)
    return {"path": f"/{GCONV_DIR}/*.so", "bytes": saved, "files": len(paths),
            "removes": "glibc's extra iconv converters (CJK, IBM/EBCDIC, Mac, old national sets: "
                       f"{len(drop)} modules and their helper libraries); gconv-modules.cache rebuilt. UTF-8 "
                       "(built into glibc), UTF-16/32/7, UCS-2/4, ISO-8859-1/15, CP1252, ANSI_X3.110 stay. Our "
                       "code decodes with Python's own codecs; libxml2 (libvirt, gluster XML) and glib "
                       "(NetworkManager) only convert UTF-8/ASCII XML and D-Bus strings",
            "proven_by": "tests/unit/image_recipes/test_gconv_extra.py (which modules go, the cache rebuilt); "
                         "in the pruned root iconv UTF-8 -> ISO-8859-1 works and SHIFT_JIS is refused; the VM "
                         "tests (libvirt domain XML, NetworkManager, the console)"}


def python_bytecode_only(root: str, rel: str) -> dict[str, Any]:
    """X.py -> X.pyc (from __pycache__/X.<tag>.pyc) under root/rel; the sources that had bytecode go."""
    top = os.path.join(root, rel)
    tag = f"cpython-{sys.version_info.major}{sys.version_info.minor}"  # the build host's python is the image's
    saved = 0
    for dirpath, _dirs, files in os.walk(top):
        if os.path.basename(dirpath) == "__pycache__":
            continue
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            cached = os.path.join(dirpath, "__pycache__", f"{name[:-3]}.{tag}.pyc")
            source = os.path.join(dirpath, name)
            if os.path.isfile(cached) and not os.path.islink(source):
                saved += os.lstat(source).st_size
                os.replace(cached, source + "c")
                os.remove(source)
    return {"path": "/" + rel + "/**/*.py", "bytes": saved,
            "removes": "Python sources that have bytecode (the .pyc moves beside them: sourceless import); "
                       "tracebacks through these modules show file and line without the source text",
            "proven_by": "tests/unit/image_recipes/test_bytecode_only.py (imports and tracebacks) and every "
                         "VM test (the console, installer and agents run on this Python)"}


def wheelhouse(runner: Runner, p: Mapping[str, Any]) -> None:
    wheels = p["wheels"]
    env = {"SOURCE_DATE_EPOCH": str(p["epoch"]), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if not os.path.isfile(os.path.join(wheels, "complete")):
        tmp = wheels + ".tmp"
        _rm(runner, tmp)
        os.makedirs(tmp)
        if p["requirements"]:
            # --no-deps: the closure is computed from the venv (python_requirements); what Debian
            # provides (gi, blockdev, parted, pyudev, libvirt) comes from apt in the image
            runner.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", tmp,
                        *p["requirements"]], env=env, timeout=LONG)
        runner.write_file(os.path.join(tmp, "complete"), "\n".join(p["requirements"]) + "\n")
        _publish_dir(runner, tmp, wheels)
    out = p["project_wheels"]
    tmp = out + ".tmp"
    _rm(runner, tmp)
    os.makedirs(tmp)
    # build from a clean copy of the sources: pip building in-tree would litter build/ and *.egg-info
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    for name in (*p["packages"], "pyproject.toml"):
        path = os.path.join(p["project"], name)
        if os.path.exists(path):
            runner.run(["cp", "-a", path, src])
    runner.run(["find", src, "-name", "__pycache__", "-prune", "-exec", "rm", "-rf", "{}", "+"])
    runner.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                "--wheel-dir", os.path.join(tmp, "wheels"), src], env=env, timeout=600)
    _publish_dir(runner, tmp, out)


CONSOLE_SSH_KEYGEN_UNIT = """[Unit]
Description=Generate this node's SSH host keys (the image ships none)
Before=ssh.service
# off the console's path: the RSA key took 16-38 s of TCG CPU while the console started; ssh waits
# for the keys, the console does not (it starts first and keeps the CPU)
After=getty.target
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
Nice=19
CPUSchedulingPolicy=idle
IOSchedulingClass=idle

[Install]
WantedBy=multi-user.target
"""


def stage(runner: Runner, p: Mapping[str, Any]) -> None:
    dest = p["dest"]
    marker = dest + ".key"
    if os.path.isdir(dest) and _read(marker) == p["key"]:
        log.info("staged root is current: %s", dest)
        return
    tmp = dest + ".tmp"
    _rm(runner, tmp, marker, dest + ".pruned.json")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    runner.run(["cp", "-a", "--reflink=auto", os.path.join(p["base"], "root"), tmp], timeout=LONG)
    env = {"SOURCE_DATE_EPOCH": str(p["epoch"]), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if p["wheels"]:
        project_wheels = os.path.join(p["project_wheels"], "wheels")
        names = [os.path.basename(w).split("-")[0] for w in sorted(glob.glob(os.path.join(project_wheels, "*.whl")))]
        # the host's Debian python is the image's python (same release): install with its pip into
        # the image root; Debian's pip puts it under /usr/local (dist-packages, bin). By name from
        # --find-links (not by path: pip would record the build machine's path in direct_url.json),
        # and compiled afterwards inside the root so .pyc files name /usr/local paths, not ours
        runner.run(["/usr/bin/python3", "-m", "pip", "install", "--root", tmp, "--no-index", "--no-deps",
                    "--find-links", p["wheels"], "--find-links", project_wheels, "--no-compile",
                    "--ignore-installed", "--no-warn-script-location", "--break-system-packages",
                    "--root-user-action=ignore", "-q", *p["requirements"], *names], env=env, timeout=600)
        # unchecked-hash: an import reads the .pyc only, not the source too to hash it (checked-hash
        # did: twice the squashfs reads on the console's start, each a 1 MiB xz block under TCG). The
        # image is read-only and replaced whole by updates, so a source never changes under its .pyc;
        # both modes are reproducible (no mtime in the .pyc)
        runner.run(["chroot", tmp, "python3", "-m", "compileall", "-q", "-j", "2",
                    "--invalidation-mode", "unchecked-hash", "/usr/local/lib"], env=env, timeout=600,
                   check=False)  # .pyc files only save start-up time; a file that fails is read from source
        if p.get("slim_dependencies"):
            runner.write_file(dest + ".pruned.json", json.dumps(slim_dependencies(runner, tmp), indent=1))
    for overlay in p["overlays"]:
        runner.run(["cp", "-a", "--no-preserve=ownership", overlay + "/.", tmp])
    if p["hostname"]:
        runner.write_file(os.path.join(tmp, "etc/hostname"), p["hostname"] + "\n")
        runner.write_file(os.path.join(tmp, "etc/hosts"),
                          f"127.0.0.1\tlocalhost\n127.0.1.1\t{p['hostname']}\n"
                          "::1\tlocalhost ip6-localhost ip6-loopback\n")
    runner.write_file(os.path.join(tmp, "etc/systemd/system/hcinode-ssh-keygen.service"), CONSOLE_SSH_KEYGEN_UNIT)
    write_identity(runner, tmp, p.get("image_version") or __version__, p["key"], p["epoch"])
    enable = ["hcinode-ssh-keygen.service", *p["enable"]]
    runner.run(["systemctl", "--root", tmp, "enable", *enable])
    if p["disable"]:
        runner.run(["systemctl", "--root", tmp, "disable", *p["disable"]])
    if p["mask"]:
        runner.run(["systemctl", "--root", tmp, "mask", *p["mask"]])
    _publish_dir(runner, tmp, dest)
    runner.write_file(marker, p["key"])


SITE_PACKAGES = "usr/local/lib/python3.11/dist-packages"
# wheels that find their own modules by listing *.py files: bytecode only breaks them
# (pykickstart.handlers.control scans for f*.py/rhel*.py: every kickstart parse failed, KeyError 46000)
KEEP_SOURCES = frozenset({"pykickstart"})


def slim_dependencies(runner: Runner, root: str) -> list[dict[str, Any]]:
    """The third-party wheels in /usr/local as bytecode only, their extension modules stripped.

    The project's own packages keep their sources (readable tracebacks in our code). --strip-unneeded
    drops symbol tables only (the wheels carry no debug info): same code, and the same bytes each build."""
    site = os.path.join(root, SITE_PACKAGES)
    pruned = []
    for name in sorted(os.listdir(site)):
        path = os.path.join(site, name)
        if name in PROJECT_PACKAGES or name in KEEP_SOURCES or name.endswith(".dist-info") or not os.path.isdir(path) \
                or name == "__pycache__" or not glob.glob(os.path.join(path, "**", "*.py"), recursive=True):
            continue
        entry = python_bytecode_only(root, os.path.join(SITE_PACKAGES, name))
        entry["proven_by"] = ("tests/unit/image_recipes/test_slim_dependencies.py, test_bytecode_only.py and "
                              "every VM test (the console, installer and agents import these wheels)")
        pruned.append(entry)
    libs = sorted(glob.glob(os.path.join(site, "**", "*.so"), recursive=True))
    before = sum(os.lstat(x).st_size for x in libs)
    if libs:
        runner.run(["strip", "--strip-unneeded", *libs])
    pruned.append({"path": "/" + SITE_PACKAGES + "/**/*.so", "bytes": before - sum(os.lstat(x).st_size for x in libs),
                   "removes": "symbol tables of the wheels' extension modules (strip --strip-unneeded: "
                              "dynamic symbols stay, the code is unchanged)",
                   "proven_by": "every VM test (cryptography, PyYAML, MarkupSafe, cffi load at start-up)"})
    return pruned


def write_identity(runner: Runner, root: str, version: str, build_id: str, epoch: int) -> None:
    """image.json in a staged root (update.manifest reads it first, on the node and in a squashfs).
    Imported here, not at the top: an image that ships image_recipes without update must still load."""
    from update.manifest import ELF_PROBE, IMAGE_JSON, elf_architecture

    with open(os.path.join(root, ELF_PROBE), "rb") as f:
        architecture = elf_architecture(f.read(64))
    runner.write_file(os.path.join(root, IMAGE_JSON), image_identity(version, architecture, build_id, epoch))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def squashfs(runner: Runner, p: Mapping[str, Any]) -> None:
    out = p["out"]
    comp = (["-comp", "xz", "-b", "1M", "-Xbcj", "x86"] if p["compression"] == "xz"
            # 128K blocks for development builds: with 1M blocks every page fault on the squashfs
            # reads and decompresses 1 MiB, which makes boots under TCG (the e2e tests) much slower
            else ["-comp", "zstd", "-Xcompression-level", "6", "-b", "128K"])
    excludes = list(p.get("exclude", []))
    first = list(p.get("first_imports", []))
    key = f"{p['key']}:{' '.join(comp)}" + (f":-e {' '.join(excludes)}" if excludes else "") \
        + (f":first {' '.join(first)}" if first else "")
    if os.path.isfile(out) and _read(out + ".key") == key:
        log.info("squashfs is current: %s", out)
        return
    tmp = out + ".tmp"
    _rm(runner, tmp, out + ".key")
    # fixed time stamps (-all-time, -mkfs-time; mksquashfs refuses these together with
    # SOURCE_DATE_EPOCH in its environment) make the same tree give the same bytes;
    # -e must come last
    sort = []
    if first:
        runner.write_file(out + ".sort", "".join(f"{path} {32767 - i}\n"
                                                 for i, path in enumerate(first_files(runner, p["root"], first))))
        sort = ["-sort", out + ".sort"]
    runner.run(["mksquashfs", p["root"], tmp, "-noappend", "-no-progress", "-quiet", *comp, *sort,
                "-processors", "2", "-all-time", str(p["epoch"]), "-mkfs-time", str(p["epoch"]),
                "-wildcards", "-e", "proc/*", "sys/*", "dev/*", "run/*", "tmp/*", *excludes], timeout=LONG)
    os.replace(tmp, out)
    runner.write_file(out + ".key", key)


# run with the image's python in a chroot of the staged root: imports the modules named on the command
# line in order (NAME.*: the package and each of its modules) and prints the file each module was
# loaded from, in the order they were loaded (sys.modules keeps it): the bytecode when it exists
FIRST_FILES_PY = """
import importlib, os, pkgutil, sys
for name in sys.argv[1:]:
    package = name.removesuffix(".*")
    module = importlib.import_module(package)
    if name != package:
        for info in pkgutil.iter_modules(module.__path__, package + "."):
            importlib.import_module(info.name)
for module in list(sys.modules.values()):
    names = getattr(module, "__dict__", {})  # None: an import blocked on purpose (tui/__init__.py)
    cached, path = names.get("__cached__"), names.get("__file__")
    read = cached if cached and os.path.isfile(cached) else path
    if read and os.path.isfile(read):
        print(read)
"""


def first_files(runner: Runner, root: str, imports: list[str]) -> list[str]:
    """The files a start-up loads, in load order, as paths relative to root (mksquashfs -sort's form).

    Why first: the release squashfs is xz in 1 MiB blocks, and every file under 1 MiB sits in a
    shared fragment block that the kernel caches only three of. The console's ~280 small modules were
    scattered over the whole image: a cold start decompressed a MiB for nearly every import. Packed
    together in load order, a cold start reads each of a few blocks once."""
    out = runner.run(["chroot", root, "python3", "-B", "-I", "-W", "ignore", "-c", FIRST_FILES_PY, *imports],
                     timeout=120).stdout
    return list(dict.fromkeys(line.lstrip("/") for line in out.splitlines() if line.startswith("/")))


def sizes(runner: Runner, p: Mapping[str, Any]) -> None:
    """The biggest files and directories (image_recipes.sizes says how they are measured)."""
    from image_recipes import sizes as measure

    key = f"{p['key']}:{'compressed' if p['compressed'] else 'uncompressed'}:{' '.join(p['exclude'])}"
    out = p["out"]
    if os.path.isfile(out) and _read(out + ".key") == key:
        log.info("sizes are current: %s", out)
        return
    files = measure.squashfs_files(p["root"], p["exclude"])
    compressed = None
    if p["compressed"]:
        cache = out + ".estimates"  # FileSize.stamp() -> bytes, from the last release build
        compressed = measure.estimate_compressed(p["root"], files, known=json.loads(_read(cache) or "{}"))
        runner.write_file(cache, json.dumps({f.stamp(): compressed[f.path] for f in files}))
    data = {"method": measure.__doc__.split("\n\n", 1)[1].replace("\n", " ").strip(),
            "total_bytes": sum(f.size for f in files),
            "total_compressed_bytes": sum(compressed.values()) if compressed is not None else None,
            **measure.biggest(files, compressed)}
    runner.write_file(out, json.dumps(data, indent=1) + "\n")
    runner.write_file(out + ".key", key)


def iso_parts(staging: str) -> dict[str, int]:
    """Sizes of the ISO's kernel, initrd and squashfs (the ISO's initrd is not PXE's)."""
    names = ("live/vmlinuz", "live/initrd.img", "live/filesystem.squashfs")
    return {n: os.path.getsize(os.path.join(staging, n)) for n in names
            if staging and os.path.isfile(os.path.join(staging, n))}


def excluded_items(root: str, excludes: list[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The squashfs excludes as manifest `pruned` entries: what matched in the staged root, its size,
    what it removes and the test that proves the node works without it."""
    out = []
    for e in excludes:
        for m in sorted(glob.glob(os.path.join(root, e["path"]))):
            size = _dir_size(m) if os.path.isdir(m) else os.lstat(m).st_size
            out.append({"path": "/" + os.path.relpath(m, root), "bytes": size, "where": "squashfs only",
                        "removes": e["removes"], "proven_by": e["proven_by"]})
    return out


def _boot_files(root: str, medium: bool = False) -> tuple[str, str]:
    """The kernel and initrd; `medium`: the boot medium's initrd when the recipe made one."""
    version = kernel_version(root)
    initrd = os.path.join(root, "boot", f"initrd.img-{version}")
    small = os.path.join(root, MEDIUM_INITRD.format(version=version))
    return os.path.join(root, "boot", f"vmlinuz-{version}"), small if medium and os.path.isfile(small) else initrd


def _link_or_copy(runner: Runner, src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest):
        os.remove(dest)
    try:
        os.link(src, dest)
    except OSError:
        runner.run(["cp", src, dest])


def iso(runner: Runner, p: Mapping[str, Any]) -> None:
    staging = p["staging"]
    _rm(runner, staging, isoboot.efi_image_path(staging))
    kernel, initrd = _boot_files(p["root"], medium=True)
    _link_or_copy(runner, kernel, os.path.join(staging, "live/vmlinuz"))
    _link_or_copy(runner, initrd, os.path.join(staging, "live/initrd.img"))
    _link_or_copy(runner, p["squashfs"], os.path.join(staging, "live/filesystem.squashfs"))
    isoboot.populate(runner, staging, root=p["root"], cmdline=p["cmdline"], version=p["version"],
                     epoch=p["epoch"])
    out = p["out"]
    tmp = out + ".tmp"
    _rm(runner, tmp)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    # xorriso records each file's and directory's mtime: pin them (the volume dates are pinned by
    # --modification-date), so the same inputs give the same ISO bytes
    runner.run(["find", staging, "-exec", "touch", "-h", "-d", f"@{p['epoch']}", "{}", "+"])
    runner.run(isoboot.xorriso_argv(staging, tmp, p["volume_id"], p["epoch"]),
               env={"SOURCE_DATE_EPOCH": str(p["epoch"])}, timeout=1800)
    size = os.path.getsize(tmp)
    # max_size is a target (a benchmark, not a gate): the manifest says whether it was met
    if p["max_size"] and size > p["max_size"]:
        log.warning("ISO is %d bytes, over the recipe's size target %d (release builds use xz)",
                    size, p["max_size"])
    os.replace(tmp, out)


def pxe(runner: Runner, p: Mapping[str, Any]) -> None:
    out = p["out"]
    tmp = out + ".tmp"
    _rm(runner, tmp)
    kernel, initrd = _boot_files(p["root"])
    os.makedirs(tmp)
    runner.run(["cp", kernel, os.path.join(tmp, "vmlinuz")])
    runner.run(["cp", initrd, os.path.join(tmp, "initrd.img")])
    runner.run(["cp", p["squashfs"], os.path.join(tmp, "filesystem.squashfs")])
    for name, text in isoboot.pxe_configs(p["cmdline"]).items():
        runner.write_file(os.path.join(tmp, name), text)
    for src in isoboot.PXE_LOADERS:
        if os.path.exists(src):
            runner.run(["cp", src, tmp])
    for rel, name in isoboot.PXE_EFI_LOADERS:
        runner.run(["cp", os.path.join(p["root"], rel), os.path.join(tmp, name)])
    _publish_dir(runner, tmp, out)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Builder:
    """Runs a build plan's actions, timing each one; the manifest records the timings."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def actions(self) -> dict[str, Action]:
        from image_recipes import appliance

        table: dict[str, Callable[[Runner, Mapping[str, Any]], None]] = {
            "bootstrap": bootstrap, "prepare_base": prepare_base, "wheelhouse": wheelhouse, "stage": stage,
            "squashfs": squashfs, "sizes": sizes, "iso": iso, "pxe": pxe, "disk_image": appliance.disk_image,
            "manifest": self.manifest,
        }
        return {name: self._timed(name, fn) for name, fn in table.items()}

    def _timed(self, name: str, fn: Callable[[Runner, Mapping[str, Any]], None]) -> Action:
        def run(runner: Runner, params: Mapping[str, Any]) -> None:
            started = time.monotonic()
            log.info("image step %s: start", name)
            try:
                fn(runner, params)
            finally:
                self.timings[name] = round(time.monotonic() - started, 2)
                log.info("image step %s: %.1fs", name, self.timings[name])
        return run

    def manifest(self, runner: Runner, p: Mapping[str, Any]) -> None:
        packages = {}
        for line in _read(p["packages_file"]).splitlines():
            if "\t" in line:
                name, version = line.split("\t", 1)
                packages[name] = version
        pruned = json.loads(_read(p["pruned_file"]) or "{}")
        staged_pruned = json.loads(_read(p.get("stage_pruned_file", "")) or "[]") if p.get("stage_pruned_file") else []
        excluded = staged_pruned + (excluded_items(p["root"], p.get("squashfs_exclude", [])) if p.get("root") else [])
        biggest = json.loads(_read(p.get("sizes_file", "")) or "null") if p.get("sizes_file") else None
        artifacts = {}
        for path in p["artifacts"]:
            if os.path.isfile(path):
                artifacts[os.path.basename(path) if "/pxe/" not in path else "pxe/" + os.path.basename(path)] = {
                    "path": path, "size": os.path.getsize(path), "sha256": sha256_file(path)}
        target = p.get("max_size", 0)
        sizes = [a["size"] for name, a in artifacts.items() if name.endswith((".iso", ".qcow2"))]
        data = {
            "recipe": p["recipe"], "hcinode_version": __version__,
            "image_version": p.get("image_version") or __version__, "release": p["release"],
            "size_target": target, "size_target_met": bool(sizes) and (not target or max(sizes) <= target),
            "artifacts": artifacts, "step_seconds": dict(self.timings),
            "packages": packages, "pruned": pruned.get("pruned", []) + excluded,
            "pruned_bytes": pruned.get("pruned_bytes", 0) + sum(x["bytes"] for x in excluded),
            "iso_parts": iso_parts(p.get("iso_staging", "")),
            "biggest": biggest,
            "reproducibility": isoboot.REPRODUCIBILITY_NOTE,
        }
        out = p["out"]
        existing = json.loads(_read(out) or "{}")
        # one manifest for all recipes: keep the other recipes' sections
        builds = existing.get("builds", {}) if isinstance(existing, dict) else {}
        builds[p["recipe"]] = data
        merged = {"builds": builds, **data}
        runner.write_file(out, json.dumps(merged, indent=1, sort_keys=False) + "\n")


# Distributions the image gets from Debian packages (C bindings built against Debian's libraries)
DEBIAN_PROVIDED = frozenset({"pyudev", "six", "pyparted", "pygobject", "pycairo", "libvirt-python",
                             "sanlock-python"})


def python_requirements(project_dir: str | None = None, roots: tuple[str, ...] = ()) -> list[str]:
    """`name==version` for the project's runtime dependency closure that is not Debian's.

    Walks Requires-Dist from pyproject's dependencies (only those named in `roots`, when given: a
    recipe's `python.dependencies`) through the installed distributions (the versions tested in the
    venv); DEBIAN_PROVIDED ones come from apt packages in the image instead. Extras are not followed:
    psycopg's `binary` extra (a bundled libpq) stays out, the image's Debian libpq5 serves it.
    """
    import importlib.metadata as md
    import tomllib

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    project_dir = project_dir or default_project_dir()
    with open(os.path.join(project_dir, "pyproject.toml"), "rb") as f:
        declared = [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]
    queue = declared
    if roots:
        wanted = {_canonical(r) for r in roots}
        unknown = sorted(wanted - {_canonical(r.name) for r in declared})
        if unknown:
            raise ValueError(f"python.dependencies: not in pyproject.toml's dependencies: {', '.join(unknown)}")
        queue = [r for r in declared if _canonical(r.name) in wanted]
    env = {str(k): str(v) for k, v in default_environment().items()}
    seen: dict[str, str] = {}
    while queue:
        req = queue.pop()
        name = _canonical(req.name)
        if name in seen:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            seen[name] = ""
            continue
        if name in DEBIAN_PROVIDED:
            seen[name] = ""  # shipped as an apt package (see the recipe's python package set)
            continue
        seen[name] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or sub.marker.evaluate({**env, "extra": ""}):
                queue.append(sub)
    return sorted(v for v in seen.values() if v)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
