"""Plan golden files (JBOD, RAID6, no-LVM, expand, teardown) and the rules behind them.

Regenerate after an intended change with `pytest --regenerate` and review the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from gluster_setup.plan import DeployPlan, chunk_size, data_alignment, deploy_plan, expand_plan, teardown_plan
from gluster_setup.spec import GlusterSpec, parse_spec
from nodecore.config import load_yaml_file
from tests import goldenfiles

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "gluster"


def load(name: str) -> GlusterSpec:
    spec, report = parse_spec(load_yaml_file(str(DATA / name)), name)
    assert spec is not None, report.render_text()
    return spec


def assert_golden(name: str, text: str) -> None:
    goldenfiles.assert_golden(f"gluster/{name}", text)


@pytest.mark.parametrize("spec_name,golden", [("spec-jbod.yaml", "deploy-jbod.txt"),
                                               ("spec-raid6.yaml", "deploy-raid6.txt"),
                                               ("spec-nolvm.yaml", "deploy-nolvm.txt"),
                                               ("spec-arbiter-mix.yaml", "deploy-arbiter-mix.txt")])
def test_deploy_plan_golden(spec_name: str, golden: str) -> None:
    assert_golden(golden, deploy_plan(load(spec_name)).combined().render_text())


def test_deploy_plan_json_golden() -> None:
    assert_golden("deploy-jbod.json", deploy_plan(load("spec-jbod.yaml")).combined().to_json())


def test_teardown_golden() -> None:
    assert_golden("teardown-jbod.txt", teardown_plan(load("spec-jbod.yaml")).combined().render_text())


def test_expand_golden() -> None:
    spec = load("spec-six.yaml")
    plan = expand_plan(spec, ["10.10.0.4", "10.10.0.5", "10.10.0.6"])
    assert_golden("expand-six.txt", plan.combined().render_text())


def test_every_step_has_a_check_so_reruns_skip() -> None:
    for name in ("spec-jbod.yaml", "spec-raid6.yaml", "spec-nolvm.yaml"):
        for step in deploy_plan(load(name)).combined().steps:
            assert step.check, f"{name}: {step.title} has no check"


def test_raid6_geometry() -> None:
    spec = load("spec-raid6.yaml")
    assert data_alignment(spec) == 1280 * 1024  # full stripe: 10 x 128K
    assert chunk_size(spec) == 1280 * 1024
    steps = deploy_plan(spec).combined().steps
    mkfs = [s.argv for s in steps if s.argv[:1] == ("mkfs.xfs",)]
    assert mkfs and all(a[6:8] == ("-d", "su=128k,sw=10") for a in mkfs)
    create = next(s.argv for s in steps if s.argv[2:4] == ("volume", "create"))
    assert create[5:9] == ("replica", "3", "arbiter", "1")


def test_jbod_geometry_and_hci_options() -> None:
    spec = load("spec-jbod.yaml")
    assert data_alignment(spec) == chunk_size(spec) == 256 * 1024
    argvs = [s.argv for s in deploy_plan(spec).combined().steps]
    assert ("gluster", "--mode=script", "volume", "set", "data", "group", "hcinode-data") in argvs
    group = next(s for s in deploy_plan(spec).combined().steps if s.action == "write_option_group"
                 and s.params["group"] == "hcinode-data")
    assert group.params["base"] == "virt"
    assert dict(group.params["options"]) == {"storage.owner-uid": "36", "storage.owner-gid": "36",
                                             "network.ping-timeout": "30", "performance.strict-o-direct": "on",
                                             "network.remote-dio": "off", "cluster.granular-entry-heal": "on"}
    pool = next(a for a in argvs if "thin-pool" in a)
    assert pool[pool.index("--zero"):pool.index("--zero") + 2] == ("--zero", "n")


def test_parallel_phases_per_host() -> None:
    plan = deploy_plan(load("spec-jbod.yaml"))
    assert [p.name for p in plan.phases] == ["bricks", "cluster", "mounts"]
    assert plan.phases[0].parallel and not plan.phases[1].parallel
    assert set(plan.phases[0].plans) == {"node1.example.com", "node2.example.com", "node3.example.com"}


def test_plan_ids_stable() -> None:
    assert deploy_plan(load("spec-jbod.yaml")).combined().id == deploy_plan(load("spec-jbod.yaml")).combined().id


def test_expand_rejects_new_first_host() -> None:
    with pytest.raises(ValueError):
        expand_plan(load("spec-six.yaml"), ["10.10.0.1"])


def test_option_group_file_overrides_virt() -> None:
    from gluster_setup.apply import write_option_group
    from nodecore.runner import RecordingRunner

    runner = RecordingRunner()
    runner.respond(["cat", "/var/lib/glusterd/groups/virt"], 0,
                   "network.remote-dio=disable\nfeatures.shard=on\nnetwork.ping-timeout=20\n")
    write_option_group(runner, {"group": "hcinode-data", "base": "virt",
                                "options": {"network.ping-timeout": "30", "network.remote-dio": "off"}})
    written = runner.files["/var/lib/glusterd/groups/hcinode-data"].decode()
    assert written == "features.shard=on\nnetwork.ping-timeout=30\nnetwork.remote-dio=off\n"


def test_replica_1_group_leaves_out_replicate_only_options() -> None:
    # glusterd 10.3 refuses cluster.shd-max-threads on a volume without replication (found in the
    # node ISO VM: tests/e2e/test_gluster_lvm_vm.py); replica 3 keeps the whole virt group
    from gluster_setup.apply import write_option_group
    from nodecore.runner import RecordingRunner

    three = load("spec-jbod.yaml")
    one = dataclasses.replace(three, hosts=three.hosts[:1], replica=1)
    groups = [s for s in deploy_plan(one).combined().steps if s.action == "write_option_group"]
    assert groups and all(s.params["drop"] == ["cluster.shd-max-threads"] for s in groups)
    assert all("drop" not in s.params for s in deploy_plan(three).combined().steps
               if s.action == "write_option_group")
    runner = RecordingRunner()
    runner.respond(["cat", "/var/lib/glusterd/groups/virt"], 0, "cluster.shd-max-threads=8\nfeatures.shard=on\n")
    write_option_group(runner, dict(groups[0].params))
    assert runner.files["/var/lib/glusterd/groups/hcinode-engine"].decode().startswith("features.shard=on\n")


def _shell_steps(plan: DeployPlan) -> list[tuple[str, ...]]:
    argvs = []
    for step in plan.combined().steps:
        for argv in (step.argv, step.check):
            if argv[:2] == ("sh", "-c"):
                argvs.append(argv)
    return argvs


def test_no_spec_value_is_ever_part_of_a_shell_script() -> None:
    # the plan is built from a spec that validation would refuse: even then a value stays an argument
    spec = dataclasses.replace(load("spec-jbod.yaml"), brick_root="/b'; touch /tmp/pwned; '",
                               mount_root="/m\nUUID=x / xfs defaults 0 0", fstab="/etc/f$(id)")
    for make in (deploy_plan, teardown_plan, lambda s: expand_plan(s, [s.hosts[-1].address])):
        argvs = _shell_steps(make(spec))
        assert argvs
        for argv in argvs:
            script = argv[2]
            for value in ("pwned", "UUID=x", "$(id)", "/gluster_bricks", "engine", "10.10.0.", "gluster_vg"):
                assert value not in script, (value, argv)
            assert argv[3] == "sh"  # $0; the values follow as $1, $2, ...


def test_fstab_check_matches_the_mount_point_as_a_string_in_a_real_shell(tmp_path) -> None:
    from gluster_setup.plan import mounted_check
    from nodecore.runner import LocalRunner

    fstab = tmp_path / "fstab"
    fstab.write_text("# /mnt/x.y xfs\nUUID=1 /mnt/a.b xfs inode64 0 0\n")
    evil = tmp_path / "x'; touch pwned; '"
    runner = LocalRunner()
    for mountpoint in ("/mnt/a.b", "/mnt/axb", "/mnt/a", "/mnt/x.y", str(evil)):
        argv = mounted_check(mountpoint, str(fstab))
        # `mountpoint -q` fails (nothing is mounted here): run only the fstab half of the check
        script = argv[2].replace('mountpoint -q "$1" && ', "")
        found = runner.run(("sh", "-c", script, *argv[3:]), check=False).ok
        assert found == (mountpoint == "/mnt/a.b"), mountpoint
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")
