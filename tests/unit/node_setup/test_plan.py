"""Plan computation old -> new, identity steps, and the first-boot hook into a scratch root."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from node_setup import (
    Bond,
    Interface,
    IPv4,
    NetworkConfig,
    NetworkState,
    NodeConfig,
    Profile,
    Ssh,
    Vlan,
    plan_apply,
    render_into_root,
)
from node_setup.identity import hash_password, set_shadow_hash
from nodecore.errors import InvalidInput
from nodecore.secrets import Secret

OLD = NodeConfig(hostname="node1", network=NetworkConfig(interfaces=(
    Interface("eth0", ipv4=IPv4("static", ("198.51.100.10/25",), "198.51.100.1")),)))

NEW = NodeConfig(hostname="node1", network=NetworkConfig(
    interfaces=(Interface("eth0"), Interface("eth1")),
    bonds=(Bond("bond0", ("eth0", "eth1")),),
    vlans=(Vlan("bond0.100", "bond0", 100, ipv4=IPv4("static", ("198.51.100.130/25",), "198.51.100.129")),),
))


def actions(plan) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(s.action or s.argv[0], str(s.params.get("id", s.params.get("path", "")))) for s in plan.steps]


def test_same_config_gives_empty_plan() -> None:
    assert plan_apply(OLD, OLD).steps == ()
    assert plan_apply(NEW, NEW).steps == ()


def test_nic_to_bond_and_vlan() -> None:
    plan = plan_apply(OLD, NEW, rollback_timeout=60)
    got = actions(plan)
    assert got[0] == ("nm_checkpoint", "")
    assert ("nm_put", "eth0") in got and ("nm_put", "bond0") in got and ("nm_put", "bond0.100") in got
    assert [a for a in got if a[0] == "nm_activate"] == [
        ("nm_activate", "bond0"), ("nm_activate", "bond0.100"), ("nm_activate", "eth0"), ("nm_activate", "eth1")]
    assert got[-2][0] == "connectivity_check" and got[-1][0] == "nm_pending"
    check = plan.steps[-2].params
    assert check["gateways"] == ["198.51.100.129"]
    assert plan.summary["network"] == {"add": ["eth1", "bond0", "bond0.100"], "change": ["eth0"], "remove": [],
                                       "rollback_timeout": 60}
    pending = plan.steps[-1].params
    assert len(pending["persist"]) == 4 and pending["delete"] == []
    assert "rolls back in 60 s" in plan.render_text()


def test_bond_back_to_nic_removes_bond_profiles() -> None:
    got = actions(plan_apply(NEW, OLD))
    assert ("nm_remove", "bond0") in got and ("nm_remove", "bond0.100") in got and ("nm_remove", "eth1") in got
    assert ("nm_put", "eth0") in got


def test_no_check_skips_connectivity() -> None:
    got = actions(plan_apply(OLD, NEW, check=False))
    assert "connectivity_check" not in [a for a, _ in got]


def test_foreign_profile_on_managed_device_is_removed_others_kept() -> None:
    state = NetworkState((
        Profile("11111111-1111-1111-1111-111111111111", "Wired connection 1", "ethernet", "eth0", active=True),
        Profile("22222222-2222-2222-2222-222222222222", "lab", "ethernet", "eth9", active=True),
    ))
    got = actions(plan_apply(state, OLD))
    assert ("nm_remove", "Wired connection 1") in got
    assert ("nm_remove", "lab") not in got


def test_inactive_profile_is_activated_even_when_unchanged() -> None:
    state = NetworkState.from_config(OLD.network)
    inactive = NetworkState(tuple(replace(p, active=False) for p in state.profiles))
    got = actions(plan_apply(inactive, OLD))
    assert ("nm_activate", "eth0") in got and not any(a == "nm_put" for a, _ in got)


def test_plan_id_is_stable_and_secrets_masked() -> None:
    desired = replace(OLD, admin_password=Secret("Sup3r-secret-pw"))
    a, b = plan_apply(OLD, desired), plan_apply(OLD, desired)
    assert a.id == b.id  # the hash's random salt is a Secret: masked, so it does not change the id
    text = a.render_text() + a.to_json()
    assert "Sup3r-secret-pw" not in text and "$6$" not in text


def test_identity_steps_only_for_changes() -> None:
    desired = replace(OLD, hostname="node7", ntp_servers=("198.51.100.123",), timezone="Europe/Berlin")
    got = actions(plan_apply(OLD, desired))
    assert ("write_file", "/etc/hostname") in got and ("hostname", "") in got
    assert ("write_file", "/etc/chrony/chrony.conf") in got and ("symlink", "/etc/localtime") in got
    assert ("write_file", "/etc/ssh/sshd_config.d/50-hcinode.conf") not in got  # unchanged


def test_password_is_hashed_and_shadow_updated() -> None:
    hashed = hash_password(Secret("Corr3ct-horse")).reveal()
    assert hashed.startswith("$y$")
    assert hash_password(Secret(hashed)).reveal() == hashed
    shadow = "root:*:19000:0:99999:7:::\nadmin:!:19000::::::\n"
    assert set_shadow_hash(shadow, "root", hashed).splitlines()[0] == f"root:{hashed}:19000:0:99999:7:::"


def test_render_into_root_writes_keyfiles_and_identity(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    config = replace(NEW, timezone="UTC", keyboard="de", ntp_servers=("ntp.example.com",),
                     admin_password=Secret("Corr3ct-horse"), ssh=Ssh(True, False, True, ()))
    written = render_into_root(config, str(tmp_path))
    conns = tmp_path / "etc/NetworkManager/system-connections"
    assert sorted(os.listdir(conns)) == ["bond0.100.nmconnection", "bond0.nmconnection", "eth0.nmconnection",
                                         "eth1.nmconnection"]
    assert oct((conns / "bond0.nmconnection").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "etc/hostname").read_text() == "node1\n"
    assert os.readlink(tmp_path / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert os.readlink(tmp_path / "etc/systemd/system/multi-user.target.wants/ssh.service").endswith("ssh.service")
    assert (tmp_path / "etc/shadow").read_text().startswith("root:$y$")
    assert 'XKBLAYOUT="de"' in (tmp_path / "etc/default/keyboard").read_text()
    assert "server ntp.example.com iburst" in (tmp_path / "etc/chrony/chrony.conf").read_text()
    assert str(conns / "bond0.nmconnection") in written
    # only the configured NICs come up: no DHCP "Wired connection" on the others (the e2e node with
    # unconfigured NICs booted "degraded" on NetworkManager-wait-online without it)
    nm_conf = (tmp_path / "etc/NetworkManager/conf.d/90-hcinode-no-auto-default.conf").read_text()
    assert "[main]\nno-auto-default=*\n" in nm_conf
    # the installed node starts with these settings as its last confirmed ones, without the password
    confirmed = (tmp_path / "var/lib/hcinode/network/confirmed.yaml").read_text()
    assert "hostname: node1" in confirmed and "bond0.100" in confirmed and "admin_password: null" in confirmed
    assert "$6$" not in confirmed and "Corr3ct" not in confirmed


def test_render_into_root_rejects_invalid_and_writes_nothing(tmp_path: Path) -> None:
    bad = replace(NEW, hostname="bad_name")
    with pytest.raises(InvalidInput):
        render_into_root(bad, str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_ssh_left_alone_unless_given_then_written_and_enabled() -> None:
    assert not [s for s in plan_apply(OLD, replace(OLD, hostname="n2")).steps if "ssh" in s.title.lower()]
    desired = replace(OLD, ssh=Ssh(enabled=True, password_login=False, authorized_keys=()))
    got = actions(plan_apply(OLD, desired))
    assert ("write_file", "/etc/ssh/sshd_config.d/50-hcinode.conf") in got
    assert ("service_enable", "") in got
    # an sshd that already runs (installed node) must take the new settings: restarted after enabling
    titles = [s.title for s in plan_apply(OLD, desired).steps]
    assert titles.index("Restart the SSH server with the new settings") > titles.index("Enable the SSH server")
    # only the ssh concern: a changed host name in the same config is not touched
    got = actions(plan_apply(OLD, replace(desired, hostname="n3"), only=("ssh",)))
    assert ("write_file", "/etc/hostname") not in got


def test_syslog_target_written_then_rsyslog_started_even_if_it_was_not_running() -> None:
    from node_setup.actions import restart
    from node_setup.model import Syslog
    from nodecore.runner import RecordingRunner

    steps = plan_apply(OLD, replace(OLD, syslog=Syslog("198.51.100.5"))).steps
    assert [(s.action, s.params.get("path", s.params.get("unit"))) for s in steps] == [
        ("write_file", "/etc/rsyslog.d/50-hcinode-remote.conf"), ("restart", "rsyslog.service")]
    runner = RecordingRunner()
    restart(runner, steps[1].params)
    assert runner.argvs[1:] == [("systemctl", "reset-failed", "rsyslog.service"),
                                  ("systemctl", "restart", "rsyslog.service")]


def test_render_into_root_reads_back_what_it_wrote(tmp_path: Path) -> None:
    """The pipeline's verify: a file that does not hold what was written fails the operation."""
    from node_setup.actions import read_back_files
    from nodecore.pipeline import VerifyFailed
    from nodecore.runner import LocalRunner

    class LossyRunner(LocalRunner):  # a disk that loses the end of every write
        def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
            super().write_file(path, data[:-1], mode)

    (tmp_path / "etc").mkdir()
    with pytest.raises(VerifyFailed) as info:
        render_into_root(replace(NEW, admin_password=None), str(tmp_path), runner=LossyRunner())
    assert f"{tmp_path}/etc/hostname" in str(info.value) and "does not hold what was written" in str(info.value)
    from node_setup.plan import plan_into_root

    assert read_back_files(LocalRunner(), plan_into_root(replace(NEW, admin_password=None), str(tmp_path))).errors


