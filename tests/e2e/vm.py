"""VM test harness: boot our images in QEMU and drive the serial console with pexpect.

How another test uses it (see tests/e2e/conftest.py for the fixtures)::

    from tests.e2e.vm import VM, Disk, make_disk

    def test_something(vm_factory, node_iso, tmp_path):          # fixtures from conftest.py
        disk = make_disk(tmp_path / "disk0.qcow2", "20G")        # qcow2 (or fmt="raw")
        vm = vm_factory("install", boot="pxe", firmware="bios",  # boot: iso | pxe | disk | kernel
                        kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                        http_files={"ks.cfg": "...kickstart text..."},   # served next to the PXE files
                        disks=[Disk(disk)], memory=2048)
        vm.start()
        vm.expect("hcinode 0.1.0", timeout=600)                  # regex; returns the match
        vm.sendline("")                                          # Enter (keys: vm.send_key("down"))
        vm.wait_exit(timeout=900)                                # the guest powered itself off
        # boot the installed disk alone (no ISO, no network boot), under UEFI this time:
        vm2 = vm_factory("installed", boot="disk", firmware="uefi", disks=[Disk(disk)])
        vm2.start(); vm2.expect("login:|hcinode"); vm2.poweroff()

- `boot="iso"`: the ISO (default build/node.iso) through the firmware and grub (default entry:
  console on tty0 and ttyS0). Extra kernel args are not possible through grub; use `boot="kernel"`:
  the ISO's kernel and initrd booted directly (`-kernel`/`-append`) with the ISO attached, so
  live-boot finds the medium exactly as on a real boot, plus your `kernel_args`.
- `boot="pxe"`: QEMU user-net TFTP of build/pxe (BIOS: iPXE runs build/pxe/boot.ipxe through a
  small wrapper that sets the HTTP base and your `kernel_args`; UEFI: OVMF loads shim, shim the
  signed grubnetx64, grub reads a grub/grub.cfg with the same settings and the menu);
  live-boot fetches the squashfs over HTTP from a server on 127.0.0.1 (`{http_port}` in
  kernel_args is replaced by its port).
- `boot="disk"`: the first of `disks`.
- `firmware="bios"` (SeaBIOS) or `"uefi"` (OVMF, a private copy of the variable store per VM).
- Networking: one virtio NIC on QEMU user-net with `restrict=on` (the guest reaches nothing
  outside; 10.0.2.2:{http_port} is forwarded to the harness's HTTP server only). `nics=2` adds
  more NICs (extra ones are unconnected to anything: `-netdev user,restrict=on`).
- Timeouts are bounded everywhere; `expect` raises `pexpect.TIMEOUT` with the tail of the serial
  log in the message. The whole serial log, the QEMU command line and stderr are written to the
  VM's log directory and kept under build/e2e-logs/<test>/ when a test fails.
- `hostfwd=[(host_port, 443)]` forwards 127.0.0.1:host_port to that port of the guest's DHCP
  address; `host_ports=[host_port]` lets another guest reach it as 10.0.2.2:host_port (a guestfwd
  relay to 127.0.0.1 only): two VMs on separate user-nets talk through the host's loopback.
- SSH: `ssh_to="10.0.2.50"` forwards a free port on 127.0.0.1 (`vm.ssh_port`) to that guest
  address's port 22 through user-net (`hostfwd` works with `restrict=on`; nothing but loopback is
  involved). `vm_ssh(vm, key, "command")` runs a command there with a key from `make_ssh_key` and a
  known_hosts file private to the VM (first contact accepts the guest's key, later ones verify it).
  While a test talks ssh only, `vm.drain_serial()` keeps reading the console so the guest never
  blocks on a full serial line (the log stays complete).
- `cpus`: the host's cores, at most 2 (`VM_CPUS`); TCG gives each vCPU a host thread.
- `allow_reboot=True` drops `-no-reboot`: a guest reboot restarts the guest in the same QEMU.
- KVM is used only when nodecore.kvmprobe says it really boots guests here; otherwise TCG.
- `vm.poweroff()` asks ACPI for a power-off and kills QEMU after a timeout; `vm.kill()` at once.
  The fixture kills every VM it made at the end of the test.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import os
import re
import shlex
import shutil
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pexpect

from nodecore.errors import CommandFailed
from nodecore.runner import CommandResult

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
NODE_ISO = BUILD / "node.iso"
PXE_DIR = BUILD / "pxe"
APPLIANCE = BUILD / "engine-appliance.qcow2"
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
QEMU = "qemu-system-x86_64"
TCG_CPU = "max,erms=off,fsrm=off"
# Each guest gets both of this machine's cores (TCG runs one host thread per vCPU): one vCPU
# serialized unsquashfs's threads, writeback and every boot unit (the update proof took 20 min
# with 1, about 9 with 2). The VM tests run one at a time (flock /tmp/hcinode-vm.lock).
VM_CPUS = min(2, os.cpu_count() or 1)

KEYS = {"enter": "\r", "up": "\x1b[A", "down": "\x1b[B", "right": "\x1b[C", "left": "\x1b[D",
        "tab": "\t", "esc": "\x1b", "backspace": "\x7f", "f2": "\x1bOQ", "f10": "\x1b[21~",
        "ctrl-c": "\x03", "ctrl-x": "\x18"}

# A relay for QEMU's guestfwd "cmd:": slirp runs it per guest connection with the connection on
# stdin/stdout; it pipes that to the HTTP server on 127.0.0.1 (and nowhere else).
RELAY = r"""
import os, select, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
fds = [0, s.fileno()]
while True:
    r, _, _ = select.select(fds, [], [], 300)
    if not r:
        break
    if 0 in r:
        data = os.read(0, 65536)
        if not data:
            s.shutdown(socket.SHUT_WR); fds.remove(0)
            if not fds: break
            continue
        s.sendall(data)
    if s.fileno() in r:
        data = s.recv(65536)
        if not data:
            break
        os.write(1, data)
