"""The Hosted Engine page: the spec as a form (typed with keys), checked by hosted_engine.spec's
rules; F10 shows the form's and preflight's problems with the labels the user sees; a valid form
opens the plan dialog (one sentence per change); dry run changes nothing; the typed password goes
only into its 0600 file and into no log record; the status view of a deployed host refreshes; and
the Status page's Hosted engine line."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from hosted_engine.plan import PlanFacts, deploy_plan
from hosted_engine.status import HostRow, Status
from nodecore.executor import Progress
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from tui import charset, dialogs
from tui.pages.hosted_engine import HostedEngineController, HostedEnginePage, bridge_options, label_of
from tui.render import press, render_text, type_text

from .conftest import check_golden, load_facts, make_app

CANARY = "Canary-Zq7#x9Lp"
FACTS = PlanFacts(domain_type="kvm", sector_size=512, bridge_exists=False, state_dir="/var/lib/hcinode/hosted-engine")


class FakeHostedEngine(HostedEngineController):
    """The real spec rules, password policy, plan and change sentences; preflight and the deploy scripted."""

    def __init__(self, password_file: str, preflight: ValidationReport | None = None) -> None:
        self.password_file = password_file
        self.preflight = preflight or ValidationReport("preflight")
        self.prepared: list[Any] = []
        self.deployed: list[Any] = []

    def default_password_file(self) -> str:
        return "/var/lib/hcinode/hosted-engine/admin-password"

    def write_password(self, path: str, password: Any) -> None:
        self.written = path
        super().write_password(self.password_file, password)  # the real 0600 writer, into tmp_path

    def prepare(self, spec: Any) -> tuple[ValidationReport, Plan]:
        self.prepared.append(spec)
        return self.preflight, deploy_plan(spec, FACTS)

    def deploy(self, spec: Any, report: ValidationReport, plan: Plan, progress: Any) -> Any:
        progress(Progress(1, len(plan), plan.steps[0].title, "done"))
        self.deployed.append(spec)
        return None


def app_with(tmp_path: Path, dry_run: bool = False, preflight: ValidationReport | None = None,
             **services: Any) -> tuple[Any, FakeHostedEngine]:
    app = make_app("node", dry_run=dry_run, **services)
    fake = FakeHostedEngine(str(tmp_path / "admin-password"), preflight)
    app._shared["hosted-engine"] = fake
    app.go("Hosted Engine")
    return app, fake


def page(app: Any) -> HostedEnginePage:
    found: HostedEnginePage = app.page("Hosted Engine")
    return found


def type_engine_and_password(app: Any, password: str = CANARY) -> None:
    """Keys only: the first field has the focus; Down goes to the next field."""
    type_text(app.root, "engine.lab.example")
    press(app.root, ["down"])
    type_text(app.root, password)
    press(app.root, ["down"])
    type_text(app.root, password)


def fill(app: Any, **values: Any) -> None:
    for name, value in values.items():
        widget = page(app).form.fields[name]
        if isinstance(value, bool):
            widget.box.set_state(value)  # a Toggle
        else:
            widget.value = value


VALID = {"appliance": "/var/lib/hcinode/engine-appliance.qcow2", "ip": "192.0.2.10", "gateway": "192.0.2.1",
         "dns": "192.0.2.53", "server": "node01.lab.example", "backup": "node02.lab.example node03.lab.example"}


def test_typed_values_reach_the_form_and_the_password_is_masked(tmp_path: Path) -> None:
    app, _fake = app_with(tmp_path)
    type_engine_and_password(app)
    values = page(app).form.values()
    assert values["fqdn"] == "engine.lab.example" and values["password"] == values["confirm"] == CANARY
    screen = render_text(app.root, 132, 43)
    assert CANARY not in screen and "*" * len(CANARY) in screen


def test_the_nic_and_bridge_are_picked_from_the_node_facts(tmp_path: Path) -> None:
    bridges, nics = bridge_options(load_facts("node"))
    assert bridges == [("ovirtmgmt", "ovirtmgmt (new)")]
    assert [name for name, _ in nics] == ["eno1", "eno2", "ens1f0", "ens1f1"]
    app, _fake = app_with(tmp_path)
    assert page(app).form.values()["nic"] == "eno1"  # the NIC with the address: this host's way in
    assert page(app).form.values()["bridge"] == "ovirtmgmt"


def test_f10_on_a_bad_form_shows_every_problem_with_its_label_and_checks_nothing(tmp_path: Path) -> None:
    app, fake = app_with(tmp_path)
    type_engine_and_password(app, "Zq9x")  # too short (and text no other test prints: secrets are masked)
    fill(app, fqdn="engine", ip="192.0.2.300", memory="lots", volume="bad volume!")
    press(app.root, ["f10"])
    lines = page(app).report_text()
    assert lines[0] == "The form has problems (nothing was checked on this host):"
    text = "\n".join(lines)
    for expected in ("Engine FQDN: 'engine' is not fully qualified", "Admin password: the password is too short",
                     "Engine IP: ", "Memory (MiB): 'lots' is not a number", "Volume: 'bad volume!' is not a Gluster",
                     "Gateway: missing", "Gluster server: "):
        assert expected in text, (expected, text)
    assert not fake.prepared and not app.dialogs
    assert page(app).form.fields["fqdn"].error.endswith("is not fully qualified (write the engine's full DNS name, "
                                                        "e.g. engine.example.com)")
    assert CANARY not in text
    page(app).form.fields["fqdn"].value = "engine.lab.example"
    assert page(app).form.fields["fqdn"].error == ""  # edited: the old error goes
    check_golden("flow-hosted-engine-form-errors-80x24", render_text(app.root, 80, 24))  # on the first problem
    press(app.root, ["page down"] * 8)
    check_golden("flow-hosted-engine-form-errors-end-80x24", render_text(app.root, 80, 24))


def test_preflight_problems_are_shown_with_the_form_labels_and_nothing_changes(tmp_path: Path) -> None:
    preflight = ValidationReport("preflight")
    preflight.error("storage.volume", "engine is replica 2", "use a replica 3 or arbiter volume")
    preflight.error("network.ip", "192.0.2.10 answers ping: the address is in use", "choose a free address")
    preflight.error("(host)", "sanlock is not running", "systemctl start sanlock")
    preflight.error("engine.admin_password_file", "does not exist")  # the typed password is written at apply
    app, fake = app_with(tmp_path, preflight=preflight)
    type_engine_and_password(app)
    fill(app, **VALID)
    press(app.root, ["f10"])
    assert fake.prepared and not fake.deployed and not app.dialogs
    assert page(app).report_text() == [
        "Preflight found problems (nothing was changed):",
        "Engine IP: 192.0.2.10 answers ping: the address is in use (choose a free address)",
        "Volume: engine is replica 2 (use a replica 3 or arbiter volume)",
        "This host: sanlock is not running (systemctl start sanlock)"]
    assert page(app).form.fields["volume"].error == "engine is replica 2 (use a replica 3 or arbiter volume)"
    assert not os.path.exists(tmp_path / "admin-password")


def test_a_valid_form_opens_the_plan_dialog_and_apply_deploys_with_progress(tmp_path: Path) -> None:
    app, fake = app_with(tmp_path)
    type_engine_and_password(app)
    fill(app, **VALID, hosts=True)
    press(app.root, ["f10"])
    dialog = app.dialogs[-1]
    assert isinstance(dialog, dialogs.PlanDialog)
    spec = fake.prepared[0]
    assert spec.engine.hosts == {"engine.lab.example": "192.0.2.10"} and spec.bridge.nic == "eno1"
    assert spec.storage.backup_servers == ("node02.lab.example", "node03.lab.example")
    assert dialog.changes[0] == ("- Management bridge ovirtmgmt (new) on eno1; rolled back by itself if it cuts "
                                 "this host off")
    assert any("Engine VM HostedEngine: 4096 MiB, 2 vCPUs, 50 GiB disk, KVM" in c for c in dialog.changes)
    check_golden("flow-hosted-engine-plan-132x43", render_text(app.root, 132, 43))
    check_golden("flow-hosted-engine-plan-80x24", render_text(app.root, 80, 24))
    press(app.root, ["enter"])  # Apply
    assert fake.deployed == [spec] and fake.written == "/var/lib/hcinode/hosted-engine/admin-password"
    path = tmp_path / "admin-password"
    assert path.read_text() == CANARY + "\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Hosted engine deployed" in render_text(app.root, 80, 24)


def test_dry_run_shows_the_plan_and_changes_nothing(tmp_path: Path) -> None:
    app, fake = app_with(tmp_path, dry_run=True)
    type_engine_and_password(app)
    fill(app, **VALID)
    press(app.root, ["f10"])
    screen = render_text(app.root, 80, 24)
    assert "Dry run: nothing will be changed" in screen
    press(app.root, ["enter"])  # Close
    assert not app.dialogs and not fake.deployed and not os.path.exists(tmp_path / "admin-password")


def test_the_typed_password_is_in_no_log_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The console's canary rule (tests/integration/test_secret_canary.py) for this page's password:
    typed key by key, checked, written, deployed, and after a failing deploy: no record has it."""
    caplog.set_level(logging.DEBUG)
    app, fake = app_with(tmp_path)
    type_engine_and_password(app)
    fill(app, **VALID)
    press(app.root, ["f10", "enter"])
    assert fake.deployed

    def broken(*_args: Any) -> Any:
        raise RuntimeError("deploy failed")

    fake.deploy = broken  # type: ignore[method-assign]
    press(app.root, ["enter", "f10", "enter"])
    assert "Apply failed" in render_text(app.root, 80, 24)
    assert caplog.records  # something was logged, so the check below means something
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        assert CANARY not in text and CANARY.split("#")[0] not in text, record
    assert CANARY not in render_text(app.root, 132, 43)


