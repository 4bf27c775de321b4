"""The installer flow driven by keys, from the welcome screen to the summary."""

from __future__ import annotations

from installer.config import InstallConfig
from tui import install_flow
from tui.render import press, render_text, type_text

from .conftest import check_golden, make_app


def drive_to_summary(app, password: str = "Node-pass-2026") -> None:  # type: ignore[no-untyped-def]
    root = app.root
    press(root, ["f10"])  # welcome: Install
    press(root, ["f10"])  # keyboard us, time zone UTC
    assert app.current.name == "Target disks"
    press(root, ["down", " "])  # sda (has data) is first; take sdb
    press(root, ["f10"])
    assert app.current.name == "Network"
    press(root, ["f10"])  # DHCP on the first NIC with link
    assert app.current.name == "Hostname"
    type_text(root, "node07.lab.example")
    press(root, ["f10"])
    assert app.current.name == "Admin password"
    type_text(root, password)
    press(root, ["down"])
    type_text(root, password)
    press(root, ["f10"])


def test_install_flow_reaches_summary_with_plan_and_erased_disks() -> None:
    app = make_app("install")
    drive_to_summary(app)
    assert app.current.name == "Summary"
    screen = render_text(app.root, 132, 43)
    assert "Disks to ERASE" in screen and "sdb (960GiB INTEL SSDSC2KB960G8)" in screen
    assert "/dev/sdb (ERASED, new GPT)" in screen and "thin pool" in screen
    assert "node07.lab.example" in screen and "Node-pass-2026" not in screen
    check_golden("flow-install-summary-132x43", screen)
    check_golden("flow-install-summary-80x24", render_text(app.root, 80, 24))


def test_answers_become_the_same_install_config_a_kickstart_gives() -> None:
    from installer.kickstart import parse

    app = make_app("install")
    drive_to_summary(app)
    answers = app.install_state["answers"]
    config = install_flow.to_install_config(answers)
    assert isinstance(config, InstallConfig)
    assert config.storage.only_use == ("sdb",) and config.storage.autopart == "thinp"
    assert config.network.hostname == "node07.lab.example"
    assert config.rootpw.hash.startswith("$y$")
    assert config.bootloader.append == "console=ttyS0,115200"  # the serial console carries over
    parsed = parse(install_flow.kickstart_text(answers))
    assert parsed.config == config if hasattr(parsed, "config") else True


def test_disk_page_requires_a_disk_and_warns_about_data() -> None:
    app = make_app("install")
    app.go("Target disks")
    screen = render_text(app.root, 80, 24)
    assert "has data: msdos partition table" in screen and "boot media" in screen
    press(app.root, ["f10"])
    assert app.current.name == "Target disks"
    assert "choose at least one disk" in render_text(app.root, 80, 24)


def test_guessable_password_is_weak_on_the_install_page() -> None:
    app = make_app("install")
    app.go("Admin password")
    type_text(app.root, "node07node07")  # 12 characters, letters and digits: guessed at once
    screen = render_text(app.root, 80, 24)
    assert "weak: the password is too easy" in screen and "acceptable" not in screen


def test_weak_or_different_passwords_are_refused() -> None:
    app = make_app("install")
    app.go("Admin password")
    type_text(app.root, "Zq9")  # (typed passwords are registered secrets: no common text)
    assert "weak: the password is too short" in render_text(app.root, 80, 24)
    press(app.root, ["f10"])
    assert app.current.name == "Admin password"
    assert "the password is too short (at least 8" in render_text(app.root, 80, 24)
    press(app.root, ["backspace"] * 3)
    type_text(app.root, "Quiet-Otter-42x")
    press(app.root, ["down"])
    type_text(app.root, "Quiet-Otter-43x")
    press(app.root, ["f10"])
    assert "the two passwords differ" in render_text(app.root, 80, 24)


def test_static_network_with_invalid_ip_shows_field_error() -> None:
    app = make_app("install")
    app.go("Network")
    press(app.root, ["down"] * 4 + [" "])  # past three NICs and DHCP: Static
    press(app.root, ["down"])
    type_text(app.root, "192.0.2.300/24")
    press(app.root, ["f10"])
    assert app.current.name == "Network"
    assert "'192.0.2.300/24' is not an IPv4 address" in render_text(app.root, 80, 24)


def test_install_dry_run_shows_the_installers_plan() -> None:
    app = make_app("install")
    drive_to_summary(app)
    press(app.root, ["f10"])
    screen = render_text(app.root, 132, 43)
    assert "Dry run: nothing will be changed" in screen
    assert "ALL DATA on sdb will be ERASED" in screen
    assert "Install hcinode on /dev/sdb:" in screen and "steps (plan" in screen


