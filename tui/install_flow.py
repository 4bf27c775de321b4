"""Controller of the interactive installer: the console's answers -> one `installer.InstallConfig`.

The screens collect `Answers`; `to_install_config` turns them into exactly the InstallConfig a
kickstart with the same content produces (the installer checks, plans and applies only that), and
`kickstart_text` shows the equivalent kickstart. Checks come from `installer.checks`, so the
console and `hcinode install --kickstart` reject the same things with the same words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodecore.executor import Action, ExecutionResult, ProgressCallback
from nodecore.facts import Disk, HostFacts
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import Secret

if TYPE_CHECKING:
    from installer.config import InstallConfig
    from installer.install import Install
    from installer.plan import Paths


@dataclass
class Answers:
    action: str = "install"  # install | rescue | reboot
    keyboard: str = "us"
    timezone: str = "UTC"
    ntp_servers: tuple[str, ...] = ()
    disks: tuple[str, ...] = ()  # disk names
    nic: str = ""  # "" = the first NIC with a link
    bootproto: str = "dhcp"  # dhcp | static
    address: str = ""  # CIDR, e.g. 192.0.2.10/24
    gateway: str = ""
    dns: tuple[str, ...] = ()
    hostname: str = ""
    password: Secret | None = None
    password_hash: str = field(default="", repr=False)
    # kernel arguments the installed node boots with: the live system's console= arguments, so a
    # node installed over a serial line keeps its serial console (as anaconda does)
    append: str = ""


def console_args(facts: HostFacts) -> str:
    return " ".join(a for a in facts.kernel_cmdline.split() if a.startswith("console="))


def candidate_disks(facts: HostFacts) -> list[Disk]:
    """Disks shown on the target page: everything but removable media we booted from."""
    return [d for d in facts.disks if d.size > 0]


def default_nic(facts: HostFacts) -> str:
    physical = [n for n in facts.nics if not n.virtual]
    candidates = [n for n in physical if n.link] or physical
    return candidates[0].name if candidates else ""


def split_list(text: str) -> tuple[str, ...]:
    return tuple(x for x in text.replace(",", " ").split() if x)


def to_install_config(a: Answers) -> InstallConfig:
    from installer.config import (
        Bootloader,
        InstallConfig,
        Network,
        NetworkDevice,
        RootPassword,
        Storage,
        Time,
    )
    from nodecore.passwords import hash_password

    ip = netmask = ""
    if a.bootproto == "static" and a.address:
        try:
            iface = ipaddress.ip_interface(a.address if "/" in a.address else f"{a.address}/24")
            ip, netmask = str(iface.ip), str(iface.netmask)
        except ValueError:
            ip = a.address  # the installer's check names it
    device = NetworkDevice(device=a.nic or "link", bootproto="static" if a.bootproto == "static" else "dhcp",
                           ip=ip, netmask=netmask, gateway=a.gateway if a.bootproto == "static" else "",
                           nameservers=a.dns, activate=True, onboot=True)
    if a.password is not None and not a.password_hash:
        a.password_hash = hash_password(a.password.reveal())
    disks = tuple(a.disks)
    return InstallConfig(
        network=Network(devices=(device,), hostname=a.hostname),
        rootpw=RootPassword(hash=a.password_hash),
        time=Time(timezone=a.timezone or "UTC", ntpservers=a.ntp_servers),
        keyboard=a.keyboard or "us",
        storage=Storage(zerombr=True, clearpart="all", clearpart_drives=disks, initlabel=True, only_use=disks,
                        autopart="thinp"),
        bootloader=Bootloader(append=a.append),
        finish="reboot",
    )


def check(a: Answers, facts: HostFacts) -> ValidationReport:
    """Every problem of the whole install against this machine (the installer's own checks)."""
    from installer.checks import check_host

    report = ValidationReport(source="install")
    if not a.disks:
        report.error("disks", "choose at least one target disk")
    return check_host(to_install_config(a), facts, report)


def layout_lines(a: Answers, facts: HostFacts) -> list[str]:
    from installer.storage import resolve_layout

    layout = resolve_layout(to_install_config(a), facts, ValidationReport())
    return layout.render_lines() if layout is not None else []


def kickstart_text(a: Answers) -> str:
    from installer.kickstart import render

    return render(to_install_config(a))


def password_problems(text: str) -> list[str]:
    """The one password policy (nodecore.passwords), as the pages list problems."""
    from nodecore.passwords import password_problem

    problem = password_problem(text)
    return [problem] if problem else []


def password_strength(text: str) -> str:
    from nodecore.passwords import strength

    return strength(text)


def install_paths() -> Paths:
    """Where the console installs (the same as `hcinode install`; tests point it at a temporary dir)."""
    from installer.plan import Paths

    return Paths()


def build_install(a: Answers, facts: HostFacts) -> Install:
    """The installer's own install for these answers: its plan is exactly what `hcinode install
    --dry-run` prints for the equivalent kickstart."""
    from installer.install import Install
    from installer.plan import build_plan
    from installer.storage import resolve_layout

    config = to_install_config(a)
    report = check(a, facts)
    layout = resolve_layout(config, facts, ValidationReport()) if report.ok else None
    report.raise_if_errors()
    assert layout is not None
    paths = install_paths()
    return Install(config, build_plan(config, layout, facts, paths=paths), paths,
                   retry="press F10 on the Installing screen", disks=tuple(layout.disks))


def build_install_plan(a: Answers, facts: HostFacts) -> Plan:
    return build_install(a, facts).plan


def run_install(install: Install, runner: Runner, progress: ProgressCallback) -> ExecutionResult:
    """The installer's orchestration (%onerror, logs kept on the target, the journal): the console
    only shows its progress and its account of a failure (InstallFailed)."""
    from installer.install import run_install as run

    return run(install, runner, actions=install_actions(), progress=progress)


def install_actions() -> Mapping[str, Action]:
    from installer.target import ACTIONS

    return ACTIONS


def plan_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("installer.plan") is not None
