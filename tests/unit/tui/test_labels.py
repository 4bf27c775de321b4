"""Field errors use the label the user sees and 1-based positions (issue 12, section 5), in one
place (tui.labels) for every page; a corrected field loses its old error as soon as it is edited."""

from __future__ import annotations

import pytest

from nodecore.report import Problem, ValidationReport
from tui.labels import field_label, item_label, problem_text, report_lines
from tui.render import press, render_text, type_text

from .conftest import make_app


@pytest.mark.parametrize(("path", "label"), [
    ("disks", "Target disks"),
    ("dns[1]", "DNS server 2"),
    ("network.dns.servers[1]", "DNS server 2"),
    ("network.dns.search[0]", "Search domain 1"),
    ("ntp_servers[2]", "NTP server 3"),
    ("timezone", "Time zone"),
    ("rootpw", "Admin password"),
    ("network.hostname", "Hostname"),
    ("ssh.authorized_keys[0]", "Authorized key 1"),
    ("network.interfaces[0].ipv4.addresses[1]", "eno1 IPv4 address 2"),
    ("network.bonds[0].mtu", "Bond 1 MTU"),  # no name known: kind and 1-based position
    ("network.vlans[0].ipv4.routes[0].via", "VLAN 1 IPv4 route 1 via"),
    ("kickstart:12", "Kickstart line 12"),
])
def test_field_label(path: str, label: str) -> None:
    assert field_label(path, {"interfaces[0]": "eno1"}) == label


def test_problem_text_and_report_lines() -> None:
    assert problem_text(Problem("error", "disks", "choose at least one disk")) == \
        "Target disks: choose at least one disk"
    assert item_label("network.dns.servers[1]") == "DNS server 2" and item_label("network.dns.servers") == ""
    report = ValidationReport()
    report.warning("network.hostname", "no hostname given")
    report.error("dns[0]", "'x' is not an IP address")
    assert report_lines(report) == ["DNS server 1: 'x' is not an IP address", "Warning: Hostname: no hostname given"]


@pytest.mark.parametrize("size", [(80, 24), (132, 43)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_target_disks_error_uses_the_label_and_goes_when_a_disk_is_chosen(size: tuple[int, int]) -> None:
    app = make_app("install")
    app.go("Target disks")
    app.root.keypress(size, "f10")
    screen = render_text(app.root, *size)
    assert "Target disks: choose at least one disk" in screen and "error: disks:" not in screen
    next(iter(app.current.boxes.values())).set_state(True)  # Space on the first disk
    assert "choose at least one disk" not in render_text(app.root, *size)


def test_installer_dns_error_names_the_server_by_position() -> None:
    app = make_app("install")
    app.go("Network")
    fields = app.current.form.fields
    fields["dns"].value = "192.0.2.53 999.1.1.1"
    app.root.keypress((132, 43), "f10")
    assert fields["dns"].error == "DNS server 2: '999.1.1.1' is not an IP address"
    assert app.current.name == "Network" and "dns[1]" not in render_text(app.root, 132, 43)


def test_node_dns_error_names_the_server_and_clears_when_edited() -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["d"])  # Hostname and DNS
    editor = app.dialogs[-1]
    servers = editor.form.fields["servers"]
    servers.value = "192.0.2.53 bogus"
    editor.ok()
    assert servers.error.startswith("DNS server 2: 'bogus' is not an IP address")
    assert "DNS server 2:" in render_text(app.root, 80, 24)
    editor.pile.focus_position = 0
    press(app.root, ["down", "end", "backspace"])  # the technician corrects the field
    assert servers.error == "" and "DNS server 2:" not in render_text(app.root, 80, 24)


def test_keyboard_time_error_goes_as_soon_as_the_field_is_edited() -> None:
    app = make_app("node")
    app.go("Keyboard/time")
    zone = app.current.form.fields["timezone"]
    zone.value = "Mars/Olympus"
    app.current.on_apply()
    assert "unknown time zone" in zone.error
    zone.edit.keypress((40,), "x")  # any edit
    assert zone.error == ""
    type_text(app.root, "")  # a redraw shows it gone
    assert "unknown time zone" not in render_text(app.root, 80, 24)
