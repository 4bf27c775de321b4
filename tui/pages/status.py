"""Status: what a technician checks first on a server console."""

from __future__ import annotations

from typing import Any

import urwid

from nodecore.config import human_size
from nodecore.facts import Disk, HostFacts
from tui.framework import Page, register
from tui.pages import scroll
from tui.widgets import kv, table, title

REFRESH_EVERY = 10  # seconds between re-reads while the Status page is shown


def management_addresses(facts: HostFacts) -> list[str]:
    """Every address on the node (bridges and bonds included), physical NICs first."""
    nics = sorted(facts.nics, key=lambda n: (n.virtual, n.name))
    return [f"{n.name} {a}" for n in nics for a in n.addresses]


def virtualization(facts: HostFacts) -> tuple[str, str]:
    """(text, attr): hardware virtualization as a technician needs to know it."""
    cpu = facts.cpu
    flag = {"vmx": "Intel VT-x", "svm": "AMD-V"}.get(cpu.virt_flag or "", "")
    if not flag:
        return "no VT-x/AMD-V: enable virtualization in the firmware setup", "error"
    if not cpu.kvm_device:
        return f"{flag}, but /dev/kvm is missing (kvm module not loaded)", "warning"
    if facts.kvm_boots_guest is False:
        return f"{flag}, /dev/kvm present, but KVM does not boot guests", "warning"
    return f"{flag}, /dev/kvm present", "ok"


def disk_use(d: Disk) -> str:
    if d.is_boot_media:
        return "boot media"
    if "/" in d.mountpoints:
        return "system"
    if d.mountpoints:
        return ", ".join(d.mountpoints)
    return "has data" if d.in_use else "empty"


@register
class StatusPage(Page):
    name = "Status"
    rank = 10
    hotkey = "s"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.live: dict[str, Any] = {}
        self._reading = False
        self._ticks = 0
        self.clock = urwid.Text("")

    def model(self) -> dict[str, Any]:
        f = self.ctx.facts
        return {"hostname": f.hostname, "version": self.ctx.version, "addresses": management_addresses(f),
                "virtualization": virtualization(f)[0], **self.live}

    def on_show(self) -> None:
        if self._reading:
            return
        self._reading = True
        services, collect = self.ctx.services, self.ctx.collect_facts

        def read(_report: Any) -> dict[str, Any]:
            live: dict[str, Any] = {"vms": services.running_vms(), "ntp": services.ntp_status(),
                                    "cluster": services.cluster_status(), "storage": services.storage_status(),
                                    "hosted_engine": services.hosted_engine_status()}
            if collect is not None:  # addresses come and go (DHCP, links): read the machine again
                live["facts"] = collect()
            return live

        def got(live: dict[str, Any]) -> None:
            self._reading = False
            if "facts" in live:
                self.ctx.facts = live.pop("facts")
            if live != self.live or collect is not None:
                self.live = live
                self.invalidate()

        def failed(exc: BaseException) -> None:
            self._reading = False
            self.live = {"vms": None, "ntp": f"unknown ({exc})"}

        self.ctx.worker.submit(read, on_done=got, on_error=failed, name="status")

    def tick(self) -> None:
        self.clock.set_text(("value", self.ctx.clock().strftime("%Y-%m-%d %H:%M:%S UTC")))
        self._ticks += 1
        if self._ticks % self.app.refresh_every(REFRESH_EVERY) == 0:
            self.on_show()

    def content(self) -> urwid.Widget:
        f = self.ctx.facts
        m = self.model()
        virt_text, virt_attr = virtualization(f)
        cpu = f.cpu
        vms = self.live.get("vms", "checking ...")
        vm_text = "libvirt not running" if vms is None else (str(len(vms)) if isinstance(vms, list) else vms)
        addresses = m["addresses"] or ["none: configure the network (Alt-N)"]
        self.clock = urwid.Text(("value", self.ctx.clock().strftime("%Y-%m-%d %H:%M:%S UTC")))
        rows: list[urwid.Widget] = [
            title("Node status"),
            urwid.Divider(),
            kv("Hostname", f.hostname),
            kv("Version", f"hcinode {self.ctx.version}"),
            kv("Management", addresses[0], "value" if m["addresses"] else "warning"),
            *[kv("", a) for a in addresses[1:]],
            kv("Virtualization", virt_text, virt_attr),
            kv("CPU", cpu.model),
            kv("", f"{cpu.sockets} socket(s), {cpu.cores} cores, {cpu.threads} threads"),
            kv("Memory", human_size(f.memory_bytes)),
            kv("Firmware", f.firmware.upper()),
            kv("Running VMs", vm_text),
            kv("Cluster", self.live.get("cluster", "checking ...")),
            kv("Storage", self.live.get("storage", "checking ...")),
            *([kv("Hosted engine", self.live["hosted_engine"])] if self.live.get("hosted_engine") else []),
            urwid.Columns([(20, urwid.Text(("label", "Time"))), self.clock]),
            kv("NTP", self.live.get("ntp", "checking ...")),
            urwid.Divider(),
            title("Disks"),
        ]
        disk_rows = []
        for d in f.disks:
            use = disk_use(d)
            disk_rows.append([d.name, human_size(d.size), d.model or "-", use])
        rows += table(["Name", "Size", "Model", "Use"], disk_rows, [10, 10, 26])
        return scroll(rows)