DEPLOYMENT = "5d7f3c8e-0e5b-5c6f-9a4e-3b2d1c0a9f8e"


def he_view(score: int = 3400, state: str = "EngineUp") -> dict[str, Any]:
    from hosted_engine.ha_agent import HostConfig

    rows = (HostRow(1, "node01.lab.example", {"vm": "up", "health": "good", "detail": "Up"}, score, state, False,
                    False, "2026-11-22 04:29:55 UTC", True),
            HostRow(2, "node02.lab.example", {"vm": "down", "health": "unknown", "detail": "Down"}, 3400,
                    "EngineDown", False, False, "2026-11-22 04:29:51 UTC", True),
            HostRow(3, "?", {"vm": "unknown", "health": "unknown", "detail": "unknown"}, 0, "?", False, False, "",
                    False, problem="corrupt: bad checksum"))
    agent = {"host_id": 1, "state": state, "score": score, "reason": "the engine is up and healthy here",
             "engine": {"vm": "up", "health": "good"}, "lease": "held here", "global_maintenance": False,
             "updated_at": "2026-11-22T04:29:55Z", "stale": False}
    return {"host": HostConfig(1, DEPLOYMENT, "/mnt/glusterSD/engine"), "engine_fqdn": "engine.lab.example",
            "agent": agent, "status": Status(False, "agent", rows), "error": ""}


