import dataclasses
from pathlib import Path

import pytest

from hosted_engine import preflight
from hosted_engine.preflight import Facts, check, probe
from nodecore.runner import RecordingRunner

GLUSTER = Path(__file__).resolve().parents[2] / "data" / "gluster" / "status"
INFO = (GLUSTER / "volume-info.xml").read_text()
# the captured bricks are 448 MiB loop devices: make them large enough for a 50 GiB engine disk
STATUS = (GLUSTER / "volume-status-detail.xml").read_text().replace(
    "<sizeFree>439136256</sizeFree>", "<sizeFree>107374182400</sizeFree>")
SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
MEMINFO = "MemTotal:       16000000 kB\nMemFree:         9000000 kB\nMemAvailable:   12000000 kB\n"
LINKS = '[{"ifname": "lo"}, {"ifname": "eth0"}, {"ifname": "ovirtmgmt"}]'


def healthy_runner(spec) -> RecordingRunner:
    r = RecordingRunner()
    r.respond(["getent", "ahostsv4", "engine.example.com"], stdout="192.0.2.10 STREAM engine.example.com\n")
    r.respond(["getent", "hosts", "192.0.2.10"], stdout="192.0.2.10 engine.example.com\n")
    r.respond(["ping", "-c", "1", "-W", "1", "-n", "192.0.2.10"], returncode=1)
    r.respond(["ip", "-j", "link", "show"], stdout=LINKS)
    r.respond(["gluster", "volume", "info", "engine"], stdout=INFO)
    r.respond(["gluster", "volume", "status", "engine"], stdout=STATUS)
    r.respond(["blockdev", "--getss"], stdout="512\n")
    r.respond(["cat", "/proc/meminfo"], stdout=MEMINFO)
    r.respond(["virsh", "domstate"], returncode=1, stderr="error: failed to get domain 'HostedEngine'")
    r.respond(["sha256sum"], stdout=f"{SHA}  {spec.appliance_path}\n")
    r.respond(["qemu-img", "info"], stdout='{"virtual-size": 8589934592, "format": "qcow2"}')
    r.respond(["stat", "-c", "%a"], stdout="600\n")
    r.respond(["findmnt"], returncode=1)
    r.files[spec.engine.admin_password_file] = b"Correct-Horse-Battery-42\n"
    r.files[preflight.QEMU_CONF] = b'# lock_manager = "lockd"\nlock_manager = "sanlock"\n'
    r.files[preflight.QEMU_SANLOCK_CONF] = b"auto_disk_leases = 0\nrequire_lease_for_disks = 0\n"
    return r


@pytest.fixture
def facts(spec, monkeypatch):
    monkeypatch.setattr("nodecore.kvmprobe.cached_result", lambda: True)
    return probe(spec, healthy_runner(spec))


def test_a_healthy_host_passes_and_gives_the_plan_its_facts(spec, facts):
    report, plan_facts = check(spec, facts, "/s")
    assert report.ok, report.render_text()
    assert (plan_facts.domain_type, plan_facts.sector_size, plan_facts.bridge_exists) == ("kvm", 512, True)
    assert facts.volume is not None and facts.volume.replica == 3
    assert facts.volume_options["performance.strict-o-direct"] == "on"


def test_probe_runs_read_only_commands_only(spec, monkeypatch):
    monkeypatch.setattr("nodecore.kvmprobe.cached_result", lambda: True)
    runner = healthy_runner(spec)
    probe(spec, runner)
    commands = {a[0] for a in runner.argvs}
    assert commands <= {"getent", "ping", "ip", "gluster", "test", "blockdev", "cat", "virsh", "sanlock",
                        "sha256sum", "qemu-img", "stat", "findmnt"}
    assert ("virsh", "uri") in runner.argvs
    assert all(a[:2] != ("virsh", "start") for a in runner.argvs)


def _problems(spec, facts, **changes):
    report, _ = check(spec, dataclasses.replace(facts, **changes), "/s")
    return {p.field: p.message for p in report.errors}


def test_an_fqdn_that_does_not_resolve(spec, facts):
    no_hosts = dataclasses.replace(spec, engine=dataclasses.replace(spec.engine, hosts={}))
    problems = _problems(no_hosts, facts, forward=[], reverse=[])
    assert "does not resolve" in problems["engine.fqdn"]


def test_an_fqdn_that_resolves_elsewhere_and_a_missing_ptr(spec, facts):
    no_hosts = dataclasses.replace(spec, engine=dataclasses.replace(spec.engine, hosts={}))
    problems = _problems(no_hosts, facts, forward=["192.0.2.99"], reverse=["other.example.com"])
    assert "not to network.ip 192.0.2.10" in problems["engine.fqdn"]
    assert "resolves back to other.example.com" in problems["network.ip"]


def test_the_spec_hosts_entry_stands_in_for_dns(spec, facts):
    assert "engine.fqdn" not in _problems(spec, facts, forward=[], reverse=[])


def test_a_busy_ip(spec, facts):
    assert "in use" in _problems(spec, facts, ip_answers=True)["network.ip"]


def test_a_gateway_that_does_not_answer(spec, facts):
    assert "does not answer" in _problems(spec, facts, gateway_answers=False)["network.gateway"]


def test_a_volume_that_is_not_replica_3(spec, facts):
    volume = dataclasses.replace(facts.volume, replica=1, type="Distribute")
    report, _ = check(spec, dataclasses.replace(facts, volume=volume), "/s")
    assert [(p.field, p.message, p.hint) for p in report.errors] == [
        ("storage.volume", "engine is Distribute with replica 1, arbiter 0",
         "the engine volume must be replica 3 (or replica 3 arbiter 1)")]


