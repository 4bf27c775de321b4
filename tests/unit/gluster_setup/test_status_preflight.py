"""Status parsing from XML captured on a real 3-host cluster, and preflight rules on canned probes."""

from __future__ import annotations

from pathlib import Path

from gluster_setup.preflight import HostProbe, check_probes
from gluster_setup.spec import GlusterSpec, parse_spec
from gluster_setup.status import (
    ClusterStatus,
    parse_heal_summary,
    parse_pool,
    parse_status_detail,
    parse_volume_info,
    problems,
    render,
)

XML = Path(__file__).resolve().parents[2] / "data" / "gluster" / "status"
FP = "SHA256:" + "A" * 43


def test_parse_captured_cluster() -> None:
    peers = parse_pool((XML / "pool-list.xml").read_text())
    assert [p.hostname for p in peers] == ["198.51.100.12", "198.51.100.13", "localhost"]
    assert all(p.connected for p in peers)
    volumes = parse_volume_info((XML / "volume-info.xml").read_text())
    assert {v.name for v in volumes} == {"engine", "data"}
    data = next(v for v in volumes if v.name == "data")
    assert (data.replica, data.distribute, data.status) == (3, 1, "Started")
    assert data.bricks[0].name == "198.51.100.11:/run/gluster_bricks/data/data"
    detail = parse_status_detail((XML / "volume-status-detail.xml").read_text())
    assert detail[data.bricks[1].name]["online"] is True
    assert detail[data.bricks[1].name]["size_free"] > 0
    heal = parse_heal_summary((XML / "heal-data.xml").read_text())
    assert heal[data.bricks[2].name] == (0, 0)


def test_problems_and_render() -> None:
    volumes = parse_volume_info((XML / "volume-info.xml").read_text())
    status = ClusterStatus("198.51.100.11", parse_pool((XML / "pool-list.xml").read_text()), volumes)
    status.volumes[0].bricks[0].online = False
    for vol in status.volumes[1:]:
        for b in vol.bricks:
            b.online = True
    status.volumes[0].bricks[1].heal_pending = 4
    found = problems(status)
    assert any("offline" in p for p in found) and any("4 entries pending heal" in p for p in found)
    status.problems = found
    assert "OFFLINE" in render(status)
    assert status.to_dict()["healthy"] is False


def spec(**extra: object) -> GlusterSpec:
    data = {"hosts": [{"address": f"10.0.0.{i}", "host_key": FP, "disks": ["/dev/sdb"]} for i in (1, 2, 3)],
            "volumes": [{"name": "engine", "size": "10G", "thin": False}, {"name": "data", "size": "20G"}],
            "thin_pool": {"size": "20G", "metadata_size": "1G"}} | extra
    parsed, report = parse_spec(data)
    assert parsed is not None, report.render_text()
    return parsed


def probe(s: GlusterSpec, i: int, **kw: object) -> HostProbe:
    p = HostProbe(s.hosts[i], reachable=True, gluster_version="10.3", glusterd_running=True, clock=1000.0,
                  clock_taken=1000.0,
                  blockdevs=[{"path": "/dev/sda", "size": 50 * 1024**3, "fstype": None, "mountpoint": None,
                              "log-sec": 512, "parent": ""},
                             {"path": "/dev/sda1", "size": 50 * 1024**3, "fstype": "ext4", "mountpoint": "/",
                              "log-sec": 512, "parent": "/dev/sda"},
                             {"path": "/dev/sdb", "size": 100 * 1024**3, "fstype": None, "mountpoint": None,
                              "log-sec": 512, "parent": ""}])
    for key, value in kw.items():
        setattr(p, key, value)
    return p


def test_clean_hosts_pass() -> None:
    s = spec()
    assert check_probes(s, [probe(s, i) for i in range(3)]).problems == []


