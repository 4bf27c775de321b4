"""Fixtures for console tests: captured facts, a fixed clock, fake read-side services."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from node_setup import Dns, IPv4, IPv6, NodeConfig, Route
from node_setup.nm import LiveDevice
from nodecore.facts import HostFacts
from tests.goldenfiles import assert_golden
from tui.app import App
from tui.framework import Context

DATA = Path(__file__).resolve().parents[2] / "data" / "tui"
FIXED_TIME = dt.datetime(2026, 11, 22, 4, 30, 0, tzinfo=dt.UTC)


# what NetworkManager has on the captured node: eno1 static with a gateway, DNS and one route
LIVE_NETWORK = [
    LiveDevice(name="eno1", type="Ethernet", mac="3C:EC:EF:10:20:01", state="activated", connection="eno1",
               mtu=1500, ipv4=("192.0.2.11/24",), ipv4_gateway="192.0.2.1", dns=("192.0.2.53",),
               dns_search=("lab.example",), routes=(Route("10.0.0.0/8", "192.0.2.254"),),
               profile_ipv4=IPv4("static", ("192.0.2.11/24",), "192.0.2.1", (Route("10.0.0.0/8", "192.0.2.254"),)),
               profile_ipv6=IPv6("disabled"), profile_dns=Dns(("192.0.2.53",), ("lab.example",))),
    LiveDevice(name="eno2", type="Ethernet", mac="3C:EC:EF:10:20:02", state="disconnected"),
]


class FakeServices:
    """Stable answers for golden screens (the real Services reads libvirt, chrony, the journal)."""

    admin_user = "root"

    def __init__(self, vms: list[str] | None = None, password: str | None = "s3cret-Pass",
                 live: list[LiveDevice] | None | str = "default",
                 cluster: dict[str, Any] | None = None, hosted_engine: str | None = None,
                 hosted_engine_view: dict[str, Any] | None = None, update: dict[str, Any] | None = None) -> None:
        self.vms = ["engine", "web01"] if vms is None else vms
        self.cluster = cluster or {"engine": None, "status": None, "join": None}
        self.password = password
        self.hosted_engine = hosted_engine  # the Status page's Hosted engine line (None: no HA agent here)
        self.he_view = hosted_engine_view  # the Hosted Engine page's status (None: not deployed here)
        # the Update page's status (update.cli.status_data()): a node never updated
        self.update = update or {"running": "0.1.0", "default": "0.1.0", "previous": "", "staged": [],
                                 "trial": None, "last": "no update tried on this node"}
        self.live = LIVE_NETWORK if live == "default" else live
        self.journal_calls: list[str] = []

    def running_vms(self) -> list[str] | None:
        return list(self.vms)

    def ntp_status(self) -> str:
        return "synchronized (192.0.2.1)"

    def live_network(self) -> list[LiveDevice] | None:
        return None if self.live is None else list(self.live)  # type: ignore[arg-type]

    def time_keyboard(self) -> NodeConfig:
        return NodeConfig(timezone="Europe/Berlin", ntp_servers=("192.0.2.1", "ntp.lab.example"), keyboard="de")

    def cluster_status(self) -> str:
        return "not joined (no agent installed)"

    def storage_status(self) -> str:
        return "local only (no gluster_setup)"

    def hosted_engine_status(self) -> str | None:
        return self.hosted_engine

    def hosted_engine_view(self) -> dict[str, Any] | None:
        return self.he_view

    def cluster_view(self) -> dict[str, Any]:
        return dict(self.cluster)

    def update_view(self) -> dict[str, Any]:
        return dict(self.update)

    def log_units(self) -> list[str]:
        return ["", "hcinode-console", "NetworkManager", "libvirtd"]

    def journal(self, unit: str = "", lines: int = 200) -> list[str]:
        self.journal_calls.append(unit)
        base = [f"2026-11-22T04:{i:02d}:00+0000 node01 {unit or 'kernel'}[{100 + i}]: message {i}" for i in range(40)]
        return base[-lines:]

    def network_test(self, gateways: list[str], hosts: list[str], name: str) -> list[tuple[str, str, bool, str]]:
        out = [("gateway", g, True, "3 packets transmitted, 3 received, 0% packet loss") for g in gateways]
        out += [("host", h, not h.endswith(".99"), "ok" if not h.endswith(".99") else "100% packet loss")
                for h in hosts]
        return out + ([("resolve", name, True, f"192.0.2.5 {name}")] if name else [])

    def has_password(self) -> bool:
        return self.password is not None

    def unlock_user(self) -> str | None:
        return self.admin_user if self.password is not None else None

    def verify_password(self, password: str) -> bool | None:
        return None if self.password is None else password == self.password


def load_facts(name: str) -> HostFacts:
    return HostFacts.load(str(DATA / f"{name}-facts.json"))


def make_app(mode: str = "node", facts: str | None = None, dry_run: bool = True, **services: object) -> App:
    ctx = Context(facts=load_facts(facts or ("live" if mode == "install" else "node")),
                  services=FakeServices(**services),  # type: ignore[arg-type]
                  dry_run=dry_run, clock=lambda: FIXED_TIME, version="0.1.0")
    return App(ctx, mode=mode)


def check_golden(name: str, text: str) -> None:
    """Compare with tests/golden/tui/NAME.txt (pytest --regenerate rewrites the file)."""
    assert_golden(f"tui/{name}.txt", text)


@pytest.fixture
def node_app() -> App:
    return make_app("node")
