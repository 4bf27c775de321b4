"""The install's named actions: each takes (runner, params) and does one step on the target.

Commands go through the runner (the one place processes start); blivet runs in-process, as
anaconda uses it. Between steps, what the storage step created is kept in a small JSON file
(`devices_file`: kickstart name -> device path, fstype, mountpoint, options) so later steps,
and a re-run after an interruption, find the devices without guessing.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import time
from collections.abc import Mapping
from typing import Any

from installer.storage import Layout
from nodecore.errors import CommandFailed
from nodecore.runner import Runner
from nodecore.secrets import mask_url, redact

log = logging.getLogger("hcinode.installer")

# Bind mounts a chroot needs for update-initramfs, %post and the boot loader.
CHROOT_BINDS = ("/dev", "/dev/pts", "/proc", "/sys", "/run")
# Kernel modules the installed system's initramfs needs for a thin-LVM root (the live initrd only
# carries dm_mod) plus the file systems of the default layout.
INITRAMFS_MODULES = ("dm_mod", "dm_thin_pool", "dm_persistent_data", "dm_bio_prison", "dm_bufio", "ext4",
                     "xfs", "vfat")
GRUB_BIOS_MODULES = ("biosdisk part_gpt part_msdos ext2 xfs fat lvm search search_fs_uuid configfile normal "
                     "linux echo test serial terminal terminfo gzio boot reboot halt").split()
FSTYPE_MOUNT = {"efi": "vfat", "ext4": "ext4", "xfs": "xfs", "vfat": "vfat"}


def _devices(params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    with open(params["devices_file"], encoding="utf-8") as f:
        data: dict[str, dict[str, str]] = json.load(f)
    return data


# --- storage -----------------------------------------------------------------------------------

def _refuse_busy_disks(layout: Layout) -> None:
    """Last line of defence: never repartition a disk that is mounted or held (the live root, a data disk)."""
    with open("/proc/mounts", encoding="utf-8") as f:
        mounts = f.read().split("\n")
    for disk in layout.disks:
        name = os.path.basename(os.path.realpath(disk))
        mounted = [m.split()[0] for m in mounts if m and os.path.basename(m.split()[0]).startswith(name)]
        if mounted:
            raise RuntimeError(f"{disk} is in use ({', '.join(sorted(set(mounted)))} mounted); unmount it first")


def storage_apply(runner: Runner, params: Mapping[str, Any]) -> None:
    """Create the layout with blivet. Only the layout's disks are visible to blivet."""
    layout = Layout.from_dict(params["layout"])
    _refuse_busy_disks(layout)
    devices = apply_layout(layout)
    # make sure udev has made the /dev nodes before anything mounts them
    runner.run(["udevadm", "settle", "--timeout=60"], check=False)
    os.makedirs(os.path.dirname(params["devices_file"]), exist_ok=True)
    runner.write_file(params["devices_file"], json.dumps(devices, indent=1, sort_keys=True))


def apply_layout(layout: Layout) -> dict[str, dict[str, str]]:
    import blivet
    from blivet import partitioning
    from blivet.formats import get_format
    from blivet.size import Size

    def mib(n: int) -> Size:
        return Size(f"{max(n, 1)} MiB")

    b = blivet.Blivet()
    b.exclusive_disks = [os.path.basename(d) for d in layout.disks]  # blivet looks at nothing else
    b.reset()
    disks = {}
    for path in layout.disks:
        dev = b.devicetree.get_device_by_path(path)
        if dev is None:
            raise RuntimeError(f"blivet does not see disk {path}")
        disks[path] = dev
    for path in layout.clear:
        disk = disks[path]
        b.recursive_remove(disk)
        b.format_device(disk, get_format("disklabel", device=disk.path, label_type="gpt"))

    parts = {}
    for p in layout.partitions:
        fmt_type = {"lvmpv": "lvmpv", "biosboot": "biosboot", "efi": "efi", "swap": "swap"}.get(p.fstype, p.fstype)
        kwargs: dict[str, Any] = {"size": mib(p.size_mib), "parents": [disks[p.disk]], "fmt_type": fmt_type}
        if p.grow:
            kwargs["grow"] = True
            if p.maxsize_mib:
                kwargs["maxsize"] = mib(p.maxsize_mib)
            kwargs["size"] = mib(1 if p.fstype == "lvmpv" else p.size_mib)
        if p.mountpoint:
            kwargs["mountpoint"] = p.mountpoint
        if p.label:
            kwargs["fmt_args"] = {"label": p.label}
        dev = b.new_partition(**kwargs)
        b.create_device(dev)
        parts[p.name] = dev
    partitioning.do_partitioning(b)

    vgs = {}
    for vg in layout.vgs:
        dev = b.new_vg(parents=[parts[pv] for pv in vg.pvs], name=vg.name)
        b.create_device(dev)
        vgs[vg.name] = dev
    lvs = {}
    for lv in (lv for lv in layout.lvs if not lv.pool):
        kwargs = {"parents": [vgs[lv.vg]], "name": lv.name, "size": mib(lv.size_mib)}
        if lv.thinpool:
            kwargs["thin_pool"] = True
            if lv.metadatasize_mib:
                kwargs["metadata_size"] = mib(lv.metadatasize_mib)
            if lv.chunksize_kib:
                kwargs["chunk_size"] = Size(f"{lv.chunksize_kib} KiB")
        else:
            kwargs["fmt_type"] = lv.fstype
            if lv.mountpoint:
                kwargs["mountpoint"] = lv.mountpoint
        if lv.grow:
            kwargs["grow"] = True
            kwargs["size"] = mib(min(lv.size_mib, 1024))
        dev = b.new_lv(**kwargs)
        b.create_device(dev)
        lvs[(lv.vg, lv.name)] = dev
    for lv in (lv for lv in layout.lvs if lv.pool):
        kwargs = {"parents": [lvs[(lv.vg, lv.pool)]], "name": lv.name, "size": mib(lv.size_mib),
                  "thin_volume": True, "fmt_type": lv.fstype}
        if lv.fstype == "ext4":
            kwargs["fmt_args"] = {"create_options": " ".join(THIN_EXT4_OPTIONS)}
        if lv.mountpoint:
            kwargs["mountpoint"] = lv.mountpoint
        dev = b.new_lv(**kwargs)
        b.create_device(dev)
        lvs[(lv.vg, lv.name)] = dev
    partitioning.grow_lvm(b)
    for action in b.devicetree.actions.find():
        log.info("blivet: %s", action)
    b.do_it()

    out: dict[str, dict[str, str]] = {}
    for p in layout.partitions:
        out[p.name] = {"path": parts[p.name].path, "fstype": p.fstype, "mountpoint": p.mountpoint,
                       "options": p.fsoptions}
    for lv in layout.lvs:
        out[f"{lv.vg}/{lv.name}"] = {"path": lvs[(lv.vg, lv.name)].path, "fstype": lv.fstype,
                                     "mountpoint": lv.mountpoint, "options": lv.fsoptions}
    return out