def test_preflight_reports_every_problem() -> None:
    s = spec()
    p0 = probe(s, 0, reachable=False, error="Connection refused")
    p1 = probe(s, 1, glusterd_running=False, gluster_version="11.1", clock=1100.0)
    p1.blockdevs[2]["fstype"] = "ext4"
    p2 = probe(s, 2, device_mapper=False)
    p2.blockdevs[2]["log-sec"] = 4096
    p2.blockdevs[2]["size"] = 10 * 1024**3
    report = check_probes(s, [p0, p1, p2])
    messages = "\n".join(p.render() for p in report.errors)
    for text in ("not reachable", "glusterd is not running", "major versions differ", "clock is 100s off",
                 "not empty: it has a ext4 signature", "no device-mapper", "sector sizes differ",
                 "the volumes need"):
        assert text in messages, messages


def test_os_disk_and_missing_disk() -> None:
    s = spec(hosts=[{"address": "10.0.0.1", "host_key": FP, "disks": ["/dev/sda", "/dev/sdz"]}], replica=1)
    report = check_probes(s, [probe(s, 0)])
    messages = [p.message for p in report.errors]
    assert any("holds the operating system" in m for m in messages)
    assert any("/dev/sdz does not exist" in m for m in messages)


def test_our_own_pv_passes_on_rerun() -> None:
    s = spec()
    probes = [probe(s, i, pv_vg={"/dev/sdb": "gluster_vg"}) for i in range(3)]
    for p in probes:
        p.blockdevs[2]["fstype"] = "LVM2_member"
    assert check_probes(s, probes).ok


def test_firewall_without_gluster_port() -> None:
    s = spec()
    ruleset = "table inet filter {\n chain input {\n type filter hook input priority 0; policy drop;\n }\n}"
    report = check_probes(s, [probe(s, 0, firewall=ruleset), probe(s, 1), probe(s, 2)])
    assert any("firewall" in p.message for p in report.errors)


def test_expand_finds_new_hosts_from_the_cluster() -> None:
    from gluster_setup.ops import plan_expand
    from nodecore.runner import RecordingRunner

    def six(n: int) -> GlusterSpec:
        data = {"hosts": [{"address": f"198.51.100.{10 + i}", "host_key": FP, "disks": ["/dev/sdb", "/dev/sdc"]}
                          for i in range(1, n + 1)],
                "lvm": False, "brick_root": "/run/gluster_bricks",
                "volumes": [{"name": "engine", "size": "400M", "thin": False},
                            {"name": "data", "size": "400M", "thin": False}]}
        parsed, report = parse_spec(data)
        assert parsed is not None, report.render_text()
        return parsed

    runner = RecordingRunner()
    runner.respond(["gluster", "volume", "info", "--xml"], 0, (XML / "volume-info.xml").read_text())
    plan = plan_expand(six(6), {"198.51.100.11": runner})
    assert plan is not None
    assert sorted(plan.phases[0].plans) == ["198.51.100.14", "198.51.100.15", "198.51.100.16"]
    assert plan_expand(six(3), {"198.51.100.11": runner}) is None  # nothing to do: a re-run is a no-op


def test_read_back_after_deploy_names_what_the_cluster_does_not_show() -> None:
    """The pipeline's verify for gluster: `gluster volume info` read back against the spec."""
    import dataclasses

    import yaml

    from gluster_setup import ops
    from nodecore.runner import RecordingRunner

    data = yaml.safe_load((XML.parent / "spec-jbod.yaml").read_text())
    spec, report = parse_spec(data, require_host_keys=False)
    assert spec is not None, report.render_text()
    # the captured cluster: hosts 198.51.100.11-13 with volumes engine and data
    hosts = tuple(dataclasses.replace(h, address=f"198.51.100.{11 + i}") for i, h in enumerate(spec.hosts))
    spec = dataclasses.replace(spec, hosts=hosts)
    runner = RecordingRunner()
    runner.respond(["gluster", "volume", "info", "--xml"], stdout=(XML / "volume-info.xml").read_text())
    runners = {h.ssh_name: runner for h in spec.hosts}
    found = ops.read_back(spec, runners, spec.hosts)
    assert [p.field for p in found.errors] == ["volumes.vmstore"]
    assert "is not in `gluster volume info`" in found.render_text()
