"""Replica and arbiter per volume, as oVirt's HCI wizard and gluster-ansible inventories set them:
engine and data replica 3, vmstore replica 3 arbiter 1."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gluster_setup.inventory import convert, render
from gluster_setup.plan import GLUSTER, create_volume_argv, deploy_plan, expand_plan
from gluster_setup.spec import parse_spec
from nodecore.config import load_yaml_file

DATA = Path(__file__).resolve().parents[2] / "data" / "gluster"


def test_wizard_inventory_with_an_arbiter_volume_imports_as_the_mix() -> None:
    name = "inventory-hci-wizard-arbiter-mix.yml"
    data, report = convert(yaml.safe_load((DATA / name).read_text()), name)
    assert data is not None, report.render_text()
    assert data.get("replica", 3) == 3 and "arbiter" not in data
    assert {v["name"]: v.get("arbiter") for v in data["volumes"]} == {"engine": None, "data": None,
                                                                    "vmstore": True}
    spec, again = parse_spec(yaml.safe_load(render(data, name)), name, require_host_keys=False)
    assert spec is not None, again.render_text()
    layouts = {v.name: create_volume_argv(spec, v)[len(GLUSTER) + 3:len(GLUSTER) + 7] for v in spec.volumes}
    assert layouts["engine"][:2] == layouts["data"][:2] == ("replica", "3")
    assert "arbiter" not in layouts["engine"] and "arbiter" not in layouts["data"]
    assert layouts["vmstore"] == ("replica", "3", "arbiter", "1")
    # the wizard's firewall, SELinux and multipath settings are named, not dropped silently
    text = report.render_text()
    for var in ("gluster_infra_fw_ports", "gluster_set_selinux_labels", "blacklist_mpath_devices"):
        assert f"inventory variable {var} is not used by hcinode" in text
    assert "cluster_nodes" not in text and "gluster_features_hci_cluster" not in text


def test_unknown_inventory_variable_is_named_with_where_it_was() -> None:
    inv = yaml.safe_load((DATA / "inventory-hci-wizard-arbiter-mix.yml").read_text())
    inv["hc_nodes"]["vars"]["gluster_infra_frobnicate"] = True
    for host in inv["hc_nodes"]["hosts"].values():
        host["my_custom_var"] = 1
    _, report = convert(inv, "inv")
    text = report.render_text()
    assert "hc_nodes.vars.gluster_infra_frobnicate: inventory variable gluster_infra_frobnicate is not used" in text
    assert "inventory variable my_custom_var is not used by hcinode (in hosts.hc1-storage.example.com, " in text


def test_all_volumes_with_an_arbiter_keep_the_spec_wide_form() -> None:
    inv = yaml.safe_load((DATA / "inventory-hci-wizard-arbiter-mix.yml").read_text())
    for vol in inv["hc_nodes"]["vars"]["gluster_features_hci_volumes"]:
        vol["arbiter"] = 1
    data, report = convert(inv, "inv")
    assert data is not None, report.render_text()
    assert data["replica"] == 2 and data["arbiter"] is True
    assert all("arbiter" not in v for v in data["volumes"])


def test_bad_arbiter_value_is_an_error() -> None:
    inv = yaml.safe_load((DATA / "inventory-hci-wizard-arbiter-mix.yml").read_text())
    inv["hc_nodes"]["vars"]["gluster_features_hci_volumes"][2]["arbiter"] = "yes please"
    data, report = convert(inv, "inv")
    assert data is None
    assert "gluster_features_hci_volumes[2].arbiter" in report.render_text()


def _spec_data() -> dict:
    data = load_yaml_file(str(DATA / "spec-arbiter-mix.yaml"))
    assert isinstance(data, dict)
    return data


def test_plan_creates_each_volume_with_its_own_layout() -> None:
    spec, report = parse_spec(_spec_data(), "mix")
    assert spec is not None, report.render_text()
    plan = deploy_plan(spec)
    creates = {s.title: s.argv for s in plan.combined().steps if s.title.startswith("create volume")}
    assert "arbiter" not in creates["create volume engine"]
    assert creates["create volume vmstore"][len(GLUSTER) + 3:len(GLUSTER) + 7] == ("replica", "3", "arbiter", "1")
    assert plan.summary["layout"] == "engine, data: replica 3; vmstore: replica 3 arbiter 1"


def test_expand_adds_bricks_with_each_volumes_layout() -> None:
    data = _spec_data()
    data["hosts"] = data["hosts"] + [
        {"address": f"10.10.0.{i}", "host_key": data["hosts"][0]["host_key"], "disks": ["/dev/sdb"]}
        for i in (4, 5, 6)]
    spec, report = parse_spec(data, "mix")
    assert spec is not None, report.render_text()
    steps = expand_plan(spec, ["10.10.0.4", "10.10.0.5", "10.10.0.6"]).combined().steps
    adds = {s.title.rsplit(" ", 1)[-1]: s.argv for s in steps if s.title.startswith("add bricks")}
    assert "arbiter" in adds["vmstore"] and "arbiter" not in adds["data"]


@pytest.mark.parametrize(("change", "message"), [
    ({"replica": 1}, "volumes[2].arbiter: an arbiter volume needs replica sets of three"),
    ({"replica": 2, "arbiter": True, "volumes": [{"name": "data", "size": "1G", "arbiter": False}]},
     "volumes[0].arbiter: arbiter: false with the spec's replica 2 + arbiter"),
])
def test_per_volume_arbiter_that_cannot_work_is_refused(change: dict, message: str) -> None:
    data = {**_spec_data(), **change}
    if change.get("replica") == 1:
        data["hosts"] = data["hosts"][:1]
    spec, report = parse_spec(data, "mix")
    assert spec is None and message in report.render_text(), report.render_text()