# A new thin LV reads as zeros until written, so mke2fs (e2fsprogs >= 1.47) need not write the
# journal and inode tables nor leave the kernel's lazy init zeroing them after the mount: 64 MiB
# and 96 MiB for a 6 GiB root, written (and provisioned in the pool) for nothing otherwise.
THIN_EXT4_OPTIONS = ("-E", "assume_storage_prezeroed=1")


# --- mounting ----------------------------------------------------------------------------------

def _is_mounted(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == real for line in f if line.strip())


def mount_target(runner: Runner, params: Mapping[str, Any]) -> None:
    """Mount every file system of the layout under the target, parents first (idempotent)."""
    target = params["target"]
    mounts = sorted((d for d in _devices(params).values() if d["mountpoint"]),
                    key=lambda d: (d["mountpoint"] != "/", d["mountpoint"].count("/"), d["mountpoint"]))
    for d in mounts:
        where = os.path.join(target, d["mountpoint"].lstrip("/"))
        os.makedirs(where, exist_ok=True)
        if not _is_mounted(where):
            runner.run(["mount", "-t", FSTYPE_MOUNT.get(d["fstype"], d["fstype"]), d["path"], where])


def bind_system(runner: Runner, params: Mapping[str, Any]) -> None:
    target = params["target"]
    for src in CHROOT_BINDS:
        where = os.path.join(target, src.lstrip("/"))
        os.makedirs(where, exist_ok=True)
        if not _is_mounted(where):
            runner.run(["mount", "--bind", src, where])


def unmount_target(runner: Runner, params: Mapping[str, Any]) -> None:
    target = params["target"]
    runner.run(["sync"], check=False)
    if os.path.isdir(target) and _is_mounted(target):
        runner.run(["umount", "--recursive", target])


# --- payload -----------------------------------------------------------------------------------

