"""The Cluster page: join through the agent's API (a fake controller here), show the pin it checked,
masked token, errors under their fields, leave with a confirmation whose default is No; and the
Status page's Cluster and Storage lines from agent.json."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agent.status import cluster_line
from nodecore.executor import Progress
from tui.pages.cluster import ClusterController
from tui.render import press, render_text

from .conftest import check_golden, make_app

TOKEN = "abc123.0123456789abcdefghijklmnopqrstuv"
PIN = "sha256:" + "ab" * 32
ENGINE = {"urls": ["https://engine.lab.example:8443"], "ca_pin": PIN, "host_id": "7c1e0b4e-0000-4000-8000-000000000001",
          "name": "node01.lab.example", "sanlock_host_id": 1}
UP = {"engine_url": "https://engine.lab.example:8443", "status": "Up", "last_heartbeat": "2026-11-22T04:29:55Z",
      "cert_expires_at": "2026-12-22T04:00:00Z", "last_error": "", "age_seconds": 5,
      "storage": {"volumes": [{"name": "engine", "status": "Started", "heal_pending": 0},
                              {"name": "data", "status": "Started", "heal_pending": 3}]}}


class FakeCluster(ClusterController):
    def __init__(self) -> None:
        self.joined: list[Any] = []
        self.left = 0

    def join(self, request: Any, progress: Any, discovered: Any) -> Any:
        discovered(SimpleNamespace(pin=request.ca_pin))
        progress(Progress(1, 3, "Write the node key", "done"))
        self.joined.append(request)
        reg = SimpleNamespace(url=request.urls[0], name="node01.lab.example", expires_at="2026-12-22T04:00:00Z")
        return SimpleNamespace(registration=reg, discovery=SimpleNamespace(pin=request.ca_pin))

    def leave(self, progress: Any) -> Any:
        self.left += 1
        return None, None


def app_with(cluster: dict[str, Any] | None = None, dry_run: bool = False) -> tuple[Any, FakeCluster]:
    app = make_app("node", dry_run=dry_run, cluster=cluster)
    fake = FakeCluster()
    app._shared["cluster"] = fake
    app.go("Cluster")
    return app, fake


def fill(app: Any, **values: str) -> None:
    page = app.page("Cluster")
    for name, value in values.items():
        page.form.fields[name].value = value


def test_join_by_parts_shows_the_checked_pin_and_masks_the_token() -> None:
    app, fake = app_with()
    fill(app, engine="https://engine.lab.example:8443", pin=PIN, token=TOKEN)
    assert TOKEN not in render_text(app.root, 132, 43) and "*" * 10 in render_text(app.root, 132, 43)
    app.page("Cluster").on_apply()
    screen = render_text(app.root, 132, 43)
    assert "Join the engine at https://engine.lab.example:8443?" in screen and PIN in screen
    press(app.root, ["enter"])  # Join
    assert fake.joined and fake.joined[0].token.reveal() == TOKEN
    screen = render_text(app.root, 132, 43)
    assert f"The engine presented the pinned CA {PIN}." in screen
    press(app.root, ["enter"])
    screen = render_text(app.root, 132, 43)
    assert "Pin checked" in screen and f"{PIN} (matches)" in screen


def test_bad_input_goes_under_its_field_and_nothing_is_sent() -> None:
    app, fake = app_with()
    fill(app, engine="http://engine", pin="sha256:12", token="Not-A-Token-99")
    app.page("Cluster").on_apply()
    screen = render_text(app.root, 132, 43)
    assert "is not an https:// URL" in screen and "64 hex digits" in screen and "6 and 32 characters" in screen
    assert "Not-A-Token-99" not in screen and not fake.joined
    fill(app, join="hcinode-join:v1:%%%", engine="", pin="", token="")
    app.page("Cluster").on_apply()
    assert "the join string is damaged" in render_text(app.root, 132, 43)


def test_dry_run_sends_nothing() -> None:
    app, fake = app_with(dry_run=True)
    fill(app, engine="https://engine.lab.example:8443", pin=PIN, token=TOKEN)
    app.page("Cluster").on_apply()
    assert "Dry run: nothing will be sent" in render_text(app.root, 80, 24) and not fake.joined


def test_joined_node_shows_status_and_leave_defaults_to_no() -> None:
    app, fake = app_with({"engine": ENGINE, "status": UP, "join": None})
    check_golden("flow-cluster-joined-80x24", render_text(app.root, 80, 24))
    app.page("Cluster").ask_leave()
    check_golden("flow-cluster-leave-confirm-132x43", render_text(app.root, 132, 43))
    press(app.root, ["enter"])  # the focused button is No
    assert fake.left == 0
    app.page("Cluster").ask_leave()
    press(app.root, ["f10"])  # F10 is the first button: No as well
    assert fake.left == 0
    app.page("Cluster").ask_leave()
    press(app.root, ["right", "enter"])  # Leave
    assert fake.left == 1


def test_status_page_cluster_and_storage_lines() -> None:
    assert cluster_line(UP) == ("Up at https://engine.lab.example:8443, last heartbeat 2026-11-22 04:29:55 UTC, "
                                "certificate until 2026-12-22 04:00:00 UTC")
    failed = {"state": "failed", "engine_url": "https://e:8443",
              "error": "the engine refused the join: the join token is unknown, expired or used up"}
    assert cluster_line(None, failed).startswith("could not join https://e:8443: the engine refused")


def test_real_services_read_agent_json(tmp_path: Any, monkeypatch: Any) -> None:
    import json

    from tui.services import Services

    monkeypatch.setenv("HCINODE_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    services = Services()
    assert services.cluster_status() == "not joined"
    (tmp_path / "join.json").write_text(json.dumps({"state": "retrying", "engine_url": "https://e",
                                                    "error": "cannot reach https://e/api/v1/ca: refused"}))
    assert services.cluster_status() == "joining, retrying https://e: cannot reach https://e/api/v1/ca: refused"
    (tmp_path / "agent.json").write_text(json.dumps({k: v for k, v in UP.items() if k != "age_seconds"}))
    assert services.cluster_status().startswith("Up at https://engine.lab.example:8443")
    assert services.storage_status() == "engine Started; data Started, 3 pending heal"
