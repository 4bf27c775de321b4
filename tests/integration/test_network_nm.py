"""node_setup against a real NetworkManager 1.42 in a network namespace (see network_testbed.py).

The tests run in order on one testbed (NetworkManager starts once, ~2 s): initial config, a
management bridge over two NICs matched by MAC with a new static address confirmed, then changes
that must roll back to exactly that state. This kernel cannot create bonds or VLANs (see
network_testbed.py), so a bond + VLAN apply here must fail at activation and roll back at once;
activating them for real is the VM e2e test's job.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator

import pytest

from tests.integration.network_testbed import IPV6_GATEWAY, NMTestbed

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("NetworkManager") is None or shutil.which("dbus-daemon") is None,
                       reason="needs NetworkManager and dbus-daemon"),
]

INITIAL = """
interfaces:
  - name: eth0
    ipv4: {method: static, addresses: [198.51.100.10/25], gateway: 198.51.100.1}
"""

# NICs named by role and matched by MAC: the kernel names (eth0/eth1) appear nowhere
BRIDGE = """
interfaces:
  - {name: nic-a, mac: "52:54:00:51:00:01"}
  - {name: nic-b, mac: "52:54:00:51:00:02"}
bridges:
  - name: mgmt
    ports: [nic-a, nic-b]
    ipv4: {method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}
dns: {servers: [198.51.100.53], search: [example.com]}
check: {timeout: 20}
"""

WRONG_GATEWAY = BRIDGE.replace("198.51.100.130/25", "198.51.100.140/25") \
    .replace("gateway: 198.51.100.129", "gateway: 198.51.100.200").replace("timeout: 20", "timeout: 4")

BOND_VLAN = """
interfaces:
  - {name: nic-a, mac: "52:54:00:51:00:01"}
  - {name: nic-b, mac: "52:54:00:51:00:02"}
bonds:
  - {name: bond0, slaves: [nic-a, nic-b], mode: active-backup, miimon: 100}
vlans:
  - name: bond0.100
    parent: bond0
    id: 100
    ipv4: {method: static, addresses: [198.51.100.150/25], gateway: 198.51.100.129}
check: {timeout: 10}
"""


@pytest.fixture(scope="module")
def bed() -> Iterator[NMTestbed]:
    testbed = NMTestbed().start()
    try:
        yield testbed
    finally:
        testbed.stop()


def ok(bed: NMTestbed, *args: str) -> str:
    result = bed.hcinode(*args)
    assert result.returncode == 0, bed.describe(result)
    return result.stdout


def status(bed: NMTestbed) -> dict[str, object]:
    return json.loads(ok(bed, "network", "status", "--json"))  # type: ignore[no-any-return]


def test_initial_config_applied_and_confirmed(bed: NMTestbed) -> None:
    out = ok(bed, "network", "apply", bed.write("initial.yaml", INITIAL), "--rollback-timeout", "60")
    assert "PENDING" in out
    st = status(bed)
    assert st["state"] == "pending" and 0 < float(st["seconds_remaining"]) <= 60  # type: ignore[arg-type]
    assert not (bed.keyfiles / "eth0.nmconnection").exists()  # nothing on disk before confirm
    ok(bed, "network", "confirm")
    assert (bed.keyfiles / "eth0.nmconnection").exists()
    assert status(bed)["state"] == "none"
    assert bed.gw_ping("198.51.100.10")


def test_bridge_by_mac_static_apply_and_confirm(bed: NMTestbed) -> None:
    started = time.monotonic()
    out = ok(bed, "network", "apply", bed.write("bridge.yaml", BRIDGE), "--rollback-timeout", "60")
    apply_seconds = time.monotonic() - started
    assert "PENDING" in out
    ok(bed, "network", "confirm")
    names = sorted(p.name for p in bed.keyfiles.glob("*.nmconnection"))
    assert names == ["mgmt.nmconnection", "nic-a.nmconnection", "nic-b.nmconnection"]  # eth0's profile deleted
    assert bed.gw_ping("198.51.100.130")
    assert not bed.gw_ping("198.51.100.10")  # the old address went away with the old profile
    ports = bed.in_node("ip", "-o", "link", "show", "master", "mgmt").stdout
    assert "eth0" in ports and "eth1" in ports  # matched by MAC
    show = json.loads(ok(bed, "network", "show", "--json"))
    mgmt = next(d for d in show["devices"] if d["name"] == "mgmt")
    assert mgmt["ipv4"] == ["198.51.100.130/25"] and mgmt["ipv4_gateway"] == "198.51.100.129"
    assert mgmt["dns"] == ["198.51.100.53"] and mgmt["dns_search"] == ["example.com"]
    assert mgmt["routes"] == []  # only the gateway and the on-link prefix: nothing else to show
    print(f"bridge apply (checkpoint, activate, check): {apply_seconds:.1f} s")


def test_bond_vlan_that_cannot_activate_rolls_back_at_once(bed: NMTestbed) -> None:
    before = bed.snapshot()
    result = bed.hcinode("network", "apply", bed.write("bond.yaml", BOND_VLAN), "--rollback-timeout", "120")
    assert result.returncode == 1, bed.describe(result)
    assert "failed" in result.stderr
    assert bed.snapshot() == before
    assert bed.gw_ping("198.51.100.130")
    assert status(bed)["state"] == "none"


def apply_unconfirmed(bed: NMTestbed, name: str, text: str, timeout: int) -> float:
    """Apply without the check and never confirm; returns when it was applied (monotonic)."""
    out = ok(bed, "network", "apply", bed.write(name, text), "--no-check", "--rollback-timeout", str(timeout))
    assert "PENDING" in out
    return time.monotonic()


def wait_restored(bed: NMTestbed, before: dict[str, object], applied_at: float, timeout: int) -> float:
    """Seconds from the apply until the node's state is `before` again (asserts that it gets there)."""
    while bed.snapshot() != before and time.monotonic() - applied_at < timeout + 20:
        time.sleep(0.5)
    restored_after = time.monotonic() - applied_at
    after = bed.snapshot()
    assert after == before, f"not restored after {restored_after:.1f} s:\n{after}\nvs\n{before}"
    return restored_after


