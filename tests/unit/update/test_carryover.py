import json
import os

from nodecore.runner import LocalRunner
from update.carryover import RULES, carry_over_action, covered, fstab_for_new_root, rules_for


def write(root, rel, text="x"):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_thing_the_node_owns_has_a_rule():
    for rel in ("etc/NetworkManager/system-connections/mgmt.nmconnection", "etc/hostname", "etc/machine-id",
                "etc/passwd", "etc/shadow", "etc/group", "etc/gshadow", "etc/ssh/ssh_host_ed25519_key",
                "var/lib/hcinode/cluster/node.key", "var/lib/glusterd/glusterd.info", "root/.ssh/authorized_keys"):
        assert covered(rel, RULES), rel
    assert not covered("etc/motd", RULES)


def test_var_rules_only_when_var_is_on_the_root():
    assert not covered("var/lib/glusterd/glusterd.info", rules_for(var_separate=True))
    assert covered("var/lib/glusterd/glusterd.info", rules_for(var_separate=False))


def test_carry_over_copies_by_rule_and_reports_the_rest(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    write(old, "etc/hostname", "node1\n")
    key = write(old, "etc/ssh/ssh_host_ed25519_key", "secret-key")
    os.chmod(key, 0o600)
    write(old, "etc/NetworkManager/system-connections/mgmt.nmconnection", "[connection]\n")
    write(old, "etc/shadow", "root:$6$hash:1::::::\n")
    write(old, "etc/motd", "changed by hand\n")
    write(old, "etc/same.conf", "same\n")
    write(old, "var/lib/glusterd/glusterd.info", "UUID=1\n")
    write(new, "etc/hostname", "hcinode\n")
    write(new, "etc/NetworkManager/system-connections/stale.nmconnection", "old image\n")
    write(new, "etc/motd", "image motd\n")
    write(new, "etc/same.conf", "same\n")
    report_path = tmp_path / "report.json"
    carry_over_action(LocalRunner(quiet=True), {"target": str(new), "old_root": str(old), "var_separate": True,
                                                "report": str(report_path)})
    assert (new / "etc/hostname").read_text() == "node1\n"
    assert oct((new / "etc/ssh/ssh_host_ed25519_key").stat().st_mode & 0o777) == "0o600"
    # the keyfile directory is replaced as a whole: a profile of the image does not come back
    assert sorted(os.listdir(new / "etc/NetworkManager/system-connections")) == ["mgmt.nmconnection"]
    assert not (new / "var/lib/glusterd").exists()  # /var is its own file system: it stays
    report = json.loads(report_path.read_text())
    assert report["uncovered"] == ["/etc/motd"]
    assert report["carried"]["identity (host name, hosts, machine-id)"] == ["/etc/hostname"]
    assert "secret-key" not in report_path.read_text()


def test_fstab_points_only_the_root_at_the_new_image():
    running = ("# fstab\nUUID=old  /  ext4  defaults,discard  0  1\nUUID=var  /var  ext4  defaults  0  2\n")
    out = fstab_for_new_root(running, "UUID=new")
    assert "UUID=new  /  ext4  defaults,discard  0  1" in out
    assert "UUID=var  /var  ext4  defaults  0  2" in out and "UUID=old" not in out
