"""The Update page: the images and the last trial (update.cli.status_data through a fake controller),
apply a source (the same checks and plan as `hcinode update apply`; a dry run only shows the plan),
refusals under their field with nothing changed, roll back behind a confirmation whose default is No."""

from __future__ import annotations

from typing import Any

from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport
from tests.unit.update.test_plan import NEW, PATHS, facts
from tui.pages.update import UpdateController
from tui.render import press, render_text
from update.cli import Prepared
from update.plan import apply_plan, rollback_plan

from .conftest import check_golden, make_app

SOURCE = "http://10.0.2.2:8080/v2/filesystem.squashfs"
ROLLED_BACK = {
    "running": "0.1.1", "default": "0.1.1", "previous": "0.1.0", "staged": [],
    "trial": {"version": "0.1.2", "previous": "0.1.1", "state": "rolled-back", "boots": 1},
    "last": "0.1.2 was rolled back: 0.1.2 was not healthy 300s after boot: the system is not running "
            "(failed units)"}
FRESH = {"running": "0.1.0", "default": "0.1.0", "previous": "", "staged": [], "trial": None,
         "last": "no update tried on this node"}


class FakeUpdates(UpdateController):
    def __init__(self, refuse: ValidationReport | None = None) -> None:
        self.refuse = refuse
        self.checked: list[tuple[str, str]] = []
        self.ran: list[tuple[str, bool]] = []

    def prepare_apply(self, source: str, checksum: str) -> Any:
        self.checked.append((source, checksum))
        if self.refuse is not None:
            raise InvalidInput(self.refuse)
        plan = apply_plan(facts(), NEW, squashfs="/var/lib/hcinode/update/work/filesystem.squashfs", source=source,
                          checksum_from=SOURCE + ".sha256", paths=PATHS, bound=600)
        return Prepared(NEW.version, plan, ValidationReport())

    def prepare_rollback(self) -> Any:
        f = facts()
        return "0.1.0", rollback_plan(f, "0.1.0", PATHS)

    def run(self, plan: Any, progress: Any, journal: bool) -> Any:
        self.ran.append((plan.title, journal))
        return None


def app_with(view: dict[str, Any], dry_run: bool = True, refuse: ValidationReport | None = None) -> tuple[Any, Any]:
    app = make_app("node", dry_run=dry_run, update=view)
    fake = FakeUpdates(refuse)
    app._shared["update"] = fake
    app.go("Update")
    return app, fake


def test_status_after_an_automatic_rollback() -> None:
    app, _ = app_with(ROLLED_BACK)
    screen = render_text(app.root, 80, 24)
    check_golden("flow-update-rolled-back-80x24", screen)
    assert "M-u" in screen and "was rolled back" in screen and "< Roll back to 0.1.0 >" in screen


def test_fresh_node_has_nothing_to_roll_back_to() -> None:
    app, _ = app_with(FRESH)
    screen = render_text(app.root, 80, 24)
    check_golden("flow-update-fresh-80x24", screen)
    assert "no update tried on this node" in screen and "Roll back" not in screen


def test_no_image_information_says_why() -> None:
    app, _ = app_with({"error": "this is not an hcinode node image"})
    assert "No image information: this is not an hcinode node image" in render_text(app.root, 80, 24)


def test_apply_needs_a_source() -> None:
    app, fake = app_with(FRESH)
    app.page("Update").on_apply()
    assert "give the image's path or URL" in render_text(app.root, 80, 24) and not fake.checked


def test_dry_run_apply_shows_the_cli_plan_and_runs_nothing() -> None:
    app, fake = app_with(FRESH)
    page = app.page("Update")
    page.form.fields["source"].value = SOURCE
    page.on_apply()
    assert fake.checked == [(SOURCE, "")]
    check_golden("flow-update-apply-dry-run-80x24", render_text(app.root, 80, 24))
    screen = render_text(app.root, 132, 43)
    assert "Dry run: nothing will be changed" in screen and "new image: 0.2.0 (amd64)" in screen
    press(app.root, ["d"])  # the steps: the CLI's plan
    assert "Arm one trial boot of 0.2.0" in render_text(app.root, 132, 43)
    press(app.root, ["esc"])
    assert not fake.ran


def test_apply_runs_the_plan_with_the_journal() -> None:
    app, fake = app_with(FRESH, dry_run=False)
    page = app.page("Update")
    page.form.fields["source"].value = SOURCE
    page.on_apply()
    press(app.root, ["enter"])  # Apply
    assert fake.ran == [("Update this node from 0.1.0 to 0.2.0", True)]
    assert "Image 0.2.0 is written and armed." in render_text(app.root, 132, 43)


def test_refused_image_goes_under_its_field_and_nothing_is_changed() -> None:
    report = ValidationReport("update apply")
    report.error("SOURCE", "the image is for arm64, this node is amd64", "use the amd64 build of the image")
    app, fake = app_with(FRESH, dry_run=False, refuse=report)
    page = app.page("Update")
    page.form.fields["source"].value = "/srv/arm64.iso"
    page.on_apply()
    screen = render_text(app.root, 132, 43)
    assert "The image was refused" in screen and "Nothing was changed." in screen
    press(app.root, ["enter"])
    assert "the image is for arm64" in render_text(app.root, 132, 43) and not fake.ran


def test_rollback_asks_first_and_no_is_the_default() -> None:
    app, fake = app_with(ROLLED_BACK, dry_run=False)
    page = app.page("Update")
    page.ask_rollback()
    check_golden("flow-update-rollback-confirm-80x24", render_text(app.root, 80, 24))
    press(app.root, ["enter"])  # No
    assert not fake.ran
    page.ask_rollback()
    press(app.root, ["right", "enter"])  # Roll back -> the rollback plan
    assert "Roll back to 0.1.0? Reboot afterwards to run it." in render_text(app.root, 132, 43)
    press(app.root, ["enter"])  # Apply
    assert fake.ran == [("Roll back to 0.1.0", False)]  # no journal, as `update rollback`
    assert "0.1.0 is the default: reboot" in render_text(app.root, 132, 43)


def test_real_services_report_a_machine_without_an_image(monkeypatch: Any) -> None:
    import update.cli
    from tui.services import Services
    from update.manifest import ManifestError

    def no_image() -> dict[str, Any]:
        raise ManifestError("this is not an hcinode node image")

    monkeypatch.setattr(update.cli, "status_data", no_image)
    assert Services().update_view() == {"error": "this is not an hcinode node image"}
    monkeypatch.setattr(update.cli, "status_data", lambda: dict(FRESH))
    assert Services().update_view() == FRESH
