"""add-host and remove-host: facts, refusals (exit 2, naming the fix), the pure plans, and the CLI
applying them with a recording runner (sanlock calls are fakes; the metadata file is real)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hosted_engine import hosts, hosts_cli, lockspace
from hosted_engine import metadata as md
from hosted_engine.plan import HA_AGENT_UNIT
from nodecore.cli import main
from tests.unit.hosted_engine.he_hosts import (
    DEPLOYMENT,
    NOW,
    OTHER,
    FilesRunner,
    buffered,
    join_node,
    make_deployment,
    slot,
    write_host_json,
)


def config(mount: Path, **kw: object) -> hosts.AddHostConfig:
    return hosts.AddHostConfig("node1.example.test:/engine", mount=str(mount), **kw)  # type: ignore[arg-type]


def mounted_runner(mounted: bool = True, agent_active: bool = True, vm: str = "shut off") -> FilesRunner:
    runner = FilesRunner()
    runner.respond(["mountpoint"], returncode=0 if mounted else 1)
    runner.respond(["sh", "-c"], returncode=1)  # every shell check: not done yet
    runner.respond(["systemctl", "is-active"], returncode=0 if agent_active else 3)
    runner.respond(["virsh", "domstate"], stdout=vm + "\n")
    return runner


@pytest.fixture
def fake_sanlock(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, object]]]:
    calls: list[tuple[str, dict[str, object]]] = []
    for name in ("join_lockspace", "leave_lockspace", "init_lockspace"):
        monkeypatch.setattr(lockspace, name, (lambda n: lambda **p: calls.append((n, p)))(name))
    return calls


@pytest.mark.parametrize("volume, backup, mount, field_name", [
    ("engine", (), "", "--volume"), ("node1:/bad name", (), "", "--volume"), ("-x:/engine", (), "", "--volume"),
    ("node1:/engine", ("bad host!",), "", "--backup-servers[0]"), ("node1:/engine", (), "relative/dir", "--mount"),
])
def test_bad_options_name_the_field(volume: str, backup: tuple[str, ...], mount: str, field_name: str) -> None:
    report = hosts.check_config(hosts.AddHostConfig(volume, backup, mount))
    assert field_name in [e.field for e in report.errors]


def test_default_mount_is_the_deploys() -> None:
    cfg = hosts.AddHostConfig("node1:/engine")
    assert (cfg.server, cfg.volume_name, cfg.mount_point) == ("node1", "engine", "/mnt/glusterSD/engine")
    assert hosts.check_config(cfg).ok


def test_probe_and_plan_on_a_joined_node(env: Path) -> None:
    mount = env / "mnt"
    make_deployment(mount)
    join_node(env / "state", 2)
    host_file = str(env / "state" / "hosted-engine" / "host.json")
    facts = hosts.probe(config(mount), mounted_runner(), host_file, hostname="node2", wall=lambda: NOW)
    assert (facts.host_id, facts.deployments, facts.io_timeout, facts.vm_xml_ok, facts.slot_owner) == \
        (2, (DEPLOYMENT,), 5, True, "")
    assert hosts.check_facts(config(mount), facts).ok
    plan = hosts.add_host_plan(config(mount), facts, host_file)
    assert [s.action or " ".join(s.argv[:2]) for s in plan.steps] == [
        "gluster_setup.mount_volume", "hosted_engine.lockspace.join_lockspace", "hosted_engine.write_file",
        "systemctl enable"]
    assert plan.steps[1].params == {"path": f"{mount}/hosted-engine/{DEPLOYMENT}/lockspace", "host_id": 2,
                                    "io_timeout": 5}
    state = json.loads(plan.steps[2].params["content"])
    assert state == {"host_id": 2, "deployment": DEPLOYMENT, "mount": str(mount),
                     "engine_url": "https://engine.example.test"}
    assert plan.steps[2].params["mode"] == "0600"


def test_refusals(env: Path) -> None:
    mount = env / "mnt"
    host_file = str(env / "state" / "hosted-engine" / "host.json")
    runner = mounted_runner()

    def errors(cfg: hosts.AddHostConfig) -> dict[str, str]:
        facts = hosts.probe(cfg, runner, host_file, hostname="node2", wall=lambda: NOW)
        return {e.field: f"{e.message} -> {e.hint}" for e in hosts.check_facts(cfg, facts).errors}

    # not joined, nothing deployed
    found = errors(config(mount))
    assert "hcinode join" in found["engine"] and "no hosted-engine deployment" in found["deployment"]
    join_node(env / "state", 2)
    make_deployment(mount)
    make_deployment(mount, OTHER)
    assert "--deployment UUID" in errors(config(mount))["--deployment"]
    assert "is not under" in errors(config(mount, deployment="nope"))["--deployment"]
    assert errors(config(mount, deployment=DEPLOYMENT)) == {}
    # host id 2 live for another host (its slot written 10 s ago); a stale or stopped slot is no reason
    meta = buffered(f"{mount}/hosted-engine/{DEPLOYMENT}/metadata")
    meta.write_host(slot(2, "node9", ts=NOW - 10))
    assert "live for host node9" in errors(config(mount, deployment=DEPLOYMENT))["host id"]
    meta.write_host(slot(2, "node9", ts=NOW - 300))
    assert errors(config(mount, deployment=DEPLOYMENT)) == {}
    # already serving another deployment
    write_host_json(env / "state", mount, 2)
    assert "remove-host first" in errors(config(mount, deployment=OTHER))["host.json"]
    assert errors(config(mount, deployment=DEPLOYMENT)) == {}


def test_dry_run_without_the_mount_shows_the_mount_only(env: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    join_node(env / "state", 2)
    runner = mounted_runner(mounted=False)
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "add-host", "--volume", "node1:/engine", "--mount", str(env / "mnt"),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Mount the engine volume node1:/engine" in out and "the rest of the plan follows" in out
    assert not any(a[0] == "mount" for a in runner.argvs)


def test_cli_add_host_applies_and_verifies(env: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           fake_sanlock: list[tuple[str, dict[str, object]]]) -> None:
    mount = env / "mnt"
    make_deployment(mount)
    join_node(env / "state", 3)
    runner = mounted_runner()
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "add-host", "--volume", "node1:/engine", "--mount", str(mount)]) == 0
    assert "as host id 3" in capsys.readouterr().out
    host = json.loads((env / "state" / "hosted-engine" / "host.json").read_text())
    assert (host["host_id"], host["deployment"]) == (3, DEPLOYMENT)
    assert [c[0] for c in fake_sanlock] == ["join_lockspace"]


def test_cli_add_host_not_joined_is_exit_2(env: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    make_deployment(env / "mnt")
    monkeypatch.setattr(hosts_cli, "_runner", lambda: mounted_runner())
    assert main(["hosted-engine", "add-host", "--volume", "node1:/engine", "--mount", str(env / "mnt")]) == 2
    err = capsys.readouterr().err
    assert "has not joined an engine" in err and "nothing was changed" in err


def test_cli_add_host_mounts_first_then_plans(env: Path, monkeypatch: pytest.MonkeyPatch,
                                              fake_sanlock: list[tuple[str, dict[str, object]]]) -> None:
    """Not mounted: the mount step runs alone, the facts are read again, then the whole plan."""
    mount = env / "mnt"
    join_node(env / "state", 2)
    runner = mounted_runner(mounted=False)

    def mount_volume(_runner: object, params: dict[str, object]) -> None:
        make_deployment(mount)
        runner.responses = [r for r in runner.responses if r[0] != ("mountpoint",)]
        runner.respond(["mountpoint"], returncode=0)

    real_actions = hosts.actions
    monkeypatch.setattr(hosts, "actions", lambda: {**real_actions(), "gluster_setup.mount_volume": mount_volume})
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "add-host", "--volume", "node1:/engine", "--mount", str(mount)]) == 0
    assert json.loads((env / "state" / "hosted-engine" / "host.json").read_text())["deployment"] == DEPLOYMENT


def test_remove_host_refused_while_the_engine_runs_here(env: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str],
                                                        fake_sanlock: list[tuple[str, dict[str, object]]]) -> None:
    mount = env / "mnt"
    make_deployment(mount)
    write_host_json(env / "state", mount)
    runner = mounted_runner(vm="running")
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "remove-host"]) == 2
    assert "maintenance local" in capsys.readouterr().err
    assert fake_sanlock == [] and not any(a[0] == "systemctl" for a in runner.argvs)


def test_remove_host_plan_and_cli(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                  fake_sanlock: list[tuple[str, dict[str, object]]]) -> None:
    mount = env / "mnt"
    d = make_deployment(mount)
    host_file = write_host_json(env / "state", mount)
    buffered(str(d / "metadata")).write_host(slot(2, "node2"))
    runner = mounted_runner(agent_active=False)
    runner.respond(["test"], returncode=1)
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "remove-host", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for words in (f"systemctl disable --now {HA_AGENT_UNIT}", "Join the lockspace hosted-engine as host id 2",
                  "Clear this host's metadata slot 2", "Leave the lockspace", f"rm -f {host_file}"):
        assert words in out
    assert main(["hosted-engine", "remove-host"]) == 0
    assert not host_file.exists()
    assert buffered(str(d / "metadata")).read_all()[2].status == "empty"
    assert [c[0] for c in fake_sanlock] == ["join_lockspace", "leave_lockspace"]
    assert fake_sanlock[0][1]["host_id"] == 2 and fake_sanlock[0][1]["io_timeout"] == 5


def test_remove_host_without_host_json_is_exit_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hosted-engine", "remove-host"]) == 2
    assert "host.json" in capsys.readouterr().err


def test_clear_slot_action(env: Path) -> None:
    d = make_deployment(env / "mnt")
    meta = buffered(str(d / "metadata"))
    meta.write_host(slot(4, "node4"))
    hosts.clear_slot(FilesRunner(), {"path": meta.path, "slot": 4})
    assert meta.read_all()[4].status == "empty"
    with pytest.raises(md.MetadataError):
        hosts.clear_slot(FilesRunner(), {"path": meta.path, "slot": 251})
