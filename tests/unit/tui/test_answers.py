"""A console that answers (issue 12, section 5): results, errors and questions appear at once,
and what is shown is what the node has. Screens are drawn as the main loop draws them: the last
canvas stays alive (tui.render.draw), so urwid's canvas cache is as real as on a terminal."""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from tui.render import press, render_text, type_text
from tui.worker import Worker

from .conftest import make_app

SIZES = [(80, 24), (132, 43)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_f10_on_target_disks_without_a_disk_shows_the_error_at_once(size: tuple[int, int]) -> None:
    app = make_app("install")
    app.go("Target disks")
    render_text(app.root, *size)
    app.root.keypress(size, "f10")  # one key, then one draw: no second key to "wake" the screen
    assert "choose at least one disk" in render_text(app.root, *size)


class PipeLoop:
    """The two calls Worker needs from urwid's MainLoop; the test plays the loop's select()."""

    def __init__(self) -> None:
        self.read_fd = -1
        self.callback = None

    def watch_pipe(self, callback):  # type: ignore[no-untyped-def]
        self.read_fd, write_fd = os.pipe()
        self.callback = callback
        return write_fd

    def remove_watch_pipe(self, fd: int) -> None:
        os.close(fd)
        os.close(self.read_fd)

    def wake(self) -> None:
        """What the main loop does when the pipe becomes readable."""
        assert self.callback is not None
        self.callback(os.read(self.read_fd, 64))


def test_test_network_shows_testing_then_the_result_without_a_key() -> None:
    app = make_app("node")
    worker, loop = Worker(), PipeLoop()
    worker.on_error, worker.after_callbacks = app.ctx.worker.on_error, app.ctx.worker.after_callbacks
    app.ctx.worker = worker
    release = threading.Event()
    services = app.ctx.services
    real_test = services.network_test

    def slow_test(*args):  # type: ignore[no-untyped-def]
        release.wait(5)
        return real_test(*args)

    services.network_test = slow_test  # type: ignore[method-assign]
    worker.attach(loop)
    try:
        app.go("Test network")
        type_text(app.root, "192.0.2.7")
        app.root.keypress((80, 24), "f10")
        assert "testing ..." in render_text(app.root, 80, 24)
        release.set()
        loop.wake()  # the result arrives through the pipe; no key is pressed
        screen = render_text(app.root, 80, 24)
        assert "All checks passed." in screen and "testing ..." not in screen
    finally:
        worker.detach(loop)


def open_nic_editor(app, index: int):  # type: ignore[no-untyped-def]
    app.go("Network")
    app.current.edit("interfaces", index)  # what Enter on the device's row does
    return app.dialogs[-1]


def test_removing_the_management_nic_asks_first_default_no() -> None:
    app = make_app("node")
    names = [d.name for d in app.page("Network").node.current.network.interfaces]
    open_nic_editor(app, names.index("eno2")).remove()  # no address, no gateway: no question
    assert not app.dialogs
    editor = open_nic_editor(app, names.index("eno1"))
    editor.remove()
    screen = render_text(app.root, 80, 24)
    assert "Remove the management interface?" in screen and "eno1" in screen
    press(app.root, ["enter"])  # the default answer keeps it
    def configured() -> list[str]:
        return [d.name for d in app.page("Network").node.desired.network.interfaces]

    assert "eno1" in configured() and "eno2" not in configured() and app.dialogs == [editor]
    editor.remove()
    app.dialogs[-1].buttons[0][1]()  # "Remove"
    assert not app.dialogs and "eno1" not in configured()


def test_discard_asks_first_and_quit_with_unapplied_changes_defaults_to_no() -> None:
    app = make_app("node")
    network = app.page("Network")
    network.node.update(hostname="node02.lab.example")
    app.go("Network")
    network.discard()
    assert "Discard changes?" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])  # default: keep editing
    assert network.node.dirty() and not app.dialogs
    press(app.root, ["meta q"])
    screen = render_text(app.root, 80, 24)
    assert "Quit with unapplied changes?" in screen and "Network: hostname settings" in screen
    press(app.root, ["enter"])  # default: stay
    assert not app.quit_requested and not app.dialogs
    network.discard()
    app.dialogs[-1].buttons[0][1]()  # "Discard"
    assert not network.node.dirty()
    press(app.root, ["meta q"])
    assert "Leave the hcinode console?" in render_text(app.root, 80, 24)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_header_keeps_mode_and_dry_run_with_a_long_hostname(size: tuple[int, int]) -> None:
    app = make_app("node")
    app.ctx.facts = replace(app.ctx.facts, hostname="hypervisor-node-0042.rack17.datacenter-west.example.com")
    header = render_text(app.root, *size).splitlines()[0]
    assert "| Node | DRY RUN" in header and "hypervisor-node-0042" in header
    assert "UTC" in header


