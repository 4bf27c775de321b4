"""Property: whatever the kickstart front end or the console's answers say is either refused at
validation, or the install plan's node_setup stage (install step 7) accepts it.

Before one rule set, keyboard `DE`, a root ssh-dss key, a 16-character interface name or bond
option `foo=1` passed validation and failed in node_setup after the disks were erased.
Deterministic (derandomize) and bounded, so `make test` runs it in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installer import checks, kickstart
from installer.plan import build_plan
from installer.storage import resolve_layout
from node_setup import load_node_config, plan_into_root
from node_setup import validate as node_validate
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport
from tui import install_flow

FACTS = HostFacts.load(str(Path(__file__).resolve().parents[2] / "data" / "facts" / "qemu-virtio.json"))
SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

HASH = "$6$rounds=5000$hcinodetestsalt$3ygPdd2k1Zs0aMTNHo0uQ8dv0rBqeTEO4fVxTeBC"
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz9Wn7Gv8F3s0vB7P4u2qgYQ7kq7nq6xq1x4c8C4l7d admin@example"

# values near the edges of the rules: (valid, invalid) pairs; each example makes at most one
# field invalid, so most examples get past validation and reach the node_setup stage
VALUES: dict[str, tuple[list[Any], list[Any]]] = {
    "name": (["ens3", "ens4", "link", "bootif", "52:54:00:12:34:57"], ["a" * 16, "eth0:1", "eth 0"]),
    "bond": (["bond0", "bond1", "b" * 15], ["b" * 16, "bond:0"]),
    "keyboard": (["us", "de", "gb", "de-nodeadkeys", "us-intl"], ["DE", "xx", "fr-latin1", "dvorak"]),
    "zone": (["UTC", "Europe/Berlin", "America/New_York"], ["Mars/Base", "../etc/passwd"]),
    "host": (["node1.example.com", "hv-07", "a.b"], ["node_1", "localhost", "1.2.3", "-x"]),
    "dns": (["192.0.2.53", "2001:db8::53", "fe80::1%ens3"], ["dns.example.com", "192.0.2.300", "fe80::1%a:b"]),
    "ntp": (["ntp1.example.com", "192.0.2.123", "pool.ntp.org"], ["ntp server", "-bad-"]),
    "bondopts": (["mode=active-backup", "mode=802.3ad,lacp_rate=fast", "mode=1,miimon=100",
                  "mode=balance-xor,xmit_hash_policy=layer3+4", "mode=active-backup,updelay=200"],
                 ["mode=active-backup,foo=1", "mode=active-backup,lacp_rate=fast", "mode=fastest", "miimon=x",
                  "mode=802.3ad,xmit_hash_policy=layer9"]),
    "key": ([ED25519], ["ssh-dss AAAAB3NzaC1kc3MAAACBAP x", "ssh-rsa " + ED25519.split()[1], "not a key"]),
    "address": (["192.0.2.10", "192.0.2.77", ""], ["192.0.2.0", "10.0.0.300", "192.0.2.1"]),
    "vlan": ([1, 100, 4094], [0, 4095]),
    "iface": (["", " --interfacename=mgmt0", " --interfacename=" + "v" * 15], [" --interfacename=" + "v" * 16]),
}


def pick(draw: st.DrawFn, bad: str | None, name: str) -> Any:
    valid, invalid = VALUES[name]
    return draw(st.sampled_from(invalid if name == bad else valid))


@st.composite
def kickstarts(draw: st.DrawFn) -> str:
    bad = draw(st.sampled_from([None, *VALUES]))
    lines = ["ignoredisk --only-use=vda", "clearpart --all --initlabel --drives=vda", "autopart --type=thinp",
             f"rootpw --iscrypted {HASH}", f"keyboard {pick(draw, bad, 'keyboard')}",
             f"timezone {pick(draw, bad, 'zone')} --utc", f"timesource --ntp-server={pick(draw, bad, 'ntp')}"]
    hostname = pick(draw, bad, "host")
    kind = draw(st.sampled_from(["ethernet", "bond", "vlan", "bond-vlan"]))
    addr = pick(draw, bad, "address")
    ip = f" --bootproto=static --ip={addr} --netmask=255.255.255.0 --gateway=192.0.2.1" if addr else \
        " --bootproto=dhcp"
    tail = f"{ip} --nameserver={pick(draw, bad, 'dns')} --hostname={hostname}"
    if kind.startswith("bond"):
        bond = pick(draw, bad, "bond")
        lines.append(f"network --device={bond} --bondslaves=ens3,ens4 --bondopts={pick(draw, bad, 'bondopts')}"
                     + (" --noipv4 --noipv6" if kind == "bond-vlan" else tail))
        if kind == "bond-vlan":
            lines.append(f"network --device={bond} --vlanid={pick(draw, bad, 'vlan')}{pick(draw, bad, 'iface')}"
                         + tail)
    elif kind == "vlan":
        lines.append(f"network --device={pick(draw, bad, 'name')} --vlanid={pick(draw, bad, 'vlan')}"
                     f"{pick(draw, bad, 'iface')}{tail}")
    else:
        lines.append(f"network --device={pick(draw, bad, 'name')}{tail}")
    if draw(st.booleans()) or bad == "key":
        lines.append(f'sshkey --username=root "{pick(draw, bad, "key")}"')
    return "\n".join(lines) + "\nreboot\n"


def assert_node_stage_accepts(config: object) -> None:
    """What install step 7 does with the config: load, validate and plan node_setup's settings."""
    report = ValidationReport()
    layout = resolve_layout(config, FACTS, report)  # type: ignore[arg-type]
    assert layout is not None, report.render_text()
    plan = build_plan(config, layout, FACTS)  # type: ignore[arg-type]
    node_step = next(s for s in plan.steps if s.action == "first_boot_network")
    stage = ValidationReport("node_setup stage")
    node = load_node_config(node_step.params["node"], stage)
    assert node is not None, stage.render_text()
    problems = node_validate(node)
    assert problems.ok, problems.render_text()
    plan_into_root(node, "/run/hcinode/target")  # pure: must not raise


@SETTINGS
@given(kickstarts())
def test_kickstart_is_refused_or_accepted_by_node_setup(text: str) -> None:
    parsed = kickstart.parse(text, source="ks.cfg")
    report = checks.check_host(parsed.config, FACTS, parsed.report)
    if report.ok:
        assert_node_stage_accepts(parsed.config)


@st.composite
def answers(draw: st.DrawFn) -> install_flow.Answers:
    bad = draw(st.sampled_from([None, "keyboard", "zone", "ntp", "host", "dns", "address"]))
    address = pick(draw, bad, "address") or "192.0.2.10"
    return install_flow.Answers(
        keyboard=pick(draw, bad, "keyboard"), timezone=pick(draw, bad, "zone"), ntp_servers=(pick(draw, bad, "ntp"),),
        disks=("vda",), nic=draw(st.sampled_from(["ens3", "ens4", ""])),
        bootproto=draw(st.sampled_from(["static", "dhcp"])), address=f"{address}/24",
        gateway=draw(st.sampled_from(["192.0.2.1", ""])), dns=(pick(draw, bad, "dns"),),
        hostname=pick(draw, bad, "host"), password_hash=HASH)


@SETTINGS
@given(answers())
def test_console_answers_are_refused_or_accepted_by_node_setup(a: install_flow.Answers) -> None:
    report = install_flow.check(a, FACTS)
    if report.ok:
        assert_node_stage_accepts(install_flow.to_install_config(a))
