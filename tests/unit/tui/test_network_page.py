"""Network page driven by keys: a bond with a VLAN and its plan; field errors from node_setup's rules."""

from __future__ import annotations

from tui.render import press, render_text, type_text

from .conftest import check_golden, make_app


def create_bond_with_vlan(app) -> None:  # type: ignore[no-untyped-def]
    root = app.root
    app.go("Network")
    press(root, ["b"])  # Create bond: name bond0
    press(root, ["down", "down", " ", "down", " "])  # slaves eno2 + ens1f0
    press(root, ["down", "down", "down", " "])  # mode 802.3ad
    press(root, ["f10"])
    press(root, ["v"])  # Add VLAN
    press(root, ["down", "down", " ", "down"])  # parent bond0
    type_text(root, "100")
    press(root, ["down", "down", "down", " ", "down"])  # IPv4 static
    type_text(root, "198.51.100.10/24")
    press(root, ["down"])
    type_text(root, "198.51.100.1")
    press(root, ["f10"])


def test_create_bond_with_vlan_and_see_the_plan() -> None:
    app = make_app("node")
    create_bond_with_vlan(app)
    assert not app.dialogs
    page = app.page("Network").model()
    net = page["desired"].network
    assert [(b.name, b.slaves, b.mode) for b in net.bonds] == [("bond0", ("eno2", "ens1f0"), "802.3ad")]
    assert [(v.name, v.parent, v.id, v.ipv4.addresses) for v in net.vlans] == \
        [("bond0.100", "bond0", 100, ("198.51.100.10/24",))]
    screen = render_text(app.root, 80, 24)
    assert "bond0      bond   802.3ad of eno2+ens1f0" in screen and "changed, not applied" in screen
    check_golden("flow-network-bond-vlan-80x24", screen)
    press(app.root, ["f10"])
    plan_screen = render_text(app.root, 132, 43)
    assert "Dry run: nothing will be changed" in plan_screen
    assert "- bond0 (new): 802.3ad bond of eno2+ens1f0, no IP address" in plan_screen
    assert "- bond0.100 (new): VLAN 100 on bond0, static 198.51.100.10/24, gateway 198.51.100.1" in plan_screen
    assert "nm_put(" not in plan_screen and "Activate eno1" not in plan_screen
    check_golden("flow-network-plan-132x43", plan_screen)
    press(app.root, ["d"])  # Details: the step list
    steps_screen = render_text(app.root, 132, 43)
    assert "Add profile bond0 (bond) in memory" in steps_screen
    assert "Add profile bond0.100 (vlan) in memory" in steps_screen
    assert "checkpoint" in steps_screen and "nm_put(" not in steps_screen and "Activate eno1" not in steps_screen


def test_invalid_ip_shows_the_field_error() -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["v"])  # VLAN on eno1 (first parent)
    type_text(app.root, "")
    press(app.root, ["down"] * 4)
    type_text(app.root, "20")
    press(app.root, ["down", "down", "down", "down"])
    type_text(app.root, "198.51.100.300/24")
    press(app.root, ["f10"])
    screen = render_text(app.root, 80, 24)
    assert app.dialogs, "the editor stays open while the input is invalid"
    assert "'198.51.100.300/24' is not an IPv4 address with a prefix" in screen
    check_golden("flow-network-invalid-ip-80x24", screen)


def test_gateway_outside_subnet_is_reported_by_node_setup_under_the_field() -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["v"])
    press(app.root, ["down"] * 4)
    type_text(app.root, "30")
    press(app.root, ["down"] * 4)
    type_text(app.root, "198.51.100.10/24")
    press(app.root, ["down"])
    type_text(app.root, "203.0.113.1")
    press(app.root, ["f10"])
    assert app.dialogs
    field = app.dialogs[-1].form.fields["gateway"]
    assert "203.0.113.1" in field.error or "subnet" in field.error


def test_unchanged_settings_have_nothing_to_apply() -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["f10"])
    assert "Nothing to apply" in render_text(app.root, 80, 24)
