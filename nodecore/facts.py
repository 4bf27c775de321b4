"""Read-only host facts: disks, NICs, memory, CPU and virtualization, firmware, boot media.

Everything is collected into plain frozen dataclasses that serialise to JSON and load back, so a
plan can be computed on a workstation against facts captured on the real node
(`hcinode facts --json > node.json`). Parsing functions take the raw text of their source
(lsblk JSON, /proc files) so tests feed them captures from other machines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodecore.runner import LocalRunner, Runner

LSBLK_COLUMNS = ("NAME,KNAME,PATH,TYPE,SIZE,MODEL,SERIAL,WWN,ROTA,LOG-SEC,PHY-SEC,TRAN,RM,RO,"
                 "FSTYPE,LABEL,UUID,PTTYPE,MOUNTPOINTS,HOTPLUG")
# Labels our boot media carry (ISO volume id / PXE has none): the installer must never target them.
BOOT_MEDIA_LABELS = ("HCINODE",)
LIVE_MEDIUM_MOUNT = "/run/live/medium"


@dataclass(frozen=True)
class BlockDevice:
    name: str
    path: str
    type: str  # disk, part, lvm, rom, loop, crypt, raid1 ...
    size: int
    fstype: str | None = None
    label: str | None = None
    uuid: str | None = None
    mountpoints: tuple[str, ...] = ()
    children: tuple[BlockDevice, ...] = ()

    def walk(self) -> list[BlockDevice]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


@dataclass(frozen=True)
class Disk:
    name: str
    path: str
    size: int
    model: str = ""
    serial: str = ""
    wwn: str = ""
    transport: str = ""  # nvme, sata, sas, usb, virtio ("" when lsblk does not say)
    rotational: bool = False
    removable: bool = False
    readonly: bool = False
    logical_sector_size: int = 512
    physical_sector_size: int = 512
    partition_table: str | None = None
    fstype: str | None = None  # a filesystem/PV signature straight on the disk
    children: tuple[BlockDevice, ...] = ()  # partitions and what is stacked on them (holders)
    is_boot_media: bool = False

    @property
    def mountpoints(self) -> tuple[str, ...]:
        return tuple(m for c in self.children for d in c.walk() for m in d.mountpoints)

    @property
    def in_use(self) -> bool:
        """Anything on it: a partition table, a signature, partitions, holders or mounts."""
        return bool(self.partition_table or self.fstype or self.children)

    @property
    def is_4kn(self) -> bool:
        return self.logical_sector_size == 4096

    def describe(self) -> str:
        from nodecore.config import human_size

        parts = [self.name, human_size(self.size)]
        if self.model:
            parts.append(self.model)
        if self.serial:
            parts.append(f"SN {self.serial}")
        if self.is_4kn:
            parts.append("4Kn")
        return " ".join(parts)


@dataclass(frozen=True)
class Nic:
    name: str
    mac: str
    driver: str = ""
    link: bool = False  # carrier present
    operstate: str = "unknown"
    speed_mbps: int | None = None
    mtu: int = 1500
    addresses: tuple[str, ...] = ()  # CIDR
    # udev's predictable names (ID_NET_NAME_PATH, ..._ONBOARD, ..._SLOT, ..._MAC) where known
    udev_names: Mapping[str, str] = field(default_factory=dict)
    virtual: bool = False


@dataclass(frozen=True)
class Cpu:
    model: str
    sockets: int
    cores: int
    threads: int
    virt_flag: str | None  # "vmx" (Intel VT-x), "svm" (AMD-V) or None
    kvm_device: bool  # /dev/kvm exists


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    memory_bytes: int
    cpu: Cpu
    firmware: str  # "uefi" | "bios"
    disks: tuple[Disk, ...]
    nics: tuple[Nic, ...]
    boot_media: str | None = None  # device path the live system booted from, if any
    kernel_cmdline: str = ""
    kvm_boots_guest: bool | None = None  # None: not probed (see nodecore.kvmprobe)
    # LVM volume group name -> its PV paths (lsblk cannot say which VG a PV is in); empty when
    # the LVM tools are missing or cannot read the disks (not root)
    volume_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def disk(self, name_or_path: str) -> Disk | None:
        wanted = name_or_path.removeprefix("/dev/")
        for d in self.disks:
            if d.name == wanted or d.path == name_or_path or (d.serial and d.serial == name_or_path) \
                    or (d.wwn and d.wwn == name_or_path):
                return d
        return None

    def nic(self, name_or_mac: str) -> Nic | None:
        for n in self.nics:
            if n.name == name_or_mac or n.mac.lower() == name_or_mac.lower():
                return n
        return None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostFacts:
        return cls(
            hostname=data["hostname"],
            memory_bytes=int(data["memory_bytes"]),
            cpu=Cpu(**data["cpu"]),
            firmware=data["firmware"],
            disks=tuple(_disk_from_dict(d) for d in data["disks"]),
            nics=tuple(Nic(**{**n, "addresses": tuple(n.get("addresses", ()))}) for n in data["nics"]),
            boot_media=data.get("boot_media"),
            kernel_cmdline=data.get("kernel_cmdline", ""),
            kvm_boots_guest=data.get("kvm_boots_guest"),
            volume_groups={vg: tuple(pvs) for vg, pvs in data.get("volume_groups", {}).items()},
        )

    @classmethod
    def from_json(cls, text: str) -> HostFacts:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str) -> HostFacts:
        """A facts file (`hcinode facts --json`) given as input: InvalidInput naming the line or
        field when it is missing, not JSON or of the wrong shape (the schema is the dataclasses)."""
        from nodecore.config import load_config
        from nodecore.inputs import InputError, read_input_text
        from nodecore.report import ValidationReport

        report = ValidationReport(path)
        facts = None
        try:
            facts = load_config(cls, json.loads(read_input_text(path)), report)
        except InputError as exc:
            report.error("(file)", f"cannot read: {exc.reason}", "capture the facts with 'hcinode facts --json > FILE'")
        except json.JSONDecodeError as exc:
            report.error(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}",
                         "capture the facts with 'hcinode facts --json > FILE'")
        except (RecursionError, ValueError) as exc:  # nesting, or an integer of more than 4300 digits
            report.error("(document)", f"not usable facts: {type(exc).__name__}",
                         "capture the facts with 'hcinode facts --json > FILE'")
        report.raise_if_errors()
        assert facts is not None
        return facts


def _blockdev_from_dict(d: Mapping[str, Any]) -> BlockDevice:
    return BlockDevice(**{**d, "mountpoints": tuple(d.get("mountpoints", ())),
                          "children": tuple(_blockdev_from_dict(c) for c in d.get("children", ()))})


def _disk_from_dict(d: Mapping[str, Any]) -> Disk:
    return Disk(**{**d, "children": tuple(_blockdev_from_dict(c) for c in d.get("children", ()))})


# --- parsing raw sources -------------------------------------------------------------------------

def _flag(value: Any) -> bool:
    # util-linux >= 2.37 prints JSON booleans; older versions print "0"/"1"
    return value in (True, 1, "1", "true")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _mounts(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(m for m in value if m)
    return (value,) if value else ()


def _blockdev(node: Mapping[str, Any]) -> BlockDevice:
    return BlockDevice(
        name=node["name"], path=node.get("path") or f"/dev/{node['name']}", type=node.get("type", ""),
        size=_int(node.get("size")), fstype=node.get("fstype"), label=node.get("label"),
        uuid=node.get("uuid"), mountpoints=_mounts(node.get("mountpoints", node.get("mountpoint"))),
        children=tuple(_blockdev(c) for c in node.get("children", ())))


# Device types that are never install or brick targets.
_SKIP_DISK_PREFIXES = ("zram", "ram", "loop", "sr", "fd", "nbd")


def parse_lsblk(text: str, boot_media: str | None = None) -> tuple[Disk, ...]:
    """Disks from `lsblk --json --bytes -o LSBLK_COLUMNS` output."""
    disks = []
    for node in json.loads(text).get("blockdevices", []):
        if node.get("type") != "disk" or node["name"].startswith(_SKIP_DISK_PREFIXES):
            continue
        tran = (node.get("tran") or "").strip()
        if not tran and node["name"].startswith("vd"):
            tran = "virtio"
        path = node.get("path") or f"/dev/{node['name']}"
        children = tuple(_blockdev(c) for c in node.get("children", ()))
        on_boot = bool(boot_media) and (path == boot_media or any(
            c.path == boot_media for child in children for c in child.walk()))
        labelled = node.get("label") in BOOT_MEDIA_LABELS or any(
            c.label in BOOT_MEDIA_LABELS for child in children for c in child.walk())
        disks.append(Disk(
            name=node["name"], path=path, size=_int(node.get("size")),
            model=(node.get("model") or "").strip(), serial=(node.get("serial") or "").strip(),
            wwn=(node.get("wwn") or "").strip(), transport=tran, rotational=_flag(node.get("rota")),
            removable=_flag(node.get("rm")) or _flag(node.get("hotplug")), readonly=_flag(node.get("ro")),
            logical_sector_size=_int(node.get("log-sec"), 512), physical_sector_size=_int(node.get("phy-sec"), 512),
            partition_table=node.get("pttype"), fstype=node.get("fstype"), children=children,
            is_boot_media=on_boot or labelled))
    return tuple(disks)


def parse_meminfo(text: str) -> int:
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def parse_cpuinfo(text: str, kvm_device: bool) -> Cpu:
    model, flags = "", set[str]()
    sockets, cores, threads = set(), set(), 0
    physical = "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            threads += 1
        elif key == "model name" and not model:
            model = value
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key == "physical id":
            physical = value
            sockets.add(value)
        elif key == "core id":
            cores.add((physical, value))
    virt = "vmx" if "vmx" in flags else "svm" if "svm" in flags else None
    return Cpu(model=model, sockets=max(len(sockets), 1), cores=max(len(cores), 1 if threads else 0),
               threads=threads, virt_flag=virt, kvm_device=kvm_device)


def _read(path: str, default: str = "") -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return default


def _udev_net_names(name: str) -> dict[str, str]:
    try:
        import pyudev  # Debian's python3-pyudev; optional so facts still work in a bare venv
    except ImportError:
        return {}
    try:
        device = pyudev.Devices.from_name(pyudev.Context(), "net", name)
    except Exception:  # noqa: BLE001 - udev database missing (containers): names are a bonus
        return {}
    return {k: str(v) for k, v in device.properties.items() if k.startswith("ID_NET_NAME")}


def read_nics(sysfs: str = "/sys/class/net", addresses: Mapping[str, tuple[str, ...]] | None = None) -> tuple[Nic, ...]:
    nics = []
    for name in sorted(os.listdir(sysfs)):
        base = os.path.join(sysfs, name)
        if name == "lo":
            continue
        driver_link = os.path.join(base, "device", "driver")
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else ""
        speed = _int(_read(os.path.join(base, "speed"), "-1"), -1)
        nics.append(Nic(
            name=name, mac=_read(os.path.join(base, "address")), driver=driver,
            link=_read(os.path.join(base, "carrier"), "0") == "1",
            operstate=_read(os.path.join(base, "operstate"), "unknown"),
            speed_mbps=speed if speed > 0 else None, mtu=_int(_read(os.path.join(base, "mtu")), 1500),
            addresses=tuple((addresses or {}).get(name, ())), udev_names=_udev_net_names(name),
            virtual=not os.path.exists(os.path.join(base, "device"))))
    return tuple(nics)


def parse_ip_addr(text: str) -> dict[str, tuple[str, ...]]:
    """`ip -json addr` -> {ifname: (cidr, ...)} (link-local IPv6 left out)."""
    out: dict[str, tuple[str, ...]] = {}
    for link in json.loads(text or "[]"):
        addrs = tuple(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", ())
                      if a.get("scope") != "link" and "local" in a)
        out[link["ifname"]] = addrs
    return out


def parse_pvs(text: str) -> dict[str, tuple[str, ...]]:
    """VG name -> PV paths from `pvs --reportformat json -o pv_name,vg_name` (PVs in no VG left out)."""
    try:
        rows = [pv for report in json.loads(text).get("report", []) for pv in report.get("pv", [])]
    except (ValueError, AttributeError):
        return {}
    out: dict[str, list[str]] = {}
    for row in rows:
        if row.get("vg_name"):
            out.setdefault(row["vg_name"], []).append(row["pv_name"])
    return {vg: tuple(sorted(pvs)) for vg, pvs in sorted(out.items())}


def find_boot_media(mounts_text: str) -> str | None:
    """The device live-boot mounted the boot medium from (ISO or USB stick), from /proc/mounts."""
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == LIVE_MEDIUM_MOUNT and fields[0].startswith("/dev/"):
            return fields[0]
    return None


def collect(runner: Runner | None = None) -> HostFacts:
    """Facts of this machine. Read-only: runs lsblk, ip and pvs, reads /proc and /sys."""
    runner = runner or LocalRunner()
    boot_media = find_boot_media(_read("/proc/mounts"))
    lsblk = runner.run(["lsblk", "--json", "--bytes", "-o", LSBLK_COLUMNS], timeout=30).stdout
    ip = runner.run(["ip", "-json", "addr"], check=False, timeout=10).stdout
    pvs = runner.run(["pvs", "--reportformat", "json", "-o", "pv_name,vg_name"], check=False,
                     timeout=60).stdout if shutil.which("pvs") else ""
    from nodecore.kvmprobe import cached_result

    return HostFacts(
        hostname=_read("/proc/sys/kernel/hostname") or os.uname().nodename,
        memory_bytes=parse_meminfo(_read("/proc/meminfo")),
        cpu=parse_cpuinfo(_read("/proc/cpuinfo"), os.path.exists("/dev/kvm")),
        firmware="uefi" if os.path.isdir("/sys/firmware/efi") else "bios",
        disks=parse_lsblk(lsblk, boot_media),
        nics=read_nics(addresses=parse_ip_addr(ip)),
        boot_media=boot_media,
        kernel_cmdline=_read("/proc/cmdline"),
        kvm_boots_guest=cached_result(),
        volume_groups=parse_pvs(pvs),
    )