@pytest.mark.parametrize(("mode", "page", "has", "lacks"), [
    ("node", "Status", ["F5 Refresh", "F12 Lock"], ["F10"]),
    ("node", "Network", ["F10 Apply", "B Bond"], []),
    ("node", "Test network", ["F10 Run test"], []),
    ("node", "Power", [], ["F10"]),
    ("install", "Welcome", ["F10 Next"], ["Esc Back", "F12", "F5"]),
    ("install", "Summary", ["F10 Install", "Esc Back"], ["F10 Next"]),
    ("install", "Installing", [], ["F10", "Esc Back"]),
])
def test_footer_shows_only_keys_that_work(mode: str, page: str, has: list[str], lacks: list[str]) -> None:
    app = make_app(mode)
    app.go(page)
    footer = render_text(app.root, 80, 24).splitlines()[-1]
    for key in has:
        assert key in footer
    for key in lacks:
        assert key not in footer


def test_ctrl_u_clears_a_field() -> None:
    app = make_app("node")
    app.go("Test network")
    type_text(app.root, "192.0.2.7")
    assert app.current.form.values()["hosts"] == "192.0.2.7"
    press(app.root, ["ctrl u"])
    assert app.current.form.values()["hosts"] == ""


@pytest.mark.parametrize("page", ["Status", "Keyboard/time"])
def test_clocks_tick(page: str) -> None:
    import datetime as dt

    app = make_app("node")
    now = [dt.datetime(2026, 11, 22, 4, 30, 0, tzinfo=dt.UTC)]
    app.ctx.clock = lambda: now[0]
    app.go(page)
    assert "04:30:00 UTC" in render_text(app.root, 80, 24)
    now[0] += dt.timedelta(seconds=1)
    app.tick()  # the once-a-second timer
    assert "04:30:01 UTC" in render_text(app.root, 80, 24)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_lock_screen_shows_hostname_address_and_time(size: tuple[int, int]) -> None:
    app = make_app("node")
    press(app.root, ["f12"])
    screen = render_text(app.root, *size)
    assert "node01.lab.example" in screen and "eno1 192.0.2.11/24" in screen and "2026-11-22 04:30:00 UTC" in screen


def test_bond_dialog_says_more_is_below_at_80x24_and_grows_at_132x43() -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["b"])
    small = render_text(app.root, 80, 24)
    assert "v more below (PgDn)" in small and "MTU" not in small
    big = render_text(app.root, 132, 43)
    assert "MTU" in big and "more below" not in big and "< OK" in big


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dialogs_have_a_blank_margin_and_fit(size: tuple[int, int]) -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["b"])
    lines = render_text(app.root, *size).splitlines()
    top = next(i for i, line in enumerate(lines) if "Create bond" in line)
    left = lines[top].index("┌")
    right = lines[top].rindex("┐")
    assert right < size[0] - 1
    for line in lines[top:top + 5]:
        assert line[left - 1] == " " and (len(line) <= right + 1 or line[right + 1] == " ")
    assert lines[top - 1][left - 1:right + 2].strip(" ") == ""  # the row above is blank too


def test_long_page_says_the_last_disk_is_below() -> None:
    app = make_app("install")
    app.go("Target disks")
    screen = render_text(app.root, 80, 24)
    assert "v more below" not in screen  # everything fits: no marker
    app.go("Summary")
    assert "v more below (PgDn)" in render_text(app.root, 80, 24)


def test_network_page_shows_live_gateway_dns_and_routes() -> None:
    app = make_app("node")
    app.go("Network")
    screen = render_text(app.root, 132, 43)
    assert "192.0.2.1 on eno1" in screen
    assert "192.0.2.53; search lab.example" in screen
    assert "10.0.0.0/8 via 192.0.2.254 on eno1" in screen