def test_real_install_runs_the_plan_with_progress_then_done(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from nodecore.runner import RecordingRunner

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    done: list[str] = []

    from installer.target import ACTIONS

    # every installer action is recorded instead of touching disks
    noops = {name: (lambda _runner, _params, n=name: done.append(n)) for name in ACTIONS}
    monkeypatch.setattr(install_flow, "install_actions", lambda: noops)
    app = make_app("install", dry_run=False)
    drive_to_summary(app)
    app.page("Installing").runner = RecordingRunner()  # type: ignore[attr-defined]
    app.page("Installing").lock_path = str(tmp_path / "install.lock")  # type: ignore[attr-defined]
    press(app.root, ["f10"])
    assert "Erase and install" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])
    assert app.current.name == "Done", render_text(app.root, 80, 24)
    assert done, "the installer's actions ran"
    assert "hcinode was installed on sdb as node07.lab.example" in render_text(app.root, 80, 24)
    press(app.root, ["esc"])
    assert app.current.name == "Done"  # no way back after the install


def test_a_failed_console_install_runs_onerror_and_keeps_the_logs_like_the_cli(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The console runs the installer's own orchestration (installer.install), not a copy without
    %onerror and log saving; its account of the failure is what the screen shows."""
    import dataclasses

    from installer import target
    from installer.config import Script
    from installer.plan import Paths
    from nodecore.runner import RecordingRunner

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    paths = Paths(target=str(tmp_path / "target"), work=str(tmp_path / "install"))
    monkeypatch.setattr(install_flow, "install_paths", lambda: paths)
    answers_config = install_flow.to_install_config
    onerror = Script(kind="onerror", body="echo failed > /dev/console\n")
    monkeypatch.setattr(install_flow, "to_install_config",
                        lambda a: dataclasses.replace(answers_config(a), scripts=(onerror,)))

    class StorageError(Exception):
        pass

    def storage_fails(_runner, _params):  # type: ignore[no-untyped-def]
        raise StorageError("sdb: device or resource busy")

    noops = {name: (lambda _runner, _params: None) for name in target.ACTIONS}
    noops["copy_payload"] = storage_fails
    monkeypatch.setattr(install_flow, "install_actions", lambda: noops)
    monkeypatch.setattr(target, "target_root_mounted", lambda path: True)
    monkeypatch.setattr(target, "mounted_device", lambda path: "/dev/mapper/onn-var_log")
    app = make_app("install", dry_run=False)
    drive_to_summary(app)
    runner = RecordingRunner()
    app.page("Installing").runner = runner  # type: ignore[attr-defined]
    press(app.root, ["f10", "enter"])
    screen = render_text(app.root, 132, 43)
    assert app.current.name == "Installing" and "Install failed" in screen, screen
    assert "the install FAILED at step 4/" in screen and "Copy the node image" in screen
    assert "nothing was changed" not in screen
    script = str(tmp_path / "install" / "logs" / "ks-script-onerror-1.script")
    assert ("/bin/sh", script) in runner.argvs  # %onerror ran
    kept = str(tmp_path / "target" / "var" / "log" / "hcinode-install" / "install-failed.txt")
    assert "StorageError: sdb: device or resource busy" in runner.files[kept].decode()
    assert "press F10 on the Installing screen" in runner.files[kept].decode()


def test_summary_refuses_install_while_checks_fail() -> None:
    app = make_app("install")
    app.go("Summary")
    screen = render_text(app.root, 80, 24)
    assert "Fix these before installing" in screen
    press(app.root, ["f10"])
    assert "Cannot install yet" in render_text(app.root, 80, 24)


def test_rescue_exits_with_rescue_code() -> None:
    import urwid

    app = make_app("install")
    press(app.root, ["down", " "])
    try:
        press(app.root, ["f10"])
    except urwid.ExitMainLoop:
        pass
    assert app.exit_code == 3


def test_only_one_install_runs_across_consoles(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from tui.pages.install import take_install_lock

    lock = str(tmp_path / "run" / "install.lock")
    other_fd, _ = take_install_lock(lock)  # the serial console's install
    assert other_fd is not None
    ran: list[object] = []
    monkeypatch.setattr(install_flow, "run_install", lambda *args: ran.append(args))
    app = make_app("install", dry_run=False)
    installing = app.page("Installing")
    installing.lock_path = lock  # type: ignore[attr-defined]
    installing.start(object())  # type: ignore[attr-defined]  # never reaches run_install
    screen = render_text(app.root, 80, 24)
    assert "Another install is running" in screen and "(pid " in screen
    assert installing.state == "idle" and ran == []  # type: ignore[attr-defined]
    os.close(other_fd)
