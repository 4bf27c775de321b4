"""Installed-node pages beyond Network: Security, Keyboard/time, Test network, Status, Logs; and the
real (non-dry-run) apply path with the "Keep these settings?" countdown."""

from __future__ import annotations

from typing import Any

from tui.node_controller import NodeController
from tui.render import press, render_text, type_text

from .conftest import make_app


class FakeNodeSetup(NodeController):
    """node_setup's apply/confirm/rollback replaced: no NetworkManager in unit tests."""

    def __init__(self, *args: Any, pending: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending = pending
        self.calls: list[str] = []

    def apply(self, desired: Any, plan: Any, only: tuple[str, ...], rollback_timeout: int, progress: Any) -> Any:
        from nodecore.executor import Progress

        self.calls.append(f"apply {','.join(only)}")
        for i, step in enumerate(plan.steps, 1):
            progress(Progress(i, len(plan.steps), step.title, "done"))

        class Status:
            pending = self.pending
            seconds_remaining = 118.0

        class Outcome:
            status = Status()
        return Outcome()

    def confirm(self) -> list[str]:
        self.calls.append("confirm")
        return ["bond0"]

    def rollback(self) -> None:
        self.calls.append("rollback")


def real_app(pending: bool = True) -> tuple[Any, FakeNodeSetup]:
    app = make_app("node", dry_run=False)
    fake = FakeNodeSetup(app.ctx.facts, pending=pending)
    app._shared["node"] = fake
    return app, fake


def add_dns(app: Any) -> None:
    app.go("Network")
    press(app.root, ["d", "down"])
    type_text(app.root, "192.0.2.53")
    press(app.root, ["f10"])
    press(app.root, ["f10"])  # apply: the confirm dialog with the plan
    assert "< Apply" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])  # Apply


def test_network_apply_keep_confirms() -> None:
    app, fake = real_app()
    add_dns(app)
    screen = render_text(app.root, 80, 24)
    assert "Keep these settings? Reverting in 60 s" in screen
    app.tick()
    assert "Reverting in 59 s" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])  # Keep
    assert fake.calls == ["apply hostname", "confirm"]
    assert "Kept and saved" in render_text(app.root, 80, 24)
    assert not fake.dirty()


def test_network_apply_not_kept_rolls_back_at_zero() -> None:
    app, fake = real_app()
    add_dns(app)
    for _ in range(60):
        app.tick()
    assert fake.calls == ["apply hostname", "rollback"]
    assert "Rolled back" in render_text(app.root, 80, 24)
    assert not fake.dirty()  # the page shows the settings the node has again


def test_security_password_dry_run_plan_masks_the_password() -> None:
    app = make_app("node")
    app.go("Security")
    type_text(app.root, "Quiet-Otter-42x")
    press(app.root, ["down"])
    type_text(app.root, "Quiet-Otter-42x")
    press(app.root, ["f10"])
    screen = render_text(app.root, 132, 43)
    assert "Password of root: changed" in screen and "Quiet-Otter-42x" not in screen
    assert "sshd_config" not in screen  # SSH untouched when its settings did not change


def test_security_password_mismatch_and_weak() -> None:
    app = make_app("node")
    app.go("Security")
    type_text(app.root, "short")
    assert "too short" in render_text(app.root, 80, 24)
    press(app.root, ["f10"])
    assert not app.dialogs and "too short" in app.page("Security").form.fields["password"].error


def test_keyboard_time_bad_zone_is_a_field_error() -> None:
    app = make_app("node")
    app.go("Keyboard/time")
    type_text(app.root, "Mars/Olympus")
    press(app.root, ["f10"])
    assert not app.dialogs
    assert "Mars/Olympus" in app.page("Keyboard/time").form.fields["timezone"].error


def test_test_network_shows_results() -> None:
    app = make_app("node")
    app.go("Test network")
    type_text(app.root, "192.0.2.7 192.0.2.99")
    press(app.root, ["down"])
    type_text(app.root, "engine.lab.example")
    press(app.root, ["f10"])
    screen = render_text(app.root, 132, 43)
    assert " ok  host     192.0.2.7" in screen and "FAIL host     192.0.2.99" in screen
    assert "Some checks failed" in screen


def test_logs_filter_and_follow() -> None:
    app = make_app("node")
    app.go("Logs")
    services = app.ctx.services
    press(app.root, ["right", " "])  # second unit in the filter: hcinode-console
    assert services.journal_calls[-1] == "hcinode-console"  # type: ignore[attr-defined]
    press(app.root, ["f"])
    assert "following" in render_text(app.root, 80, 24)
    calls = len(services.journal_calls)  # type: ignore[attr-defined]
    app.tick()
    app.tick()
    assert len(services.journal_calls) > calls  # type: ignore[attr-defined]