def test_network_page_says_when_networkmanager_cannot_be_read() -> None:
    app = make_app("node", live=None)
    app.go("Network")
    assert "not read (no NetworkManager here, or captured facts)" in render_text(app.root, 132, 43)


def test_saving_a_nic_keeps_the_gateway_dns_and_routes_networkmanager_has() -> None:
    """No saved config (a freshly installed node): the page starts from what NetworkManager has,
    so changing only the MTU must not drop the gateway, the DNS servers or a static route."""
    from node_setup import Route

    app = make_app("node")
    names = [d.name for d in app.page("Network").node.current.network.interfaces]
    editor = open_nic_editor(app, names.index("eno1"))
    editor.form.fields["mtu"].value = "9000"
    editor.ok()
    assert not app.dialogs
    net = app.page("Network").node.desired.network
    eno1 = next(d for d in net.interfaces if d.name == "eno1")
    assert eno1.mtu == 9000 and eno1.ipv4.gateway == "192.0.2.1"
    assert eno1.ipv4.routes == (Route("10.0.0.0/8", "192.0.2.254"),)
    assert net.dns.servers == ("192.0.2.53",) and net.dns.search == ("lab.example",)


def test_saving_a_device_keeps_what_the_form_does_not_show() -> None:
    from node_setup import Bond, IPv4, NetworkConfig, NodeConfig, Route

    app = make_app("node")
    node = app.page("Network").node
    bond = Bond(name="bond0", slaves=("eno2", "ens1f0"), mode="802.3ad", miimon=250,
                options={"lacp_rate": "fast"},
                ipv4=IPv4("static", ("198.51.100.10/24",), "", (Route("203.0.113.0/24", "198.51.100.254"),)))
    node.current = node.desired = replace(node.current, network=replace(node.current.network, bonds=(bond,)))
    app.go("Network")
    editor = app.current.edit("bonds", 0) or app.dialogs[-1]
    editor.form.fields["mtu"].value = "9000"
    editor.ok()
    assert not app.dialogs
    saved = node.desired.network.bonds[0]
    assert (saved.mtu, saved.miimon, saved.options) == (9000, 250, {"lacp_rate": "fast"})
    assert saved.ipv4.routes == bond.ipv4.routes
    assert isinstance(node.desired, NodeConfig) and isinstance(node.desired.network, NetworkConfig)


def test_keyboard_time_page_shows_the_zone_ntp_servers_and_keyboard_the_node_has() -> None:
    app = make_app("node")
    app.go("Keyboard/time")
    screen = render_text(app.root, 80, 24)
    assert "Time zone now       Europe/Berlin" in screen
    assert "NTP servers now     192.0.2.1 ntp.lab.example" in screen and "Keyboard now        de" in screen
    form = app.current.form.values()  # the fields start from them: applying unchanged is a no-op
    assert (form["timezone"], form["ntp"], form["keyboard"]) == ("Europe/Berlin", "192.0.2.1 ntp.lab.example", "de")
    app.current.on_apply()
    assert "Nothing to apply" in render_text(app.root, 80, 24)


def test_network_apply_button_cut_at_80x24_says_more_below_until_scrolled_to() -> None:
    app = make_app("node")
    app.go("Network")
    screen = render_text(app.root, 80, 24)
    assert "Apply (F10)" not in screen and "v more below (PgDn)" in screen.splitlines()[-2]
    press(app.root, ["page down"] * 3)
    screen = render_text(app.root, 80, 24)
    assert "Apply (F10)" in screen and "more below" not in screen and "^ more above (PgUp)" in screen


def test_last_disk_cut_at_80x24_says_more_below() -> None:
    app = make_app("install")
    first = app.ctx.facts.disks[1]
    many = tuple(replace(first, name=f"sd{chr(ord('d') + i)}", path=f"/dev/sd{chr(ord('d') + i)}", children=(),
                         partition_table=None) for i in range(14))
    app.ctx.facts = replace(app.ctx.facts, disks=app.ctx.facts.disks + many)
    app.go("Target disks")
    screen = render_text(app.root, 80, 24)
    last = many[-1].name
    assert f"[ ] {last} " not in screen and "v more below (PgDn)" in screen.splitlines()[-2]
    press(app.root, ["page down"] * 4)
    screen = render_text(app.root, 80, 24)
    assert f"[ ] {last} " in screen and "more below" not in screen
