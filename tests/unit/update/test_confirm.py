import json

from nodecore.runner import LocalRunner, RecordingRunner
from update.confirm import confirm_boot
from update.images import Image, Registry
from update.plan import UpdatePaths
from update.trial import TrialState, load


def setup_state(tmp_path):
    paths = UpdatePaths(str(tmp_path))
    registry = Registry((Image("0.1.0", "onn/root", "/dev/mapper/onn-root", "/vmlinuz-6", "/initrd.img-6"),
                         Image("0.2.0", "onn/root-0.2.0", "/dev/mapper/onn-root--0.2.0", "/hcinode/0.2.0/vmlinuz",
                               "/hcinode/0.2.0/initrd.img", "staged")), "0.1.0")
    LocalRunner(quiet=True).write_file(paths.registry, registry.to_json())
    LocalRunner(quiet=True).write_file(paths.trial, json.dumps(TrialState("0.2.0", "0.1.0", bound=60).to_dict()))
    return paths


class Files(RecordingRunner):
    """Records commands, writes files for real (the state files are read back)."""

    def write_file(self, path, data, mode=0o644):
        LocalRunner(quiet=True).write_file(path, data, mode)


def healthy(runner):
    runner.respond(["systemctl", "is-system-running"], stdout="running\n")
    runner.respond(["nmcli"], stdout="connected\n")
    runner.respond(["systemctl", "is-active"], stdout="active\n")


def test_a_healthy_trial_becomes_the_default(tmp_path):
    paths = setup_state(tmp_path)
    runner = Files()
    healthy(runner)
    decision = confirm_boot(runner, paths, "0.2.0", "b1", True, clock=lambda: 30.0)
    assert decision.action == "commit"
    assert ("grub-editenv", "/boot/grub/grubenv", "set", "saved_entry=hcinode-0.2.0") in runner.argvs
    with open(paths.registry, encoding="utf-8") as f:
        data = json.load(f)
    assert data["default"] == "0.2.0" and {i["version"]: i["state"] for i in data["images"]}["0.2.0"] == "good"
    assert load(paths.trial).state == "committed"


def test_an_unhealthy_trial_reboots_into_the_previous_image(tmp_path):
    paths = setup_state(tmp_path)
    runner = Files()
    runner.respond(["systemctl", "is-system-running"], stdout="degraded\n")
    runner.respond(["systemctl", "list-units"], stdout="broken.service loaded failed failed Broken\n")
    runner.respond(["nmcli"], stdout="connected\n")
    times = iter([10.0, 70.0])
    decision = confirm_boot(runner, paths, "0.2.0", "b1", False, clock=lambda: next(times), sleep=lambda s: None)
    assert decision.action == "rollback"
    assert "the system is degraded (failed units: broken.service)" in decision.reason
    assert ("systemctl", "reboot") in runner.argvs
    assert not any(a[:4] == ("grub-editenv", "/boot/grub/grubenv", "set", "saved_entry=hcinode-0.2.0")
                   for a in runner.argvs)
    assert load(paths.trial).state == "rolled-back"
