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


def password_plan(password: str, where: str = "stdin") -> Plan:
    secret = Secret(password)
    step = Step("Set the root password", argv=("chpasswd", "-e"), stdin=secret) if where == "stdin" else \
        Step("Set the root password", action="set_shadow_hash", params={"user": "root", "hash": secret})
    return Plan("node settings", (step,))


def test_a_step_with_a_new_secret_is_a_new_step_and_the_same_secret_resumes():
    # the journal is keyed by step and plan id: a changed password must never be skipped as "done"
    for where in ("stdin", "params"):
        first, again, changed = (password_plan(p, where) for p in ("First-pass-123", "First-pass-123",
                                                                    "Second-pass-456"))
        assert first.steps[0].id == again.steps[0].id and first.id == again.id
        assert first.steps[0].id != changed.steps[0].id and first.id != changed.id


def test_a_step_id_is_a_keyed_hash_not_the_secret_nor_the_mask(fixed_secret_key, monkeypatch):
    import hashlib

    import nodecore.secrets
    from nodecore.plan import canonical_json

    step = password_plan("Keyed-pass-789", "params").steps[0]
    content = {"title": step.title, "argv": (), "action": step.action, "check": (), "host": "",
               "params": {"user": "root", "hash": None}}
    for value in ("Keyed-pass-789", MASK):  # what an unkeyed hash would have hashed
        content["params"]["hash"] = value
        assert step.id != hashlib.sha256(canonical_json(content).encode()).hexdigest()[:16]
    assert "Keyed-pass-789" not in json.dumps(step.to_dict()) and MASK in json.dumps(step.to_dict())
    here = step.id
    monkeypatch.setattr(nodecore.secrets, "_key", b"another-machine".ljust(32, b"0"))
    assert password_plan("Keyed-pass-789", "params").steps[0].id != here  # another key, another id


def test_plan_output_masks_url_credentials():
    plan = Plan("install", (Step("Fetch", action="fetch", params={"url": "http://u:Pw-in-url-1@h/i.img?token=tk-1"}),),
                summary={"kickstart": "https://ks-user:Pw-in-url-2@h/ks.cfg"})
    for text in (plan.render_text(), plan.to_json()):
        assert "Pw-in-url-1" not in text and "tk-1" not in text and "Pw-in-url-2" not in text
        assert "ks-user:********@h/ks.cfg" in text