def test_a_deployed_host_shows_the_status_and_refreshes(tmp_path: Path) -> None:
    app, fake = app_with(tmp_path, hosted_engine_view=he_view())
    check_golden("flow-hosted-engine-status-80x24", render_text(app.root, 80, 24))
    check_golden("flow-hosted-engine-status-132x43", render_text(app.root, 132, 43))
    screen = render_text(app.root, 132, 43)
    assert "F10" not in screen.splitlines()[-1]  # nothing to apply here
    press(app.root, ["f10"])
    assert not app.dialogs and not fake.prepared
    app.ctx.services.he_view = he_view(0, "EngineUpBadHealth")
    for _ in range(10):  # the app's one-second timer
        app.tick()
    assert "EngineUpBadHealth" in render_text(app.root, 132, 43)


def test_maintenance_buttons_call_the_cli_function(tmp_path: Path) -> None:
    from nodecore.errors import InvalidInput

    app, fake = app_with(tmp_path, hosted_engine_view=he_view())
    asked: list[str] = []

    def set_maintenance(mode: str) -> str:
        asked.append(mode)
        if mode == "local":
            report = ValidationReport("maintenance")
            report.error("mode", "the engine VM runs on this host and no other live host can take it over")
            raise InvalidInput(report)
        return f"{mode} maintenance set"

    fake.set_maintenance = set_maintenance  # type: ignore[method-assign]
    page(app).on_maintenance("global")
    assert "No HA agent starts, stops or moves the engine VM" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])  # Yes
    assert asked == ["global"] and "global maintenance set" in render_text(app.root, 80, 24)
    press(app.root, ["enter"])  # OK
    page(app).on_maintenance("local")
    press(app.root, ["enter"])
    assert asked == ["global", "local"] and "nothing was changed" in render_text(app.root, 80, 24)