def test_every_volume_problem_at_once(spec, facts):
    volume = dataclasses.replace(facts.volume, replica=2, status="Stopped")
    report, _ = check(spec, dataclasses.replace(facts, volume=volume, bricks={},
                                                volume_options={"network.remote-dio": "enable"}), "/s")
    messages = [p.message for p in report.errors if p.field == "storage.volume"]
    assert any("replica 2" in m for m in messages)
    assert any("Stopped" in m for m in messages)
    assert any("strict-o-direct" in m for m in messages)
    assert any("remote-dio=enable" in m for m in messages)
    assert any("bricks of engine are down" in m for m in messages)


def test_a_missing_volume(spec, facts):
    assert "not known to glusterd" in _problems(spec, facts, volume=None)["storage.volume"]


def test_too_little_memory_and_space(spec, facts):
    problems = _problems(spec, facts, memory_available=4096 * 1024 * 1024,
                         bricks={k: dict(v, size_free=10 * 1024**3) for k, v in facts.bricks.items()})
    assert "the engine VM needs 4.5GiB" in problems["vm.memory_mib"]
    assert "the engine needs 51GiB" in problems["vm.disk_gib"]


def test_no_kvm_needs_the_explicit_test_flag(spec, facts):
    assert "no hardware virtualization" in _problems(spec, facts, kvm_device=False)["test.allow_tcg"]
    tcg = dataclasses.replace(spec, test=dataclasses.replace(spec.test, allow_tcg=True))
    report, plan_facts = check(tcg, dataclasses.replace(facts, kvm_device=False), "/s")
    assert report.ok and plan_facts.domain_type == "qemu"
    assert [p.field for p in report.warnings] == ["test.allow_tcg"]


def test_daemons_and_files(spec, facts):
    problems = _problems(spec, facts, libvirtd=False, sanlock=False, appliance_sha256="f" * 64, password_mode=0o644)
    assert "libvirtd" in problems["(host)"] or "sanlock" in problems["(host)"]
    assert "not 01234567" in problems["appliance.sha256"]
    assert "others may read it" in problems["engine.admin_password_file"]
    assert "does not exist" in _problems(spec, facts, appliance_exists=False)["appliance.path"]
    assert "too easy" in _problems(spec, facts, password_problem="the password is too easy to guess")[
        "engine.admin_password_file"]


def test_a_missing_bridge_can_be_made_when_its_nic_exists(spec, facts):
    report, plan_facts = check(spec, dataclasses.replace(facts, links=["lo", "eth0"]), "/s")
    assert report.ok and not plan_facts.bridge_exists
    assert "eth0 is not a link" in _problems(spec, facts, links=["lo", "eth1"])["bridge.nic"]


def test_another_deployment_or_a_held_lease_is_refused(spec, facts):
    problems = _problems(spec, facts, mounted_source="host1.example.com:/engine",
                         deployments_on_volume=["0000-other"])
    assert "another hosted-engine deployment" in problems["storage.volume"]
    held = "s hosted-engine:1:/x/lockspace:0\nr hosted-engine:engine-vm:/x/vm.lease:0:3 p 1234\n"
    assert "holds the engine VM lease" in _problems(spec, facts, sanlock_status=held)["(host)"]


def test_a_rerun_while_our_engine_runs_is_a_resume(spec, facts):
    held = "r hosted-engine:engine-vm:/x/vm.lease:0:3 p 1234\n"
    report, _ = check(spec, dataclasses.replace(facts, domain_state="running", domain_deployment=spec.deployment_uuid,
                                                ip_answers=True, sanlock_status=held, memory_available=0,
                                                deployments_on_volume=[spec.deployment_uuid]), "/s")
    assert report.ok, report.render_text()


def test_a_host_serving_another_deployment_is_refused_by_its_host_json(spec, facts):
    # host.json as enrol writes it and the HA agent reads it ("deployment")
    problems = _problems(spec, facts, host_state={"host_id": 1, "deployment": "0000-other", "mount": "/m"})
    assert "serves the hosted-engine deployment 0000-other" in problems["(host)"]
    ours = {"host_id": 1, "deployment": spec.deployment_uuid, "mount": "/m"}
    assert "(host)" not in _problems(spec, facts, host_state=ours)


def test_a_partial_deploy_of_this_spec_resumes(spec, facts):
    report, _ = check(spec, dataclasses.replace(facts, deployments_on_volume=[spec.deployment_uuid]), "/s")
    assert report.ok and "resumes" in report.warnings[0].hint


def test_memory_available_reads_memavailable():
    assert preflight.memory_available(MEMINFO) == 12000000 * 1024


def test_facts_default_is_all_missing(spec):
    report, _ = check(spec, Facts(), "/s")
    assert len(report.errors) >= 6


def test_libvirt_must_enforce_the_lease_through_sanlock(spec, facts):
    report, _ = check(spec, dataclasses.replace(facts, qemu_conf='#lock_manager = "sanlock"\n',
                                                qemu_sanlock_conf="auto_disk_leases = 1\n"), "/s")
    messages = " | ".join(p.message for p in report.errors)
    assert "does not use the sanlock lock manager" in messages and "auto_disk_leases = 0" in messages


def test_conf_value_takes_the_last_uncommented_setting():
    assert preflight.conf_value('lock_manager = "lockd"\n# x\nlock_manager = "sanlock"  # ok\n',
                                "lock_manager") == "sanlock"
    assert preflight.conf_value('#lock_manager = "sanlock"\n', "lock_manager") == ""
