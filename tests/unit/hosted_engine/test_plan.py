import json

import pytest

from hosted_engine import layout
from hosted_engine.plan import PlanFacts, cleanup_plan, deploy_plan, deployment_config
from hosted_engine.spec import parse_spec
from tests.goldenfiles import assert_golden
from tests.unit.hosted_engine.conftest import base_data

FACTS = PlanFacts(domain_type="kvm", sector_size=512, bridge_exists=True, state_dir="/var/lib/hcinode/hosted-engine")


def test_the_deploy_plan_is_golden(spec):
    assert_golden("hosted_engine/deploy-plan.txt", deploy_plan(spec, FACTS).render_text())


def test_a_tcg_deploy_on_4kn_bricks_that_makes_its_bridge_is_golden():
    data = base_data()
    data["appliance"] = {"url": "https://mirror.example.com/engine-appliance.qcow2", "sha256": "a" * 64}
    data["bridge"] = {"name": "ovirtmgmt", "bond": {"name": "bond0", "slaves": ["eth0", "eth1"]}, "vlan": 100}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    facts = PlanFacts(domain_type="qemu", sector_size=4096, bridge_exists=False,
                      state_dir="/var/lib/hcinode/hosted-engine")
    assert_golden("hosted_engine/deploy-plan-tcg.txt", deploy_plan(spec, facts).render_text())


def test_the_plan_is_the_same_for_the_same_spec_so_a_journal_resumes(spec):
    again, _ = parse_spec(base_data())
    assert deploy_plan(spec, FACTS).id == deploy_plan(again, FACTS).id


def test_every_step_has_a_check(spec):
    # a completed deploy closes its journal: a re-run skips only what a check finds in place, and
    # writing the lockspace or lease again would destroy the running engine's (found for real)
    for step in deploy_plan(spec, FACTS).steps:
        assert step.check, step.title


def test_the_sanlock_steps_are_skipped_when_sanlock_reads_their_records(spec):
    steps = {s.action: s for s in deploy_plan(spec, FACTS).steps}
    directory = f"/mnt/glusterSD/engine/hosted-engine/{spec.deployment_uuid}"
    assert steps["hosted_engine.lockspace.init_lockspace"].check == (
        "sanlock", "client", "read", "-s", f"hosted-engine:0:{directory}/lockspace:0")
    assert steps["hosted_engine.lockspace.init_lease"].check == (
        "sanlock", "client", "read", "-r", f"hosted-engine:engine-vm:{directory}/vm.lease:0")
    assert steps["hosted_engine.lockspace.join_lockspace"].check[-1] == f"s hosted-engine:1:{directory}/lockspace:0"
    assert steps["hosted_engine.wait_health"].check[-1] == "https://engine.example.com/health"


def test_the_plan_holds_no_secret(spec):
    text = deploy_plan(spec, FACTS).to_json()
    assert "PRIVATE KEY" not in text and "$y$" not in text
    assert spec.engine.admin_password_file in text  # the file is named, its content is not read


def test_the_sanlock_steps_use_the_measured_sector_size(spec):
    facts = PlanFacts("kvm", 4096, True, "/s")
    steps = {s.action: s for s in deploy_plan(spec, facts).steps if s.action.startswith("hosted_engine.lockspace.")}
    assert steps["hosted_engine.lockspace.init_lockspace"].params == {
        "path": "/mnt/glusterSD/engine/hosted-engine/" + spec.deployment_uuid + "/lockspace", "sector": 4096,
        "io_timeout": spec.sanlock.io_timeout}
    assert steps["hosted_engine.lockspace.init_lease"].params["sector"] == 4096


def test_deployment_json_has_the_shared_contract_keys(spec):
    config = deployment_config(spec, FACTS)
    # the names the HA agent reads (hosted_engine.ha_agent.DeploymentConfig)
    assert {"uuid", "engine_fqdn", "health_url", "vm", "io_timeout", "sector_size", "bridge", "gateway",
            "version", "vm_xml_version"} <= set(config)
    assert config["vm"]["memory_mib"] == 4096 and config["vm"]["vcpus"] == 2
    json.dumps(config)


@pytest.mark.parametrize("bridge_exists", [True, False])
def test_the_bridge_step_only_when_the_bridge_is_missing(spec, bridge_exists):
    facts = PlanFacts("kvm", 512, bridge_exists, "/s")
    actions = [s.action for s in deploy_plan(spec, facts).steps]
    assert ("hosted_engine.make_bridge" in actions) is not bridge_exists


def test_cleanup_touches_only_this_deployment(spec):
    plan = cleanup_plan(spec, FACTS.state_dir)
    assert_golden("hosted_engine/cleanup-plan.txt", plan.render_text())
    removed = [a for s in plan.steps if s.argv[:1] == ("rm",) for a in s.argv if a.startswith("/")]
    directory = layout.DeploymentPaths(spec.mount_point, spec.deployment_uuid).directory
    assert directory in removed and spec.mount_point not in removed
    assert all(spec.deployment_uuid in p or p.endswith("host.json") for p in removed)


def test_change_summary_is_one_sentence_per_change_and_names_no_secret(spec):
    from hosted_engine.plan import change_summary

    plan = deploy_plan(spec, FACTS)
    lines = change_summary(plan, spec)
    assert len(lines) == 9 and len(set(lines)) == len(lines)
    assert lines[0] == "/etc/hosts of this host and of the engine VM: engine.example.com -> 192.0.2.10"
    assert lines[1].startswith("Engine volume host1.example.com:/engine mounted on ")
    assert any(line.startswith("Engine VM HostedEngine: ") and "holding the VM lease" in line for line in lines)
    assert any(line == "This host enrolled in the new engine (sanlock host id 1)" for line in lines)
    assert not any(spec.engine.admin_password_file in line for line in lines)


def test_change_summary_names_a_bridge_the_deploy_makes():
    from hosted_engine.plan import change_summary

    data = base_data()
    data["bridge"] = {"name": "ovirtmgmt", "bond": {"name": "bond0", "slaves": ["eth0", "eth1"]}, "vlan": 100}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    facts = PlanFacts(domain_type="qemu", sector_size=4096, bridge_exists=False, state_dir="/var/lib/hcinode/he")
    lines = change_summary(deploy_plan(spec, facts), spec)
    assert lines[0] == ("Management bridge ovirtmgmt (new) on the active-backup bond bond0 of eth0+eth1, VLAN 100; "
                        "rolled back by itself if it cuts this host off")
    assert "Wait up to 40 min for https://" in "\n".join(lines) and "TCG (test only)" in "\n".join(lines)


def test_the_seed_detach_is_skipped_by_the_definition_not_the_pending_live_unplug(spec):
    step = next(s for s in deploy_plan(spec, FACTS).steps if s.title.startswith("Detach the seed"))
    assert "domblklist --inactive" in step.check[2] and step.check[-1].endswith("/seed.iso")
