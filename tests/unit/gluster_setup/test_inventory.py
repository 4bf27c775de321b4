"""Import of gluster-ansible HCI inventories (three real-world shapes) into our spec."""

from __future__ import annotations

from pathlib import Path

import yaml

from gluster_setup.inventory import convert, render
from gluster_setup.spec import parse_spec

DATA = Path(__file__).resolve().parents[2] / "data" / "gluster"
G = 1024**3


def imported(name: str) -> tuple[dict, list[str]]:
    spec, report = convert(yaml.safe_load((DATA / name).read_text()), name)
    assert spec is not None, report.render_text()
    # what we write must load back as a valid spec
    reparsed, again = parse_spec(yaml.safe_load(render(spec, name)), name, require_host_keys=False)
    assert reparsed is not None, again.render_text()
    return spec, [p.field for p in report.warnings]


def test_cockpit_jbod_inventory() -> None:
    spec, warnings = imported("inventory-jbod.yml")
    assert [h["address"] for h in spec["hosts"]] == [f"host{i}-storage.example.com" for i in (1, 2, 3)]
    assert all(h["disks"] == ["/dev/sdb"] for h in spec["hosts"])
    assert spec["vg_name"] == "gluster_vg_sdb"
    assert [(v["name"], v["size"], v["thin"]) for v in spec["volumes"]] == [
        ("engine", 100 * G, False), ("data", 500 * G, True), ("vmstore", 500 * G, True)]
    assert spec["thin_pool"] == {"metadata_size": 3 * G}
    assert "disk_type" not in spec and "arbiter" not in spec
    assert spec["brick_root"] == "/gluster_bricks"
    # what the wizard writes that hcinode does not do is named, never dropped silently
    assert sorted(warnings) == sorted(
        ["hc_nodes.hosts.host1-storage.example.com.blacklist_mpath_devices"]
        + [f"hc_nodes.vars.{name}" for name in (
            "gluster_features_force_varlogsizecheck", "gluster_infra_fw_permanent", "gluster_infra_fw_ports",
            "gluster_infra_fw_services", "gluster_infra_fw_state", "gluster_infra_fw_zone",
            "gluster_set_selinux_labels")])


def test_raid6_arbiter_cache_under_all_children() -> None:
    spec, _ = imported("inventory-raid6-arbiter.yml")
    assert spec["disk_type"] == {"type": "RAID6", "disk_count": 10, "stripe_unit": 256 * 1024}
    assert spec["replica"] == 2 and spec["arbiter"] is True
    assert spec["cache"] == {"size": 100 * G, "mode": "writeback"}
    assert [h["cache_disk"] for h in spec["hosts"]] == ["/dev/sdc"] * 3
    assert [h["name"] for h in spec["hosts"]] == [f"hc{i}.mgmt.example.com" for i in (1, 2, 3)]
    assert spec["thin_pool"] == {"metadata_size": 16 * G, "size": 8 * 1024 * G}
    assert spec["volumes"][1]["options"] == {"performance.cache-size": "32MB", "cluster.shd-max-threads": "8"}


def test_two_vgs_per_host_become_one_with_a_warning() -> None:
    spec, warnings = imported("inventory-multidisk.yml")
    assert all(h["disks"] == ["/dev/sdb", "/dev/sdc"] for h in spec["hosts"])
    assert spec["brick_root"] == "/rhgs"
    assert spec["volumes"][0]["size"] == 58 * G and spec["volumes"][1]["size"] == 1200 * G
    assert any("gluster_infra_volume_groups" in w for w in warnings)


def test_not_an_inventory() -> None:
    spec, report = convert({"all": {"hosts": {"a": {}}}}, "x")
    assert spec is None
    assert report.errors[0].field == "hc_nodes"


def test_missing_lv_size_is_an_error() -> None:
    data = yaml.safe_load((DATA / "inventory-jbod.yml").read_text())
    for host in data["hc_nodes"]["hosts"].values():
        host["gluster_infra_thick_lvs"] = []
    spec, report = convert(data, "x")
    assert spec is None
    assert any("no LV size found for engine" in p.message for p in report.errors)


def _jbod() -> dict:
    return yaml.safe_load((DATA / "inventory-jbod.yml").read_text())


def _first_host(data: dict) -> dict:
    return next(iter(data["hc_nodes"]["hosts"].values()))


def test_wrong_types_are_named_errors_not_tracebacks() -> None:
    cases = []
    data = _jbod()
    _first_host(data)["gluster_infra_volume_groups"] = "gluster_vg_sdb"  # a VG as a string
    cases.append((data, "gluster_infra_volume_groups[0]", "expected a mapping"))
    data = _jbod()
    data["hc_nodes"]["vars"]["gluster_infra_disktype"] = "RAID6"
    data["hc_nodes"]["vars"]["gluster_infra_stripe_unit_size"] = "256Q"
    cases.append((data, "gluster_infra_stripe_unit_size", "not a size"))
    data = _jbod()
    data["hc_nodes"]["vars"]["gluster_infra_disktype"] = "RAID6"
    data["hc_nodes"]["vars"]["gluster_infra_diskcount"] = "ten"
    cases.append((data, "gluster_infra_diskcount", "not a whole number"))
    data = _jbod()
    data["hc_nodes"]["vars"] = ["not", "a", "mapping"]
    cases.append((data, "hc_nodes.vars", "expected a mapping"))
    data = _jbod()
    data["hc_nodes"]["hosts"]["host1-storage.example.com"] = ["x"]
    cases.append((data, "hc_nodes.hosts.host1-storage.example.com", "expected a mapping"))
    data = _jbod()
    data["hc_nodes"]["vars"]["gluster_features_hci_volumes"] = ["engine"]
    cases.append((data, "gluster_features_hci_volumes[0]", "expected a mapping"))
    data = _jbod()
    data["hc_nodes"]["vars"]["gluster_features_hci_volume_options"] = ["a=b"]
    cases.append((data, "gluster_features_hci_volume_options", "expected a mapping"))
    for data, field, words in cases:
        spec, report = convert(data, "inv.yml")
        assert spec is None
        assert any(field in p.field and words in p.message for p in report.errors), report.render_text()


def test_stripe_unit_with_a_unit_is_understood() -> None:
    data = yaml.safe_load((DATA / "inventory-raid6-arbiter.yml").read_text())
    group_vars = data["all"]["children"]["hc_nodes"]["vars"]
    plain = convert(data, "a")[0]
    group_vars["gluster_infra_stripe_unit_size"] = f"{group_vars['gluster_infra_stripe_unit_size']}K"
    with_unit = convert(data, "b")[0]
    assert plain is not None and with_unit is not None
    assert with_unit["disk_type"] == plain["disk_type"]


def test_control_characters_in_an_inventory_are_named_errors() -> None:
    """The importer's spec goes through the shared control-character rule (nodecore.config.check_text)."""
    data = _jbod()
    data["hc_nodes"]["vars"]["gluster_features_hci_volume_options"] = {"cluster.quorum-type": "auto\nuser.x=1"}
    spec, report = convert(data, "inv.yml")
    assert spec is None
    assert any(p.field.endswith("options.cluster.quorum-type") and "control character" in p.message
               for p in report.errors), report.render_text()