def test_wrong_gateway_without_confirmation_rolls_back_exactly(bed: NMTestbed) -> None:
    before = bed.snapshot()
    timeout = 10
    applied_at = apply_unconfirmed(bed, "wrong.yaml", WRONG_GATEWAY, timeout)
    assert any("198.51.100.140/25" in a for a in bed.snapshot()["addresses"])  # type: ignore[union-attr]
    assert bed.snapshot()["keyfiles"] == before["keyfiles"]  # in memory only
    # nobody confirms: NetworkManager's own timer restores the previous state
    restored_after = wait_restored(bed, before, applied_at, timeout)
    assert restored_after <= timeout + 5
    assert bed.gw_ping("198.51.100.130", count=2)
    assert status(bed)["state"] in ("expired", "none")
    result = bed.hcinode("network", "confirm")
    assert result.returncode == 1 and "too late" in result.stderr
    print(f"rollback timeout {timeout} s: previous state back after {restored_after:.1f} s")


def test_failed_check_rolls_back_at_once(bed: NMTestbed) -> None:
    before = bed.snapshot()
    started = time.monotonic()
    result = bed.hcinode("network", "apply", bed.write("wrong.yaml", WRONG_GATEWAY), "--rollback-timeout", "120")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, bed.describe(result)
    assert "no answer from gateway 198.51.100.200" in result.stderr
    assert elapsed < 60  # long before the 120 s timer
    assert bed.snapshot() == before
    assert status(bed)["state"] == "none"
    print(f"failed check -> rolled back in {elapsed:.1f} s")


def test_explicit_rollback_restores(bed: NMTestbed) -> None:
    before = bed.snapshot()
    ok(bed, "network", "apply", bed.write("initial2.yaml", INITIAL), "--rollback-timeout", "60")
    assert bed.gw_ping("198.51.100.10")
    ok(bed, "network", "rollback")
    deadline = time.monotonic() + 15
    while bed.snapshot() != before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert bed.snapshot() == before


def test_reapply_same_config_changes_nothing(bed: NMTestbed) -> None:
    out = ok(bed, "network", "apply", bed.write("bridge.yaml", BRIDGE), "--dry-run")
    assert "(0 steps" in out, out
    out = ok(bed, "network", "apply", bed.write("bridge.yaml", BRIDGE))
    assert "nothing to change" in out


def test_network_test_verb(bed: NMTestbed) -> None:
    result = bed.hcinode("network", "test", "--host", "198.51.100.1", "--json")
    assert result.returncode == 0, bed.describe(result)
    report = json.loads(result.stdout)
    assert report["ok"] and {r["target"] for r in report["results"]} == {"198.51.100.129", "198.51.100.1"}
    result = bed.hcinode("network", "test", "--host", "198.51.100.99")
    assert result.returncode == 1 and "FAIL host     198.51.100.99" in result.stdout