"""


@dataclass(frozen=True)
class Disk:
    path: str | Path
    format: str = ""  # default: from the file name (.qcow2 -> qcow2, else raw)
    interface: str = "virtio"  # virtio (/dev/vdX) | scsi (/dev/sdX via virtio-scsi) | ide
    serial: str = ""
    readonly: bool = False
    sector_size: int = 0  # 4096: a 4Kn disk (logical and physical sectors of 4 KiB)

    def fmt(self) -> str:
        return self.format or ("qcow2" if str(self.path).endswith(".qcow2") else "raw")


def make_disk(path: str | Path, size: str = "20G", fmt: str = "", backing: str | Path | None = None) -> Path:
    """Create an empty sparse disk image (qcow2 or raw), optionally as an overlay of `backing`."""
    from nodecore.runner import LocalRunner

    path = Path(path)
    fmt = fmt or ("qcow2" if path.suffix == ".qcow2" else "raw")
    argv = ["qemu-img", "create", "-q", "-f", fmt]
    if backing:
        argv += ["-F", "qcow2", "-b", str(backing)]
    LocalRunner().run([*argv, str(path), size], timeout=60)
    return path


def kvm_usable() -> bool:
    if os.environ.get("HCINODE_E2E_ACCEL") in ("tcg", "kvm"):
        return os.environ["HCINODE_E2E_ACCEL"] == "kvm"
    from nodecore import kvmprobe

    cached = kvmprobe.cached_result()
    if cached is None:
        cached, _ = kvmprobe.probe(timeout=60)
    return bool(cached)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log = getattr(self.server, "access_log", None)
        if log is not None:
            log.write(f"{self.address_string()} {format % args}\n".encode())
            log.flush()


class HttpServer:
    """A threaded HTTP server for one directory on 127.0.0.1 (the guest sees it as 10.0.2.2)."""

    def __init__(self, directory: str | Path, access_log: Path | None = None) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.access_log = (  # type: ignore[attr-defined]
            open(access_log, "ab") if access_log else None)  # noqa: SIM115 - closed in close()
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.httpd.access_log:  # type: ignore[attr-defined]
            self.httpd.access_log.close()  # type: ignore[attr-defined]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@dataclass
class VM:
    name: str
    workdir: Path
    boot: str = "iso"  # iso | kernel | pxe | disk
    firmware: str = "bios"  # bios | uefi
    iso: Path | None = None
    pxe_dir: Path | None = None
    kernel_args: Sequence[str] = ()
    http_files: dict[str, str | bytes] = field(default_factory=dict)
    disks: Sequence[Disk] = ()
    memory: int = 1536
    cpus: int = VM_CPUS
    nics: int = 1
    extra_qemu: Sequence[str] = ()
    seed_iso: Path | None = None  # cloud-init NoCloud "cidata" image, attached as a read-only virtio disk
    child: pexpect.spawn | None = None
    http: HttpServer | None = None
    started_at: float = 0.0
    accel: str = ""
    ssh_to: str = ""  # guest address whose port 22 is forwarded to 127.0.0.1:ssh_port ("" = none)
    ssh_port: int = 0
    # (127.0.0.1 port, guest port) pairs forwarded to the guest's DHCP address (10.0.2.15)
    hostfwd: Sequence[tuple[int, int]] = ()
    # ports of 127.0.0.1 that the guest reaches as 10.0.2.2:PORT (another VM's hostfwd, e.g. the engine)
    host_ports: Sequence[int] = ()
    allow_reboot: bool = False  # without -no-reboot (a guest reboot does not end QEMU)
    drainer: tuple[threading.Event, threading.Thread] | None = None  # drain_serial's flag and thread

    # -- command line ------------------------------------------------------------------------

    def _http_dir(self) -> Path:
        """Served over HTTP and TFTP: the PXE files plus the test's own files."""
        d = self.workdir / "srv"
        d.mkdir(parents=True, exist_ok=True)
        if self.pxe_dir:
            # hard links (or copies), not symlinks: a `make iso` during the test replaces build/pxe
            for item in Path(self.pxe_dir).iterdir():
                target = d / item.name
                if target.exists():
                    continue
                if item.is_dir():  # the update e2e's per-version directories: 170 MB images, linked too
                    shutil.copytree(item, target, copy_function=_link_or_copy)
                    continue
                _link_or_copy(str(item), str(target))
        for name, content in self.http_files.items():
            path = d / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        return d

    def _args(self, port: int | None) -> list[str]:
        return [a.replace("{http_port}", str(port or 0)) for a in self.kernel_args]

    def qemu_argv(self) -> list[str]:
        kvm = kvm_usable()
        self.accel = "kvm" if kvm else "tcg"
        argv = [QEMU, "-name", self.name, "-machine", "q35", "-m", str(self.memory), "-smp", str(self.cpus),
                "-nodefaults", "-display", "none", *([] if self.allow_reboot else ["-no-reboot"]),
                "-chardev", "stdio,id=serial0,signal=off", "-serial", "chardev:serial0",
                "-monitor", f"unix:{self.workdir / 'monitor.sock'},server,nowait",
                "-device", "virtio-rng-pci"]
        # TCG: without ERMS/FSRM the guest kernel clears and copies pages with rep stosq/movsq instead
        # of byte-wise rep stosb, which TCG emulates very slowly (squashfs readahead stalled PID 1
        # for 20 s at a time: "soft lockup ... clear_page_erms")
        argv += ["-accel", "kvm"] if kvm else ["-accel", "tcg", "-cpu", TCG_CPU]
        if self.firmware == "uefi":
            vars_copy = self.workdir / "OVMF_VARS.fd"
            shutil.copyfile(OVMF_VARS, vars_copy)
            argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                     "-drive", f"if=pflash,format=raw,file={vars_copy}"]
        port = None
        if self.boot == "pxe" or self.http_files:
            self.http = HttpServer(self._http_dir(), self.workdir / "http-access.log")
            port = self.http.port
        # NIC 0: user-net with restrict=on: DHCP/TFTP work, nothing leaves the host; the HTTP server
        # is reachable as 10.0.2.2:<port> through a relay to 127.0.0.1 only
        # (the slirp host alias moves to 10.0.2.254 so that 10.0.2.2 is free for that forward)
        net = "user,id=n0,restrict=on,host=10.0.2.254"
        for relayed in ([port] if port else []) + list(self.host_ports):
            relay = self.workdir / "relay.py"
            relay.write_text(RELAY)
            net += f",guestfwd=tcp:10.0.2.2:{relayed}-cmd:{sys.executable} {relay} {relayed}"
        if self.boot == "pxe":
            assert self.pxe_dir, "boot=pxe needs pxe_dir"
            srv = self._http_dir()
            extra = " ".join(self._args(port))
            if self.firmware == "uefi":
                # OVMF's PXE loads shim (bootx64.efi), shim loads grubx64.efi (signed grubnetx64),
                # which reads grub/grub.cfg over TFTP: ours sets the HTTP base and our args, then
                # sources the menu (grub/hcinode.cfg). A new file: srv/ may hold links to build/pxe
                site = srv / "grub" / "grub.cfg"
                site.unlink(missing_ok=True)
                site.write_text(f'set hcinode_base=http://10.0.2.2:{port}\nset hcinode_extra="{extra}"\n'
                                "source $prefix/hcinode.cfg\n")
                net += f",tftp={srv},bootfile=bootx64.efi"
            else:
                (srv / "harness.ipxe").write_text(
                    f"#!ipxe\nset hcinode-base http://10.0.2.2:{port}\nset hcinode-extra {extra}\nchain boot.ipxe\n")
                net += f",tftp={srv},bootfile=harness.ipxe"
        if self.ssh_to:
            self.ssh_port = self.ssh_port or free_port()
            net += f",hostfwd=tcp:127.0.0.1:{self.ssh_port}-{self.ssh_to}:22"
        for host_port, guest_port in self.hostfwd:
            net += f",hostfwd=tcp:127.0.0.1:{host_port}-:{guest_port}"
        argv += ["-netdev", net, "-device", f"virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"
                 f"{',bootindex=1' if self.boot == 'pxe' else ''}"]
        for i in range(1, self.nics):
            argv += ["-netdev", f"user,id=n{i},restrict=on",
                     "-device", f"virtio-net-pci,netdev=n{i},mac=52:54:00:12:34:{0x56 + i:02x}"]
        has_scsi = any(d.interface == "scsi" for d in self.disks)
        if has_scsi:
            argv += ["-device", "virtio-scsi-pci,id=scsi0"]
        for i, disk in enumerate(self.disks):
            drive = f"file={disk.path},format={disk.fmt()},if=none,id=disk{i},cache=unsafe"
            if disk.readonly:
                drive += ",readonly=on"
            serial = f",serial={disk.serial}" if disk.serial else ""
            boot = ",bootindex=1" if (self.boot == "disk" and i == 0) else ""
            device = {"virtio": "virtio-blk-pci", "scsi": "scsi-hd", "ide": "ide-hd"}[disk.interface]
            sectors = (f",logical_block_size={disk.sector_size},physical_block_size={disk.sector_size}"
                       if disk.sector_size else "")
            argv += ["-drive", drive, "-device", f"{device},drive=disk{i}{serial}{sectors}{boot}"]
        if self.boot in ("iso", "kernel"):
            iso = self.iso or NODE_ISO
            argv += ["-drive", f"file={iso},format=raw,if=none,id=cd0,media=cdrom,readonly=on",
                     "-device", f"ide-cd,drive=cd0{',bootindex=1' if self.boot == 'iso' else ''}"]
        if self.boot == "kernel":
            media = self.workdir / "media"
            media.mkdir(exist_ok=True)
            from nodecore.runner import LocalRunner

            LocalRunner().run(["xorriso", "-osirrox", "on", "-indev", str(self.iso or NODE_ISO),
                               "-extract", "/live/vmlinuz", str(media / "vmlinuz"),
                               "-extract", "/live/initrd.img", str(media / "initrd.img")], timeout=120)
            append = " ".join(["boot=live", "quiet", "console=tty0", "console=ttyS0,115200n8",
                               *self._args(port)])
            argv += ["-kernel", str(media / "vmlinuz"), "-initrd", str(media / "initrd.img"), "-append", append]
        if self.seed_iso:
            # a virtio disk, not a CD: the cloud kernel of the appliance has no AHCI/ATAPI driver
            argv += ["-drive", f"file={self.seed_iso},format=raw,if=none,id=seed,readonly=on",
                     "-device", "virtio-blk-pci,drive=seed"]
        return argv + list(self.extra_qemu)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> VM:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = self.qemu_argv()
        (self.workdir / "qemu-cmdline.txt").write_text(shlex.join(argv) + "\n")
        self.serial_log = open(self.workdir / "serial.log", "wb")  # noqa: SIM115 - closed in kill()
        self.started_at = time.monotonic()
        self.child = pexpect.spawn(argv[0], argv[1:], timeout=60, maxread=65536, searchwindowsize=65536,
                                   logfile=self.serial_log, env={**os.environ, "TERM": "dumb"})
        return self

    def _require(self) -> pexpect.spawn:
        if self.child is None:
            raise RuntimeError(f"VM {self.name} is not started")
        return self.child

    def expect(self, pattern: str | Sequence[str], timeout: float = 300) -> re.Match[bytes] | None:
        """Wait for a regex (or any of several) on the serial console; raises with the log tail."""
        child = self._require()
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        try:
            child.expect(patterns, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            what = "timed out" if isinstance(exc, pexpect.TIMEOUT) else "QEMU exited"
            raise type(exc)(f"VM {self.name}: {what} after {timeout:.0f}s waiting for {patterns!r}; "
                            f"serial tail:\n{self.tail()}") from None
        match = child.match
        return match if isinstance(match, re.Match) else None

    def seconds_since_start(self) -> float:
        return time.monotonic() - self.started_at

    def send(self, text: str) -> None:
        self._require().send(text)

    def sendline(self, text: str = "") -> None:
        self._require().send(text + "\r")

    def send_key(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self._require().send(KEYS[key])
            time.sleep(0.1)

    def run_rc(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run a shell command on a console that is at a root shell; return (exit code, output)."""
        self.sendline(f"{OUTPUT_START_COMMAND}; {command}; echo __RC_$?__END")
        # the echoed command line shows "$?", not digits, so only the real output matches
        match = self.expect(r"__RC_(\d+)__END", timeout=timeout)
        return int(match.group(1)) if match else -1, command_output(self._require().before.decode(errors="replace"))

    def run(self, command: str, timeout: float = 60) -> str:
        return self.run_rc(command, timeout)[1]

    def ok(self, command: str, timeout: float = 180) -> str:
        """Run a command that must succeed; its output."""
        code, out = self.run_rc(command, timeout)
        assert code == 0, f"{command!r} exited {code}:\n{out}"
        return out

    def put_file(self, path: str, text: str) -> None:
        self.run(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}")

    def stale_files(self, package: str) -> list[str]:
        """Files of this tree's `package` that differ from the guest's copy (none when the ISO is
        current: `make e2e` rebuilds it first). The tests are about the shipped code: they never patch it."""
        where = self.ok(f"python3 -c 'import {package}, os; print(\"PKG=\" + os.path.dirname({package}.__file__))'")
        pkg = re.findall(r"PKG=(\S+)", where)[-1]
        guest = {n: h for h, n in re.findall(r"^([0-9a-f]{64})\s+(\S+\.py)\s*$",
                                             self.ok(f"cd {pkg} && sha256sum *.py"), re.M)}
        return [path.name for path in sorted((ROOT / package).glob("*.py"))
                if guest.get(path.name) != hashlib.sha256(path.read_bytes()).hexdigest()]

    def lvs(self, vg: str, columns: str) -> dict[str, list[str]]:
        """The guest's `lvs` of one VG: LV name -> the values of `columns` (lv_name first; sizes in
        MiB, e.g. "512.00m")."""
        out = self.ok(f"lvs --noheadings --separator '|' --units m -o {columns} {vg}")
        return {r.split("|")[0].strip(): [c.strip() for c in r.split("|")] for r in out.splitlines() if "|" in r}

    def tail(self, n: int = 3000) -> str:
        try:
            self.serial_log.flush()
            data = (self.workdir / "serial.log").read_bytes()[-n:]
        except (OSError, AttributeError):
            return ""
        return data.decode(errors="replace")

    def drain_serial(self) -> None:
        """Keep reading the serial console in the background (into the log) until QEMU exits or
        `stop_draining` is called.

        For tests that talk to the guest over ssh: unread console output would fill the pty and
        stall the guest's serial writes. No `expect` while it drains."""
        child = self._require()
        draining = threading.Event()
        draining.set()

        def loop() -> None:
            while draining.is_set():
                try:
                    child.read_nonblocking(65536, timeout=1)
                except pexpect.TIMEOUT:
                    continue
                except (pexpect.EOF, OSError, ValueError):
                    return

        thread = threading.Thread(target=loop, daemon=True, name=f"serial-{self.name}")
        thread.start()
        self.drainer = (draining, thread)

    def stop_draining(self) -> None:
        """Hand the serial console back to `expect` (e.g. to read the node's console screen)."""
        if self.drainer is not None:
            draining, thread = self.drainer
            draining.clear()
            thread.join(timeout=5)
            self.drainer = None

    def monitor(self, command: str) -> None:
        path = str(self.workdir / "monitor.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(path)
            s.sendall(command.encode() + b"\n")
            time.sleep(0.2)

    def wait_exit(self, timeout: float = 300) -> int | None:
        """Wait for QEMU to exit (the guest powered off; -no-reboot turns a reboot into an exit)."""
        child = self._require()
        try:
            child.expect(pexpect.EOF, timeout=timeout)
        except pexpect.TIMEOUT:
            raise pexpect.TIMEOUT(f"VM {self.name}: still running after {timeout:.0f}s; serial tail:\n"
                                  f"{self.tail()}") from None
        child.close()
        return child.exitstatus

    def poweroff(self, timeout: float = 60) -> None:
        """ACPI power button, then kill after `timeout`."""
        if self.child is None or not self.child.isalive():
            self.kill()
            return
        try:
            self.monitor("system_powerdown")
            self.wait_exit(timeout)
        except (OSError, pexpect.TIMEOUT):
            pass
        self.kill()

    def kill(self) -> None:
        if self.child is not None and self.child.isalive():
            try:
                self.monitor("quit")
                self.child.expect(pexpect.EOF, timeout=10)
            except (OSError, pexpect.TIMEOUT, pexpect.EOF):
                pass
            if self.child.isalive():
                self.child.terminate(force=True)
        if self.child is not None:
            self.child.close()
        if self.http:
            self.http.close()
            self.http = None
        if getattr(self, "serial_log", None):
            self.serial_log.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (QEMU binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class SshKey:
    path: Path  # private key (ed25519, no passphrase; lives in the test's scratch directory)
    public: str  # the public key line, for authorized_keys / kickstart `sshkey`


def make_ssh_key(directory: str | Path, comment: str = "hcinode-e2e") -> SshKey:
    from nodecore.runner import LocalRunner

    path = Path(directory) / "id_ed25519"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        LocalRunner().run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          timeout=60)
    return SshKey(path, path.with_suffix(".pub").read_text().strip())


def vm_ssh(vm: VM, key: SshKey, command: str, *, timeout: float = 300, check: bool = True,
           stdin: str | None = None, connect_timeout: int = 60, options: Sequence[str] = ()) -> CommandResult:
    """Run a shell command as root on the guest over the forwarded port.

    The guest makes its host keys at its first boot, so the first contact accepts the key into a
    known_hosts file of this VM alone (`accept-new`); every later connection, after a reboot too,
    must present the same key. Secrets go on `stdin`, never into `command` (it is in ssh's argv)."""
    from nodecore.runner import LocalRunner

    if not vm.ssh_port:
        raise RuntimeError(f"VM {vm.name} has no ssh forward (ssh_to=...)")
    argv = ["ssh", "-F", "/dev/null", "-i", str(key.path), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={vm.workdir / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=accept-new", "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=8", "-o", "LogLevel=ERROR",
            *options, "-p", str(vm.ssh_port), "root@127.0.0.1", command]
    return LocalRunner().run(argv, check=check, timeout=timeout, stdin=stdin)


def wait_for_ssh(vm: VM, key: SshKey, timeout: float = 900, command: str = "true") -> str:
    """Poll until `command` succeeds over ssh; returns its output (raises with the serial tail)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if vm.child is not None and not vm.child.isalive():
            break
        try:
            result = vm_ssh(vm, key, command, timeout=120, check=False, connect_timeout=30)
        except CommandFailed as exc:  # the ssh client itself timed out
            last = str(exc)
        else:
            if result.ok:
                return result.stdout
            last = result.stderr.strip()
        time.sleep(5)
    raise TimeoutError(f"VM {vm.name}: no ssh after {timeout:.0f}s ({last}); serial tail:\n{vm.tail()}")


# The shell echoes each command line, and on a serial console (no size, TERM=dumb) readline scrolls a
# long line sideways, mangling the echo. The output therefore starts after a marker that only the
# command's output contains: the echo shows it split by quotes.
OUTPUT_START = "__OUTPUT_START__"
OUTPUT_START_COMMAND = "printf '__OUTPUT_''START__\\n'"


def command_output(before: str) -> str:
    """What a command printed, from the console text before its end marker."""
    return before.rsplit(OUTPUT_START, 1)[-1].strip()


def root_shell(vm: VM) -> None:
    """Wait for the rescue shell on the serial console of a VM booted with systemd.unit=rescue.target.

    sulogin may first ask for Enter, and under load the guest may miss it, so Enter is repeated
    until the shell prompt shows."""
    shell = [r"root@\S*:\S*# ", r"bash-\S+# "]
    match = vm.expect([*shell, r"[Pp]ress Enter"], timeout=1200)
    deadline = time.monotonic() + 600
    while match is not None and b"nter" in match.group(0):
        vm.sendline("")
        try:
            match = vm.expect(shell, timeout=30)
        except pexpect.TIMEOUT:
            if time.monotonic() > deadline:
                raise
    time.sleep(2)
    vm.sendline("")
    # a wide terminal so readline does not scroll long command lines sideways
    vm.run("stty cols 1000 rows 50; export TERM=dumb PS1='# ' PAGER=cat SYSTEMD_PAGER=cat", timeout=60)
