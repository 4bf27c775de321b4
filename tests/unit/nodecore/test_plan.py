import json

import pytest

from nodecore.plan import Plan, Step
from nodecore.secrets import MASK, Secret


def make_plan() -> Plan:
    return Plan("format brick", (
        Step("Create PV on /dev/sdb", argv=("pvcreate", "/dev/sdb"), check=("pvs", "/dev/sdb")),
        Step("Write fstab entry", action="write_file", params={"path": "/etc/fstab", "line": "UUID=1 /b xfs"}),
        Step("Set password", argv=("chpasswd",), stdin=Secret("hunter2-secret")),
    ), summary={"disks": ["/dev/sdb"], "layout": {"vg": "gluster_vg_sdb"}})


def test_step_id_is_stable_across_runs_and_instances():
    # the id is a content hash, so a plan computed in another process must give the same ids;
    # a literal value guards against accidental changes of the canonical form
    step = Step("Create PV on /dev/sdb", argv=("pvcreate", "/dev/sdb"), check=("pvs", "/dev/sdb"))
    assert step.id == make_plan().steps[0].id
    assert step.id == "efd3f01818e0d32f"
    assert make_plan().id == make_plan().id


def test_step_id_changes_with_content_and_not_with_param_order():
    a = Step("x", action="a", params={"p": 1, "q": 2})
    b = Step("x", action="a", params={"q": 2, "p": 1})
    c = Step("x", action="a", params={"p": 1, "q": 3})
    assert a.id == b.id != c.id


def test_step_needs_exactly_one_of_argv_or_action():
    with pytest.raises(ValueError):
        Step("nothing")
    with pytest.raises(ValueError):
        Step("both", argv=("true",), action="a")


def test_secret_in_argv_is_refused():
    with pytest.raises(TypeError):
        Step("leak", argv=("useradd", "-p", Secret("pw-value")))  # type: ignore[arg-type]


def test_duplicate_steps_are_rejected():
    s = Step("same", argv=("true",))
    with pytest.raises(ValueError, match="duplicate step"):
        Plan("dup", (s, s))


def test_render_text_lists_every_step_with_command():
    text = make_plan().render_text()
    assert "Plan: format brick (3 steps" in text
    assert "1. Create PV on /dev/sdb" in text
    assert "$ pvcreate /dev/sdb" in text
    assert "write_file(line=UUID=1 /b xfs, path=/etc/fstab)" in text
    assert "vg: gluster_vg_sdb" in text
    assert "hunter2-secret" not in text


def test_to_json_round_trips_and_masks_secrets():
    data = json.loads(make_plan().to_json())
    assert [s["title"] for s in data["steps"]] == ["Create PV on /dev/sdb", "Write fstab entry", "Set password"]
    assert data["steps"][2]["stdin"] == MASK
    assert "hunter2-secret" not in make_plan().to_json()
    assert data["id"] == make_plan().id
