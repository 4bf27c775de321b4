"""InstallConfig: everything an install needs, as frozen dataclasses.

Kickstart (installer.kickstart) and the console's interactive installer both produce this one
object; checks, the storage plan and the install plan only ever look at it. Passwords are kept
only as crypt(3) hashes: a plaintext password is hashed the moment it is read (nodecore.passwords).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from nodecore.config import MULTILINE
from nodecore.secrets import Secret

MiB = 1024 * 1024

BootProto = Literal["dhcp", "static", "none"]
FinishAction = Literal["reboot", "poweroff"]
AutopartType = Literal["thinp", "lvm", "plain"]
ClearpartKind = Literal["none", "all", "linux", "list"]
GlusterRole = Literal["", "none", "replica", "arbiter"]
# `part swap --recommended` / `--hibernation`: the size comes from the machine's RAM (recommended_swap_mib)
SwapSize = Literal["", "recommended", "hibernation"]
GiB_MIB = 1024


@dataclass(frozen=True)
class NetworkDevice:
    # a kernel name (eno1), a MAC, "link" (first NIC with carrier) or "bootif" (the PXE NIC)
    device: str = ""
    bootproto: BootProto = "dhcp"
    ip: str = ""
    netmask: str = ""
    gateway: str = ""
    nameservers: tuple[str, ...] = ()
    ipv6: str = ""  # "", "auto", "dhcp" or "ADDR/PREFIX"
    ipv6gateway: str = ""
    noipv4: bool = False
    noipv6: bool = False
    vlanid: int | None = None
    interfacename: str = ""
    bondslaves: tuple[str, ...] = ()
    bondopts: str = ""  # kickstart form: "mode=802.3ad,miimon=100" (',' or ';' separated)
    bridgeslaves: tuple[str, ...] = ()
    bridgeopts: str = ""
    activate: bool = False
    onboot: bool = True
    mtu: int | None = None
    lineno: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        if self.bondslaves:
            return "bond"
        if self.bridgeslaves:
            return "bridge"
        if self.vlanid is not None:
            return "vlan"
        return "ethernet"

    @property
    def connection_name(self) -> str:
        """The name the first-boot connection gets (and the interface, for bonds/bridges/VLANs)."""
        if self.vlanid is not None:
            return self.interfacename or f"{self.device}.{self.vlanid}"
        return self.device


@dataclass(frozen=True)
class Network:
    devices: tuple[NetworkDevice, ...] = ()
    hostname: str = ""

    @property
    def virtual_names(self) -> frozenset[str]:
        """Interfaces the install creates (bonds, bridges, VLANs): a bond slave or bridge port with
        one of these names is that device, not a NIC of the machine."""
        return frozenset(d.connection_name for d in self.devices if d.kind != "ethernet")


@dataclass(frozen=True)
class RootPassword:
    hash: str = ""  # crypt(3) hash; "" = no password (then --lock is required)
    locked: bool = False


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str = ""
    groups: tuple[str, ...] = ()
    uid: int | None = None
    gecos: str = ""
    homedir: str = ""
    shell: str = ""
    locked: bool = False
    lineno: int = field(default=0, compare=False)


@dataclass(frozen=True)
class SshKey:
    username: str
    key: str


@dataclass(frozen=True)
class Time:
    timezone: str = "UTC"
    utc: bool = True
    ntpservers: tuple[str, ...] = ()
    nontp: bool = False


@dataclass(frozen=True)
class Partition:
    mountpoint: str  # "/boot", "/boot/efi", "biosboot", "swap", "pv.01", "/"
    size_mib: int = 0
    grow: bool = False
    maxsize_mib: int = 0
    fstype: str = ""
    ondisk: tuple[str, ...] = ()
    label: str = ""
    fsoptions: str = ""
    swap_size: SwapSize = ""
    lineno: int = field(default=0, compare=False)


@dataclass(frozen=True)
class VolumeGroup:
    name: str
    pvs: tuple[str, ...]
    pesize_kib: int = 0
    lineno: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LogicalVolume:
    mountpoint: str  # "none" for a thin pool
    name: str
    vgname: str
    size_mib: int = 0
    grow: bool = False
    percent: int = 0
    maxsize_mib: int = 0
    fstype: str = ""
    fsoptions: str = ""
    thinpool: bool = False
    thin: bool = False
    poolname: str = ""
    metadatasize_mib: int = 0
    chunksize_kib: int = 0
    swap_size: SwapSize = ""
    lineno: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Storage:
    zerombr: bool = False
    clearpart: ClearpartKind = "none"
    clearpart_drives: tuple[str, ...] = ()
    clearpart_list: tuple[str, ...] = ()
    initlabel: bool = False
    only_use: tuple[str, ...] = ()  # ignoredisk --only-use
    autopart: AutopartType | None = None
    autopart_fstype: str = ""
    reqpart_add_boot: bool | None = None  # None: no reqpart; False: reqpart; True: reqpart --add-boot
    partitions: tuple[Partition, ...] = ()
    volgroups: tuple[VolumeGroup, ...] = ()
    logvols: tuple[LogicalVolume, ...] = ()

    @property
    def explicit(self) -> bool:
        return bool(self.partitions or self.volgroups or self.logvols)


@dataclass(frozen=True)
class Bootloader:
    append: str = ""
    timeout: int | None = None
    location: Literal["mbr", "none", "partition", "boot"] = "mbr"

    def kernel_args(self, live_cmdline: str) -> str:
        """The installed system's kernel arguments: `--append`, plus the `console=` arguments the
        installer was booted with unless `--append` names a console itself (as anaconda does), so
        a node installed over a serial console keeps talking on it."""
        own = self.append.split()
        if any(a.startswith("console=") for a in own):
            return self.append
        consoles: list[str] = []
        for arg in live_cmdline.split():
            if arg.startswith("console=") and arg not in consoles:
                consoles.append(arg)
        return " ".join(own + consoles)


@dataclass(frozen=True)
class Payload:
    url: str = ""  # "" = the image on the boot media
    checksum: str = ""  # sha256 hex


@dataclass(frozen=True)
class Script:
    kind: Literal["pre", "post", "onerror"]
    body: str = field(metadata=MULTILINE)  # the only multi-line text of a kickstart
    interpreter: str = "/bin/sh"
    nochroot: bool = False
    erroronfail: bool = False
    log: str = ""
    lineno: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NodeSettings:
    """The %hcinode section: settings for what happens after the install (later features read these)."""

    engine_url: str = ""
    join_token: Secret | None = None
    ca_fingerprint: str = ""
    gluster_role: GlusterRole = ""


@dataclass(frozen=True)
class InstallConfig:
    network: Network = Network()
    rootpw: RootPassword = RootPassword()
    users: tuple[User, ...] = ()
    sshkeys: tuple[SshKey, ...] = ()
    time: Time = Time()
    keyboard: str = "us"
    lang: str = "en_US.UTF-8"
    storage: Storage = Storage()
    bootloader: Bootloader = Bootloader()
    payload: Payload = Payload()
    scripts: tuple[Script, ...] = ()
    finish: FinishAction = "reboot"
    text: bool = False
    eula_agreed: bool = False
    node: NodeSettings = NodeSettings()

    @property
    def hostname(self) -> str:
        return self.network.hostname

    def scripts_of(self, kind: str) -> tuple[Script, ...]:
        return tuple(s for s in self.scripts if s.kind == kind)

    def with_storage(self, storage: Storage) -> InstallConfig:
        return replace(self, storage=storage)


def recommended_swap_mib(memory_bytes: int, *, hibernation: bool = False, disk_mib: int | None = None) -> int:
    """Anaconda's swap suggestion (blivet/anaconda `swap_suggestion`): RAM up to 2 GiB -> twice the
    RAM, up to 8 GiB -> the RAM, up to 64 GiB -> half of it, more -> 4 GiB; hibernation adds the RAM
    (anaconda ignores it above 64 GiB). Without hibernation at most a tenth of `disk_mib`, so a small
    disk keeps room for the system."""
    mem = max(memory_bytes // MiB, 256)
    if mem <= 2 * GiB_MIB:
        swap = 2 * mem
    elif mem <= 8 * GiB_MIB:
        swap = mem
    elif mem <= 64 * GiB_MIB:
        swap = mem // 2
    else:
        swap = 4 * GiB_MIB
    if hibernation and mem <= 64 * GiB_MIB:
        swap += mem
    elif disk_mib is not None:
        swap = min(swap, disk_mib // 10)
    return max(swap, 256)
