"""The console lock on a node whose root has no password, and a lock screen that keeps nothing typed."""

from __future__ import annotations

import crypt
from pathlib import Path

from tui.app import App
from tui.framework import Context
from tui.render import press, render_text, type_text
from tui.services import Services

from .conftest import FIXED_TIME, load_facts, make_app

ADMIN_PASSWORD = "Admin-Unlock-42x"


def services_with(tmp_path: Path, root: str, admin: str, sudo_members: str = "admin") -> Services:
    (tmp_path / "shadow").write_text(f"root:{root}:19000:0:99999:7:::\nadmin:{admin}:19000:0:99999:7:::\n"
                                     "daemon:*:19000:0:99999:7:::\n")
    (tmp_path / "group").write_text(f"root:x:0:\nsudo:x:27:{sudo_members}\nusers:x:100:daemon\n")
    return Services(shadow_path=str(tmp_path / "shadow"), group_path=str(tmp_path / "group"),
                    hcinode_log=str(tmp_path / "hcinode.log"))


def app_with(services: Services) -> App:
    ctx = Context(facts=load_facts("node"), services=services, dry_run=True, clock=lambda: FIXED_TIME,
                  version="0.1.0")
    return App(ctx, mode="node")


def test_a_locked_root_hands_the_lock_to_the_sudo_admin(tmp_path: Path) -> None:
    # rootpw --lock + sshkey + user --name=admin --groups=sudo --password=...: the usual kickstart
    services = services_with(tmp_path, root="!", admin=crypt.crypt(ADMIN_PASSWORD, crypt.mksalt(crypt.METHOD_SHA512)))
    assert services.unlock_user() == "admin" and services.has_password()
    assert services.verify_password(ADMIN_PASSWORD) is True
    assert services.verify_password("not-it") is False
    app = app_with(services)
    app.lock()
    assert app.locked
    assert "Enter the password of 'admin' to unlock" in render_text(app.root, 80, 24)
    type_text(app.root, ADMIN_PASSWORD)
    press(app.root, ["enter"])
    assert not app.locked


def test_root_with_a_password_unlocks_as_before(tmp_path: Path) -> None:
    services = services_with(tmp_path, root=crypt.crypt("Root-pass-1234", crypt.mksalt(crypt.METHOD_SHA512)),
                             admin="!")
    assert services.unlock_user() == "root"
    assert services.verify_password("Root-pass-1234") is True


def test_nobody_with_a_password_refuses_to_lock_with_a_clear_message(tmp_path: Path) -> None:
    # a locked admin or one outside sudo/wheel cannot unlock: the console says so and stays open
    for admin, members in (("!$6$x$y", "admin"), (crypt.crypt(ADMIN_PASSWORD, crypt.mksalt(crypt.METHOD_SHA512)), "")):
        services = services_with(tmp_path, root="*", admin=admin, sudo_members=members)
        assert services.unlock_user() is None and services.verify_password(ADMIN_PASSWORD) is None
        app = app_with(services)
        press(app.root, ["f12"])
        assert not app.locked
        screen = render_text(app.root, 132, 43)
        assert "cannot be locked" in screen and "Security page" in screen


def test_the_lock_screen_clears_what_was_typed_after_a_failed_try_and_while_it_waits() -> None:
    app = make_app("node", password="right-horse")
    app.lock()
    assert app.lock_screen is not None
    type_text(app.root, "wrong-horse")
    press(app.root, ["enter"])
    assert app.lock_screen.password.edit_text == ""  # type: ignore[attr-defined]
    assert "Wrong password" in render_text(app.root, 80, 24)
    type_text(app.root, "typed-too-soon")  # the retry delay is still running
    press(app.root, ["enter"])
    assert app.lock_screen.password.edit_text == ""  # type: ignore[attr-defined]
    assert "Please wait" in render_text(app.root, 80, 24) and app.locked