def test_confirm_refuses_an_unfinished_apply(bed: NMTestbed) -> None:
    """An apply that died after its checkpoint (here: simulated) must not be kept by confirm."""
    before = bed.snapshot()
    out = ok(bed, "network", "apply", bed.write("initial3.yaml", INITIAL), "--rollback-timeout", "60")
    assert "PENDING" in out
    pending = bed.dir / "state" / "network" / "pending.json"
    data = json.loads(pending.read_text())
    del data["desired_yaml"]
    pending.write_text(json.dumps(data))
    result = bed.hcinode("network", "confirm")
    assert result.returncode == 1 and "did not finish" in result.stderr
    ok(bed, "network", "rollback")
    deadline = time.monotonic() + 15
    while bed.snapshot() != before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert bed.snapshot() == before


# IPv6 on the management bridge: the confirmed IPv4 bridge plus a static IPv6 address and gateway
BRIDGE_V6 = BRIDGE.replace("""    ipv4: {method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}
""", f"""    ipv4: {{method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}}
    ipv6: {{method: static, addresses: ["2001:db8:100::10/64"], gateway: "{IPV6_GATEWAY}"}}
""")
WRONG_V6 = BRIDGE_V6.replace("2001:db8:100::10/64", "2001:db8:100::20/64") \
    .replace(f'gateway: "{IPV6_GATEWAY}"', 'gateway: "2001:db8:100::200"')
AUTO_V6 = BRIDGE.replace("""    ipv4: {method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}
""", """    ipv4: {method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}
    ipv6: {method: auto}
""")


def answers_soon(bed: NMTestbed, address: str, seconds: float = 15) -> bool:
    """A new IPv6 address answers once duplicate address detection is done (~1 s)."""
    deadline = time.monotonic() + seconds
    while not bed.gw_ping(address):
        if time.monotonic() > deadline:
            return False
    return True


def test_ipv6_static_apply_and_confirm(bed: NMTestbed) -> None:
    assert BRIDGE_V6 != BRIDGE
    out = ok(bed, "network", "apply", bed.write("v6.yaml", BRIDGE_V6), "--rollback-timeout", "60")
    assert "PENDING" in out  # the check pinged both gateways, 198.51.100.129 and 2001:db8:100::1
    ok(bed, "network", "confirm")
    assert bed.ipv6_addresses("mgmt") == ["2001:db8:100::10/64"]
    routes = bed.in_node("ip", "-6", "route", "show", "default").stdout
    assert f"default via {IPV6_GATEWAY} dev mgmt" in routes, routes
    keyfile = (bed.keyfiles / "mgmt.nmconnection").read_text()
    assert "address1=2001:db8:100::10/64" in keyfile and "method=manual" in keyfile, keyfile
    assert answers_soon(bed, "2001:db8:100::10") and bed.gw_ping("198.51.100.130")


def test_ipv6_unconfirmed_change_rolls_back_exactly(bed: NMTestbed) -> None:
    before = bed.snapshot()
    timeout = 10
    applied_at = apply_unconfirmed(bed, "v6-wrong.yaml", WRONG_V6, timeout)
    assert bed.ipv6_addresses("mgmt") == ["2001:db8:100::20/64"]
    restored_after = wait_restored(bed, before, applied_at, timeout)
    assert restored_after <= timeout + 5
    assert bed.ipv6_addresses("mgmt") == ["2001:db8:100::10/64"]
    assert answers_soon(bed, "2001:db8:100::10")
    print(f"IPv6: rollback timeout {timeout} s: previous state back after {restored_after:.1f} s")


def test_ipv6_auto_gets_a_slaac_address(bed: NMTestbed) -> None:
    bed.start_router_advertisements()
    try:
        out = ok(bed, "network", "apply", bed.write("v6-auto.yaml", AUTO_V6), "--rollback-timeout", "60")
        assert "PENDING" in out
        ok(bed, "network", "confirm")
        deadline = time.monotonic() + 30
        while not any(a.startswith("2001:db8:200:") for a in bed.ipv6_addresses("mgmt")):
            assert time.monotonic() < deadline, bed.in_node("ip", "-6", "addr").stdout + bed.log_tail()
            time.sleep(0.5)
        slaac = [a for a in bed.ipv6_addresses("mgmt") if a.startswith("2001:db8:200:")]
        assert all(a.endswith("/64") for a in slaac), slaac
        assert "2001:db8:100::10/64" not in bed.ipv6_addresses("mgmt")  # the static address went with its profile
        assert "method=auto" in (bed.keyfiles / "mgmt.nmconnection").read_text()
        assert answers_soon(bed, slaac[0].split("/")[0])
    finally:
        bed.stop_router_advertisements()