def test_maintenance_in_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    app, fake = app_with(tmp_path, dry_run=True, hosted_engine_view=he_view())
    fake.set_maintenance = lambda mode: pytest.fail("called in a dry run")  # type: ignore[method-assign]
    page(app).on_maintenance("none")
    assert "Dry run: nothing will be changed" in render_text(app.root, 80, 24)


def test_the_status_view_in_ascii(tmp_path: Path) -> None:
    charset.use_ascii(True)
    try:
        app, _fake = app_with(tmp_path, hosted_engine_view=he_view())
        screen = render_text(app.root, 80, 24)
    finally:
        charset.use_ascii(False)
    check_golden("flow-hosted-engine-status-ascii-80x24", screen)
    assert all(ord(c) < 128 for c in screen)


def test_labels_of_spec_paths() -> None:
    assert label_of("engine.fqdn") == "Engine FQDN"
    assert label_of("network.dns[1]") == "DNS servers 2"
    assert label_of("engine.hosts.engine.lab.example") == "Hosts entry"
    assert label_of("bridge.bond.slaves[0]") == "NIC"
    assert label_of("(host)") == "This host"


def test_quitting_with_a_filled_form_asks_first(tmp_path: Path) -> None:
    app, _fake = app_with(tmp_path)
    type_text(app.root, "engine.lab.example")
    assert page(app).unapplied() == "the hosted-engine form (not deployed)"


def test_status_page_shows_the_hosted_engine_line_only_with_an_ha_agent(tmp_path: Path) -> None:
    app = make_app("node", hosted_engine="EngineUp, score 3400, engine VM up (health good)")
    app.go("Status")
    assert "Hosted engine       EngineUp, score 3400, engine VM up (health good)" in render_text(app.root, 132, 43)
    app = make_app("node")
    app.go("Status")
    assert "Hosted engine" not in render_text(app.root, 132, 43)


def test_hosted_engine_line() -> None:
    from agent.status import hosted_engine_line

    data = he_view()["agent"]
    assert hosted_engine_line(data) == "EngineUp, score 3400, engine VM up (health good)"
    down = {**data, "state": "EngineDown", "engine": {"vm": "down", "health": "unknown"},
            "global_maintenance": True, "stale": True}
    assert hosted_engine_line(down) == ("EngineDown, score 3400, engine VM down here, global maintenance "
                                        "(the HA agent is not running: last tick 2026-11-22 04:29:55 UTC)")
    assert hosted_engine_line(None) == "not deployed on this host"


def test_real_services_read_the_ha_file_and_host_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui.services import Services

    monkeypatch.setenv("HCINODE_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    services = Services()
    assert services.hosted_engine_status() is None and services.hosted_engine_view() is None
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "hosted-engine.json").write_text(json.dumps(he_view()["agent"]))
    assert services.hosted_engine_status() == "EngineUp, score 3400, engine VM up (health good)"
    state = tmp_path / "state" / "hosted-engine"
    state.mkdir(parents=True)
    (state / "host.json").write_text(json.dumps({"host_id": 1, "deployment": DEPLOYMENT,
                                                 "mount": str(tmp_path / "mnt")}))
    view = services.hosted_engine_view()
    assert view is not None and view["host"].host_id == 1 and view["agent"]["state"] == "EngineUp"
    assert view["status"] is None and "metadata" in view["error"]  # the volume is not mounted here


def test_the_real_controller_uses_the_cli_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """One rule set: the page's controller answers exactly as hosted_engine.spec and engine.auth do."""
    from hosted_engine.spec import parse_spec
    from nodecore.secrets import Secret
    from tests.unit.hosted_engine.conftest import base_data

    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    controller = HostedEngineController()
    assert controller.default_password_file() == str(tmp_path / "hosted-engine" / "admin-password")
    data = base_data()
    data["vm"]["vcpus"] = 0
    spec, report = controller.parse(data)
    assert spec is None and [(p.field, p.message) for p in report] == \
        [(p.field, p.message) for p in parse_spec(data)[1]]
    assert any(p.field == "vm.vcpus" for p in report.errors)
    assert "too short" in controller.password_problem(Secret("Zq9x"))
    assert controller.password_problem(Secret(CANARY + "-long-enough")) == ""
    good, _ = controller.parse(base_data())
    assert controller.change_summary(deploy_plan(good, FACTS), good)[0].startswith("Management bridge ")
    controller.write_password(str(tmp_path / "pw"), Secret(CANARY))
    assert stat.S_IMODE((tmp_path / "pw").stat().st_mode) == 0o600
