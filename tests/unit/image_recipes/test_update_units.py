"""The node image runs `hcinode update confirm-boot` at every boot where an update left a trial."""

from __future__ import annotations

from tests.unit.image_recipes.test_agent_units import SYSTEM, unit
from update.trial import trial_path


def test_update_confirm_unit_runs_confirm_boot_after_the_network_and_agent() -> None:
    confirm = unit("hcinode-update-confirm.service")
    assert confirm["Service"]["ExecStart"] == "/usr/local/bin/hcinode update confirm-boot"
    # exec: a oneshot still starting would keep `systemctl is-system-running` at "starting"
    assert confirm["Service"]["Type"] == "exec"
    assert "network-online.target" in confirm["Unit"]["Wants"]
    assert confirm["Unit"]["After"].split() == ["network-online.target", "hcinode-agent.service"]
    assert confirm["Install"]["WantedBy"] == "multi-user.target"


def test_update_confirm_unit_starts_only_where_a_trial_was_armed() -> None:
    confirm = unit("hcinode-update-confirm.service")
    assert confirm["Unit"]["ConditionPathExists"] == trial_path("/var/lib/hcinode")


def test_update_confirm_unit_is_enabled_in_the_image() -> None:
    link = SYSTEM / "multi-user.target.wants/hcinode-update-confirm.service"
    assert link.is_symlink() and link.resolve() == (SYSTEM / "hcinode-update-confirm.service").resolve()