def test_untouched_nic_is_not_activated() -> None:
    # eth0 (the management NIC) stays as it is; a new bond of eth1+eth2 must not bounce it
    bonded = replace(OLD, network=replace(OLD.network, interfaces=(*OLD.network.interfaces, Interface("eth1"),
                                                                   Interface("eth2")),
                                          bonds=(Bond("bond0", ("eth1", "eth2")),)))
    got = [a for a in actions(plan_apply(OLD, bonded)) if a[0] == "nm_activate"]
    assert got == [("nm_activate", "bond0"), ("nm_activate", "eth1"), ("nm_activate", "eth2")]


def test_change_summary_is_one_sentence_per_change() -> None:
    from node_setup import Dns
    from node_setup.plan import change_summary

    desired = replace(OLD, hostname="node2", timezone="Europe/Berlin", admin_password=Secret("Sup3r-secret-pw"),
                      network=replace(OLD.network, interfaces=(Interface(
                          "eth0", ipv4=IPv4("static", ("192.0.2.11/24",), "192.0.2.1")),),
                          dns=Dns(servers=("192.0.2.53",))))
    lines = change_summary(plan_apply(OLD, desired), desired)
    assert lines == ["eth0: static 192.0.2.11/24, gateway 192.0.2.1, DNS 192.0.2.53", "Host name: node2",
                     "Time zone: Europe/Berlin", "Password of root: changed"]
    assert change_summary(plan_apply(OLD, NEW), NEW) == [
        "eth0: port of bond0", "eth1 (new): port of bond0",
        "bond0 (new): active-backup bond of eth0+eth1, no IP address",
        "bond0.100 (new): VLAN 100 on bond0, static 198.51.100.130/25, gateway 198.51.100.129"]