def find_live_image(candidates: tuple[str, ...] = ("/run/live/medium/live/filesystem.squashfs",
                                                    "/run/live/medium/live/*.squashfs")) -> str:
    """The node image the live system runs from: on the medium, or behind the loop device of its root."""
    for pattern in candidates:
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    for backing in sorted(glob.glob("/sys/block/loop*/loop/backing_file")):
        with open(backing, encoding="utf-8") as f:
            path = f.read().strip()
        if path.endswith(".squashfs") and os.path.exists(path):
            return path
    raise RuntimeError("the node image (filesystem.squashfs) was not found on the boot media; "
                       "give 'liveimg --url=...' in the kickstart")


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(4 * 1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def fetch_payload(runner: Runner, params: Mapping[str, Any]) -> None:
    """Put the image where copy_payload finds it (download a liveimg URL) and verify its checksum."""
    from installer.sources import download

    dest = params["image"]
    url = params.get("url", "")
    downloaded = ""  # the sha256 of a download made now (hashed as it arrived)
    if url.startswith("file://"):
        src = url[len("file://"):]
    elif url:
        if not os.path.exists(dest):
            downloaded = download(url, dest)
        src = dest
    else:
        src = find_live_image()
    if src != dest:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.lexists(dest):
            os.remove(dest)
        os.symlink(src, dest)
    checksum = params.get("checksum", "")
    if checksum:
        actual = downloaded or sha256_file(dest)
        if actual != checksum:
            raise RuntimeError(f"the image checksum does not match: expected {checksum}, got {actual} ({src})")


def payload_kind(path: str) -> str:
    """squashfs (unpacked with unsquashfs) or a raw ext4/xfs image (block-copied)."""
    with open(path, "rb") as f:
        head = f.read(2048)
    if head[:4] in (b"hsqs", b"sqsh"):
        return "squashfs"
    if len(head) >= 1082 and head[1080:1082] == b"\x53\xef":
        return "ext4"
    if head[:4] == b"XFSB":
        return "xfs"
    raise RuntimeError(f"{path}: not a squashfs or file system image")


def copy_payload(runner: Runner, params: Mapping[str, Any]) -> None:
    """Copy the image onto the mounted target.

    squashfs: `unsquashfs -f` into the mounted root (it overwrites, so a re-run after a power
    loss halfway completes the copy). A file system image: block-copied onto the root device
    and grown (the root must be unmounted for that; see bench/install.py for the measurement
    that picked unsquashfs for the media we ship).
    """
    image = os.path.realpath(params["image"])
    target = params["target"]
    kind = payload_kind(image)
    started = time.monotonic()
    if kind == "squashfs":
        runner.run(["unsquashfs", "-f", "-n", "-d", target, image], timeout=3600)
        install_boot_files(runner, target, boot_file_sources(params.get("url", ""), params.get("kernel_cmdline", ""),
                                                             image_dir=os.path.dirname(image)))
    else:
        root = _devices(params)[params["root_name"]]
        raise_if_mounted = _is_mounted(target)
        if raise_if_mounted:
            runner.run(["umount", "--recursive", target])
        block_copy(runner, image, root["path"], kind)
        mount_target(runner, params)
    log.info("payload copied (%s) in %.1fs", kind, time.monotonic() - started)


# The node's squashfs leaves out /boot's kernel and initrd (27.5 MB): they are the same bytes the
# boot medium carries beside it for the boot loader (image_recipes recipe `squashfs.exclude`).
LIVE_BOOT_DIR = "/run/live/medium/live"
BOOT_FILES = (("vmlinuz", "vmlinuz-{version}"), ("initrd.img", "initrd.img-{version}"))


def boot_file_sources(payload_url: str, kernel_cmdline: str, medium: str = LIVE_BOOT_DIR,
                      image_dir: str = "") -> list[str]:
    """Where the kernel and initrd that belong to the image are, best first: beside a `liveimg
    --url` image (a build's pxe/ directory holds all three), beside the image file itself (an
    ISO's live/ or a pxe/ directory: what the update tool writes from), on the boot medium (ISO),
    beside the squashfs live-boot fetched (PXE: `fetch=` on the kernel command line)."""
    sources = []
    if payload_url:
        base = payload_url.rsplit("/", 1)[0]
        sources.append(base[len("file://"):] if base.startswith("file://") else base)
    if image_dir:
        sources.append(image_dir)
    sources.append(medium)
    m = re.search(r"(?:^|\s)fetch=(\S+)", kernel_cmdline)
    if m:
        sources.append(m.group(1).rsplit("/", 1)[0])
    return list(dict.fromkeys(s for s in sources if s))


def bzimage_version(path: str) -> str:
    """The kernel release of a bzImage ("6.1.0-57-amd64"), '' when it is not one: the setup
    header ("HdrS" at 0x202) points at the version string at 0x20e (offset from 0x200)."""
    try:
        with open(path, "rb") as f:
            head = f.read(0x4000)
            if head[0x202:0x206] != b"HdrS":
                return ""
            f.seek(0x200 + int.from_bytes(head[0x20E:0x210], "little"))
            text = f.read(256).split(b"\0", 1)[0].decode("ascii", "replace")
    except OSError:
        return ""
    return text.split(" ", 1)[0]


def _image_kernel_release(target: str) -> str:
    """The one kernel release the image has modules for; '' for an image without kernel modules
    (a payload that is not a bootable system, e.g. the integration tests' small trees)."""
    modules = os.path.join(target, "usr/lib/modules")
    if not os.path.isdir(modules):
        return ""
    releases = sorted(os.listdir(modules))
    if len(releases) != 1:
        raise RuntimeError(f"expected the modules of one kernel in the image, found {releases}")
    return releases[0]


def install_boot_files(runner: Runner, target: str, sources: list[str]) -> None:
    """Put the kernel and initrd of the image's kernel release into the target's /boot, from the
    first source that has both for that release (the kernel's own version string is checked)."""
    release = _image_kernel_release(target)
    if not release:
        log.info("the image has no kernel modules: no kernel of its own to install")
        return
    boot = os.path.join(target, "boot")
    wanted = [os.path.join(boot, name.format(version=release)) for _src, name in BOOT_FILES]
    if all(os.path.isfile(p) for p in wanted):
        return  # the image carries them
    from installer.sources import SourceError, download

    os.makedirs(boot, exist_ok=True)
    tried = []
    for source in sources:
        parts = [dest + ".part" for dest in wanted]
        try:
            for (name, _dest), part in zip(BOOT_FILES, parts, strict=True):
                if re.match(r"^https?://", source):
                    download(f"{source}/{name}", part, attempts=3, deadline=900.0)
                else:
                    runner.run(["cp", os.path.join(source, name), part])
        except (SourceError, CommandFailed, OSError) as exc:
            tried.append(f"{source}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        found = bzimage_version(parts[0])
        if found != release:
            tried.append(f"{source}: vmlinuz is kernel {found or 'unknown'}, the image has {release}")
            for part in parts:
                os.remove(part)
            continue
        for part, dest in zip(parts, wanted, strict=True):
            os.replace(part, dest)
        log.info("kernel and initrd %s installed from %s", release, source)
        return
    raise RuntimeError(f"the image has no kernel in /boot and no boot source has vmlinuz + initrd.img of "
                       f"{release} ({'; '.join(tried)}); put them beside the liveimg URL's image")


def block_copy(runner: Runner, image: str, device: str, kind: str) -> None:
    if kind == "ext4":
        # e2image copies only the used blocks of an ext4 image (sparse-aware), then the fs grows
        runner.run(["e2image", "-ra", "-p", image, device], timeout=3600)
        runner.run(["e2fsck", "-fy", device], check=False, timeout=600)
        runner.run(["resize2fs", device], timeout=600)
        runner.run(["tune2fs", "-U", "random", device])
    else:
        runner.run(["dd", f"if={image}", f"of={device}", "bs=4M", "conv=sparse,fsync", "status=none"],
                   timeout=3600)
        runner.run(["xfs_admin", "-U", "generate", device])


# --- configuration of the installed system ------------------------------------------------------

def blkid(runner: Runner, device: str, tag: str = "UUID") -> str:
    return runner.run(["blkid", "-s", tag, "-o", "value", device]).stdout.strip()


def fstab_text(devices: Mapping[str, Mapping[str, str]], uuids: Mapping[str, str]) -> str:
    lines = ["# /etc/fstab: written by the hcinode installer (file systems by UUID)",
             "# <file system>  <mount point>  <type>  <options>  <dump>  <pass>"]
    entries = sorted((d for d in devices.values() if d["mountpoint"] or d["fstype"] == "swap"),
                     key=lambda d: (d["fstype"] == "swap", d["mountpoint"].count("/") if d["mountpoint"] != "/"
                                    else 0, d["mountpoint"]))
    for d in entries:
        spec = f"UUID={uuids[d['path']]}"
        if d["fstype"] == "swap":
            lines.append(f"{spec}  none  swap  sw  0  0")
            continue
        fstype = FSTYPE_MOUNT.get(d["fstype"], d["fstype"])
        passno = 1 if d["mountpoint"] == "/" else (0 if fstype == "xfs" else 2)
        lines.append(f"{spec}  {d['mountpoint']}  {fstype}  {d['options'] or 'defaults'}  0  {passno}")
    return "\n".join(lines) + "\n"


def write_fstab(runner: Runner, params: Mapping[str, Any]) -> None:
    devices = _devices(params)
    uuids = {d["path"]: blkid(runner, d["path"]) for d in devices.values()
             if d["mountpoint"] or d["fstype"] == "swap"}
    runner.write_file(os.path.join(params["target"], "etc/fstab"), fstab_text(devices, uuids))


def reset_identity(runner: Runner, params: Mapping[str, Any]) -> None:
    """Each installed node gets its own machine-id (systemd makes it at first boot) and host keys."""
    target = params["target"]
    runner.write_file(os.path.join(target, "etc/machine-id"), "")
    for path in [os.path.join(target, "var/lib/dbus/machine-id"), *glob.glob(os.path.join(target,
                                                                                         "etc/ssh/ssh_host_*"))]:
        if os.path.lexists(path):
            os.remove(path)
    runner.write_file(os.path.join(target, "etc/default/locale"), f"LANG={params['lang']}\n")
    name = params["hostname"]
    runner.write_file(os.path.join(target, "etc/hosts"),
                      f"127.0.0.1\tlocalhost\n127.0.1.1\t{name} {name.split('.')[0]}\n"
                      "::1\tlocalhost ip6-localhost ip6-loopback\n")
    # the installed node never runs the live media's unattended-install unit
    wants = os.path.join(target, "etc/systemd/system/multi-user.target.wants/hcinode-install.service")
    if os.path.lexists(wants):
        os.remove(wants)
    # first boot of an installed node must not look like the live medium
    runner.write_file(os.path.join(target, "etc/hcinode/installed"),
                      json.dumps({"installed": int(time.time()),
                                  "kickstart": mask_url(params.get("source", ""))}) + "\n")


def first_boot_network(runner: Runner, params: Mapping[str, Any]) -> None:
    from installer.firstboot import write_node_settings

    write_node_settings(params["node"], params["target"], runner)


def first_boot_join(runner: Runner, params: Mapping[str, Any]) -> None:
    """The first-boot join file (0600: it holds the token), in the installed node's state dir."""
    from agent.join import FIRSTBOOT_FILE, firstboot_content

    path = os.path.join(params["target"], "var/lib/hcinode", FIRSTBOOT_FILE)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    runner.write_file(path, firstboot_content(params["engine_url"], params["ca_pin"], params["token"]).reveal(),
                      mode=0o600)


def set_accounts(runner: Runner, params: Mapping[str, Any]) -> None:
    """Root password (hash on stdin, never argv), users with groups, SSH keys."""
    from nodecore.secrets import Secret

    target = params["target"]
    chroot = ["chroot", target]
    def reveal(value: Any) -> str:
        return value.reveal() if isinstance(value, Secret) else str(value or "")

    if params["root_hash"]:
        runner.run([*chroot, "chpasswd", "-e"], stdin=Secret(f"root:{reveal(params['root_hash'])}"))
    if params["root_locked"]:
        runner.run([*chroot, "passwd", "-l", "root"])
    for user in params["users"]:
        exists = runner.run([*chroot, "getent", "passwd", user["name"]], check=False).ok
        for group in user["groups"]:
            if not runner.run([*chroot, "getent", "group", group], check=False).ok:
                runner.run([*chroot, "groupadd", group])
        if not exists:
            argv = [*chroot, "useradd", "--create-home", "--shell", user["shell"] or "/bin/bash"]
            if user["uid"] is not None:
                argv += ["--uid", str(user["uid"])]
            if user["gecos"]:
                argv += ["--comment", user["gecos"]]
            if user["homedir"]:
                argv += ["--home-dir", user["homedir"]]
            if user["groups"]:
                argv += ["--groups", ",".join(user["groups"])]
            runner.run([*argv, user["name"]])
        if user["hash"]:
            runner.run([*chroot, "chpasswd", "-e"], stdin=Secret(f"{user['name']}:{reveal(user['hash'])}"))
        if user["locked"]:
            runner.run([*chroot, "passwd", "-l", user["name"]])
    for name, keys in params["sshkeys"].items():
        home = "/root" if name == "root" else runner.run([*chroot, "getent", "passwd", name]).stdout.split(":")[5]
        ssh_dir = os.path.join(target, home.lstrip("/"), ".ssh")
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        runner.write_file(os.path.join(ssh_dir, "authorized_keys"), "\n".join(keys) + "\n", 0o600)
        if name != "root":
            runner.run([*chroot, "chown", "-R", f"{name}:", os.path.join(home, ".ssh")])


def make_initramfs(runner: Runner, params: Mapping[str, Any]) -> None:
    target = params["target"]
    conf = os.path.join(target, "etc/initramfs-tools/modules")
    existing = ""
    if os.path.exists(conf):
        with open(conf, encoding="utf-8") as f:
            existing = f.read()
    missing = [m for m in INITRAMFS_MODULES if m not in existing.split()]
    if missing:
        runner.write_file(conf, existing + "# added by the hcinode installer: a thin-LVM root\n"
                          + "\n".join(missing) + "\n")
    # The image's initramfs usually has them already (lvm2 and thin-provisioning-tools hooks): then
    # rebuilding it (minutes under emulation) is skipped; the modules file above covers future kernels.
    version = kernel_version(target)
    initrd = f"/boot/initrd.img-{version}"
    if initrd_recorded_thin_lvm(target, initrd):
        log.info("the initramfs is one the image build listed as activating a thin-LVM root; not rebuilding it")
        return
    # not one the build listed (another initrd, or an older image): list it (40-120 s under TCG)
    listing = runner.run(["chroot", target, "lsinitramfs", initrd], check=False, timeout=600)
    if listing.ok and lists_thin_lvm(listing.stdout):
        log.info("the initramfs already activates a thin-LVM root; not rebuilding it")
        return
    runner.run(["chroot", target, "update-initramfs", "-u", "-k", version], timeout=1800)


# What the image build found in the initrds it made (image_recipes.builder.prepare_base): sha256 ->
# {"name", "thin_lvm_root"}. An initrd with a listed sha256 needs no lsinitramfs on the node.
INITRD_RECORD = "usr/share/hcinode/initrds.json"


def lists_thin_lvm(listing: str) -> bool:
    """An `lsinitramfs` listing that can activate a thin-LVM root: dm-mod, dm-thin-pool and lvm."""
    return all(re.search(rf"/{m.replace('_', '[-_]')}\.ko", listing) for m in ("dm_mod", "dm_thin_pool")) \
        and "sbin/lvm" in listing


def initrd_recorded_thin_lvm(root: str, initrd: str) -> bool:
    path = os.path.join(root, initrd.lstrip("/"))
    try:
        with open(os.path.join(root, INITRD_RECORD), encoding="utf-8") as f:
            record = json.load(f)
        return bool(os.path.isfile(path) and record.get(sha256_file(path), {}).get("thin_lvm_root") is True)
    except (OSError, ValueError, AttributeError):
        return False


def kernel_version(target: str) -> str:
    kernels = sorted(glob.glob(os.path.join(target, "boot/vmlinuz-*")))
    if not kernels:
        raise RuntimeError(f"no kernel in {target}/boot: the image has none")
    return os.path.basename(kernels[-1]).removeprefix("vmlinuz-")


# While this file exists in /boot the install has not finished (interrupted, or a step failed):
# GRUB then refuses to boot the half-installed system and hands back to the firmware, which boots
# the next device (the install media or the network) instead. The last step removes it.
UNFINISHED_MARKER = "hcinode-install-unfinished"


_PARITY = {"n": "no", "o": "odd", "e": "even"}


def grub_serial_command(kernel_args: str) -> str:
    """GRUB's `serial` command for the kernel's serial console, '' when there is none.

    `console=ttyS1,9600n8` -> `serial --unit=1 --speed=9600 --word=8 --parity=no --stop=1` (the
    kernel's form is BBBBPNF: baud, parity n/o/e, bits); the last ttyS console wins, as in the kernel.
    """
    found = ""
    for arg in kernel_args.split():
        m = re.fullmatch(r"console=ttyS(\d+)(?:,(\d+)([noe])?([5-8])?)?", arg)
        if m:
            unit, speed, parity, word = m.group(1), m.group(2) or "115200", m.group(3) or "n", m.group(4) or "8"
            found = f"serial --unit={unit} --speed={speed} --word={word} --parity={_PARITY[parity]} --stop=1"
    return found


def grub_defaults(kernel_args: str, timeout: int) -> str:
    """/etc/default/grub for the installed system, so a later grub-mkconfig keeps the same kernel
    arguments and serial terminal as the grub.cfg the installer wrote."""
    # the file is sourced by a shell: every value quoted
    lines = ["# written by the hcinode installer (its grub.cfg is written directly; this keeps grub-mkconfig",
             "# in step with it)", "GRUB_DEFAULT=0", f"GRUB_TIMEOUT={int(timeout)}", "GRUB_DISTRIBUTOR=hcinode",
             f"GRUB_CMDLINE_LINUX={shlex.quote(kernel_args)}", "GRUB_CMDLINE_LINUX_DEFAULT=''"]
    serial = grub_serial_command(kernel_args)
    if serial:
        lines += ["GRUB_TERMINAL='console serial'", f"GRUB_SERIAL_COMMAND={shlex.quote(serial)}"]
    return "\n".join(lines) + "\n"


def grub_cfg(*, version: str, boot_uuid: str, boot_prefix: str, root_arg: str, append: str,
             timeout: int, hostname: str, guard: bool = False) -> str:
    serial = grub_serial_command(append)
    terminal = (f"{serial}\nterminal_input console serial\nterminal_output console serial\n"
                if serial else "")
    entries = f"""menuentry "hcinode ({hostname})" {{
    linux {boot_prefix}/vmlinuz-{version} {root_arg} ro {append}
    initrd {boot_prefix}/initrd.img-{version}
}}
menuentry "hcinode ({hostname}) rescue shell" {{
    linux {boot_prefix}/vmlinuz-{version} {root_arg} ro {append} systemd.unit=rescue.target
    initrd {boot_prefix}/initrd.img-{version}
}}
"""
    if guard:
        # The menu entries exist only in the else branch: should `exit` not hand back to the firmware
        # (BIOS GRUB has no sleep/exit in core.img: they are loaded from /boot/grub/i386-pc), GRUB
        # stops at an empty menu rather than boot the half-installed system.
        indented = "".join(f"    {line}\n" if line else "\n" for line in entries.splitlines())
        entries = f"""if [ -e {boot_prefix}/{UNFINISHED_MARKER} ]; then
    insmod sleep
    insmod minicmd
    echo "hcinode: the install on this disk did not finish (interrupted, or a step failed)."
    echo "Not booting it. Boot the install media and install again; the logs are in"
    echo "/var/log/hcinode-install on this disk. Trying the next boot device in 10 seconds."
    sleep 10
    exit
else
{indented}fi
"""
    return f"""# written by the hcinode installer
{terminal}set timeout={timeout}
set default=0
insmod part_gpt
insmod ext2
insmod xfs
search --no-floppy --fs-uuid --set=root {boot_uuid}

{entries}"""


def install_bootloader(runner: Runner, params: Mapping[str, Any]) -> None:
    """GRUB for BIOS (core.img in the BIOS boot partition) and for UEFI (Debian's signed shim +
    grub as the removable-media path, so the disk boots on any UEFI machine, Secure Boot too)."""
    target = params["target"]
    devices = _devices(params)
    by_mount = {d["mountpoint"]: d for d in devices.values() if d["mountpoint"]}
    boot = by_mount.get("/boot") or by_mount["/"]
    boot_prefix = "" if "/boot" in by_mount else "/boot"
    boot_uuid = blkid(runner, boot["path"])
    root = by_mount["/"]
    root_arg = f"root={root['path']}" if root["path"].startswith("/dev/mapper/") else \
        f"root=UUID={blkid(runner, root['path'])}"
    version = kernel_version(target)
    grub_dir = os.path.join(target, "boot/grub")
    os.makedirs(grub_dir, exist_ok=True)
    guard = bool(params.get("guard"))
    if guard:  # before GRUB can boot anything: removed by finish_bootloader, the install's last step
        runner.write_file(os.path.join(target, "boot", UNFINISHED_MARKER),
                          "the hcinode install on this disk has not finished; see /var/log/hcinode-install\n")
    cfg = grub_cfg(version=version, boot_uuid=boot_uuid, boot_prefix=boot_prefix, root_arg=root_arg,
                   append=params["append"], timeout=params["timeout"], hostname=params["hostname"], guard=guard)
    runner.write_file(os.path.join(grub_dir, "grub.cfg"), cfg)
    runner.write_file(os.path.join(target, "etc/default/grub"), grub_defaults(params["append"], params["timeout"]))
    early = (f"search --no-floppy --fs-uuid --set=root {boot_uuid}\n"
             f"set prefix=($root){boot_prefix}/grub\nconfigfile $prefix/grub.cfg\n")

    has_bios_boot = any(d["fstype"] == "biosboot" for d in devices.values())
    if has_bios_boot and params["location"] != "none":
        lib = _grub_lib(target, "i386-pc")
        pc_dir = os.path.join(grub_dir, "i386-pc")
        os.makedirs(pc_dir, exist_ok=True)
        for mod in glob.glob(os.path.join(lib, "*.mod")) + glob.glob(os.path.join(lib, "*.lst")):
            shutil.copy(mod, pc_dir)
        shutil.copy(os.path.join(lib, "boot.img"), pc_dir)
        early_path = os.path.join(pc_dir, "early.cfg")
        runner.write_file(early_path, early)
        runner.run(["grub-mkimage", "-O", "i386-pc", "-d", lib, "-c", early_path, "-p", f"{boot_prefix}/grub",
                    "-o", os.path.join(pc_dir, "core.img"), *GRUB_BIOS_MODULES])
        for disk in params["disks"]:
            runner.run([os.path.join(lib, "grub-bios-setup") if os.path.exists(os.path.join(lib, "grub-bios-setup"))
                        else "grub-bios-setup", "--directory", pc_dir, "--skip-fs-probe", disk])

    esp = by_mount.get("/boot/efi")
    if esp and params["location"] != "none":
        efi = os.path.join(target, "boot/efi/EFI")
        shim = _first_existing(target, "usr/lib/shim/shimx64.efi.signed", "usr/lib/shim/shimx64.efi")
        grub = _first_existing(target, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
        mok = _first_existing(target, "usr/lib/shim/mmx64.efi.signed", "usr/lib/shim/mmx64.efi")
        for sub in ("BOOT", "debian"):
            os.makedirs(os.path.join(efi, sub), exist_ok=True)
            runner.write_file(os.path.join(efi, sub, "grub.cfg"), early)
        if shim and grub:
            for src, dst in ((shim, "BOOT/BOOTX64.EFI"), (grub, "BOOT/grubx64.efi"), (shim, "debian/shimx64.efi"),
                             (grub, "debian/grubx64.efi")):
                shutil.copy(src, os.path.join(efi, dst))
            if mok:
                shutil.copy(mok, os.path.join(efi, "BOOT/mmx64.efi"))
                shutil.copy(mok, os.path.join(efi, "debian/mmx64.efi"))
        else:  # no signed binaries in the image: an unsigned grub (no Secure Boot)
            lib = _grub_lib(target, "x86_64-efi")
            runner.run(["grub-mkimage", "-O", "x86_64-efi", "-d", lib, "-p", "/EFI/debian", "-o",
                        os.path.join(efi, "BOOT/BOOTX64.EFI"), *(m for m in GRUB_BIOS_MODULES if m != "biosdisk"),
                        "efi_gop", "part_gpt", "fat"])
        if params["firmware"] == "uefi" and os.path.isdir("/sys/firmware/efi/efivars") and shim:
            # a named boot entry as well; the removable path above boots even without it
            add_efi_boot_entry(runner, esp["path"])


EFI_LABEL = "hcinode"
EFI_LOADER = "\\EFI\\debian\\shimx64.efi"


def efi_entries(listing: str, label: str = EFI_LABEL) -> list[str]:
    """Boot numbers of the entries called `label` in `efibootmgr` output ("Boot0004* hcinode\t...")."""
    return re.findall(rf"^Boot([0-9A-Fa-f]{{4}})\*?\s+{re.escape(label)}(?:\t|[ \t]*$|\s+HD\()", listing, re.M)


def add_efi_boot_entry(runner: Runner, esp_device: str) -> None:
    """One NVRAM entry "hcinode" for shim on the ESP, first in BootOrder (efibootmgr puts it there).
    Entries of an earlier, interrupted run are removed first, so re-runs do not pile them up."""
    disk, partno = _disk_and_partition(esp_device)
    if not disk:
        log.warning("no EFI boot entry: %s is not a partition", esp_device)
        return
    for number in efi_entries(runner.run(["efibootmgr"], check=False).stdout):
        runner.run(["efibootmgr", "--quiet", "--bootnum", number, "--delete-bootnum"], check=False)
    created = runner.run(["efibootmgr", "--create", "--disk", disk, "--part", partno, "--label", EFI_LABEL,
                          "--loader", EFI_LOADER], check=False)
    entries = efi_entries(runner.run(["efibootmgr"], check=False).stdout)
    if not entries:
        # not fatal: the removable path EFI/BOOT/BOOTX64.EFI boots the disk without an entry
        log.warning("efibootmgr did not create the %s boot entry: %s", EFI_LABEL,
                    (created.stderr or created.stdout).strip()[-300:])
        return
    log.info("EFI boot entry Boot%s %s -> %s partition %s %s", entries[0], EFI_LABEL, disk, partno, EFI_LOADER)


def finish_bootloader(runner: Runner, params: Mapping[str, Any]) -> None:
    """The install's last step on the target: from now on GRUB boots the installed system."""
    marker = os.path.join(params["target"], "boot", UNFINISHED_MARKER)
    if os.path.lexists(marker):
        os.remove(marker)
    runner.run(["sync"], check=False)


def _grub_lib(target: str, platform: str) -> str:
    for base in (os.path.join(target, "usr/lib/grub", platform), os.path.join("/usr/lib/grub", platform)):
        if os.path.isdir(base):
            return base
    raise RuntimeError(f"GRUB for {platform} is not installed in the image (grub-pc-bin / grub-efi-amd64-bin)")


def _first_existing(target: str, *paths: str) -> str:
    for rel in paths:
        for base in (target, "/"):
            path = os.path.join(base, rel)
            if os.path.exists(path):
                return path
    return ""


def _disk_and_partition(dev: str) -> tuple[str, str]:
    name = os.path.basename(os.path.realpath(dev))
    sys_part = f"/sys/class/block/{name}/partition"
    if not os.path.exists(sys_part):
        return "", ""
    with open(sys_part, encoding="utf-8") as f:
        partno = f.read().strip()
    parent = os.path.basename(os.path.dirname(os.path.realpath(f"/sys/class/block/{name}")))
    return f"/dev/{parent}", partno


def run_post(runner: Runner, params: Mapping[str, Any]) -> None:
    from installer.config import Script
    from installer.scripts import run_script

    log_dir = params["log_dir"]
    for i, s in enumerate(params["scripts"], 1):
        script = Script(kind="post", body=s["body"], interpreter=s["interpreter"], nochroot=s["nochroot"],
                        erroronfail=s["erroronfail"], log=s["log"], lineno=s["lineno"])
        run_script(script, i, runner, log_dir=log_dir, target=params["target"],
                   env={"HCINODE_TARGET": params["target"]})


def keep_logs(runner: Runner, params: Mapping[str, Any]) -> None:
    """The install log, script logs and the kickstart (passwords as hashes only) go to the target."""
    keep_logs_on_target(runner, params["target"], params["log_dir"], params.get("extra", ()))


TARGET_LOG_DIR = "var/log/hcinode-install"
# Only logs that cannot hold a secret go onto the disk (nothing else in the work dir is copied):
# - hcinode-ks.cfg: the kickstart as we rendered it: passwords as crypt hashes, no join token;
# - ks-script-*.log: what the kickstart's own scripts printed (anaconda keeps these too);
# - hcinode.log (given as `extra`): our log, INFO lines written through the redacting formatter;
#   no key press or form value is ever logged (nodecore.cli.setup_logging).
# Not copied: the *.script bodies (the kickstart's text again, as run) and anything unknown.
# Every file is copied through redact() as well (a script may echo a password of the kickstart;
# the hashes are masked too) and kept 0600 in a 0700 directory.
KEPT_LOGS = ("hcinode-ks.cfg", "ks-script-*.log")


def keep_logs_on_target(runner: Runner, target: str, log_dir: str, extra: Any = ()) -> str:
    dest = os.path.join(target, TARGET_LOG_DIR)
    os.makedirs(dest, mode=0o700, exist_ok=True)
    os.chmod(dest, 0o700)
    sources = [path for pattern in KEPT_LOGS for path in sorted(glob.glob(os.path.join(log_dir, pattern)))]
    for src in [*sources, *extra]:
        if os.path.isfile(src):
            with open(src, encoding="utf-8", errors="replace") as f:
                text = f.read()
            runner.write_file(os.path.join(dest, os.path.basename(src)), redact(text), 0o600)
    runner.run(["sync"], check=False)  # a failed install may be powered off next: the logs must be on disk
    return dest


def target_root_mounted(target: str) -> bool:
    """The installed system's root file system is mounted on `target` (logs can go onto the disk)."""
    return os.path.isdir(target) and _is_mounted(target)


def mounted_device(path: str) -> str:
    """The device mounted at `path` or at the nearest mount point above it ('' if none)."""
    best, device = "", ""
    real = os.path.realpath(path)
    with open("/proc/mounts", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and (real == fields[1] or real.startswith(fields[1].rstrip("/") + "/")) \
                    and len(fields[1]) > len(best):
                best, device = fields[1], fields[0]
    return device


ACTIONS = {
    "storage_apply": storage_apply,
    "mount_target": mount_target,
    "bind_system": bind_system,
    "fetch_payload": fetch_payload,
    "copy_payload": copy_payload,
    "write_fstab": write_fstab,
    "reset_identity": reset_identity,
    "first_boot_network": first_boot_network,
    "first_boot_join": first_boot_join,
    "set_accounts": set_accounts,
    "make_initramfs": make_initramfs,
    "install_bootloader": install_bootloader,
    "finish_bootloader": finish_bootloader,
    "run_post": run_post,
    "keep_logs": keep_logs,
    "unmount_target": unmount_target,
}
