import os

import yaml

from hosted_engine import seed
from hosted_engine.spec import parse_spec
from nodecore.runner import RecordingRunner
from nodecore.secrets import Secret
from tests.goldenfiles import assert_golden
from tests.unit.hosted_engine.conftest import base_data

HASH = Secret("$y$j9T$abcdefghijklmnop$0123456789012345678901234567890123456789012")
CA_CERT = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"
CA_KEY = Secret("-----BEGIN PRIVATE KEY-----\nMIGHfakekey\n-----END PRIVATE KEY-----\n")


def test_the_seed_files_are_golden(spec):
    files = seed.seed_files(spec, HASH, CA_CERT, CA_KEY)
    assert_golden("hosted_engine/seed-user-data.yaml", files.user_data.reveal().rstrip("\n"))
    assert_golden("hosted_engine/seed-meta-data.yaml", files.meta_data.rstrip("\n"))
    assert_golden("hosted_engine/seed-network-config.yaml", files.network_config.rstrip("\n"))


def test_the_user_data_hands_the_appliance_its_seed(spec):
    from engine.appliance import SEED_FILE

    data = yaml.safe_load(files_text(spec))
    assert data["fqdn"] == "engine.example.com"
    entry = next(f for f in data["write_files"] if f["path"] == SEED_FILE)
    assert entry["permissions"] == "0600"
    appliance = yaml.safe_load(entry["content"])
    assert appliance["admin_password_hash"] == HASH.reveal()
    assert appliance["ca_cert"] == CA_CERT and appliance["ca_key"] == CA_KEY.reveal()
    assert appliance["ips"] == ["192.0.2.10"]
    keys = next(f for f in data["write_files"] if f["path"] == "/root/.ssh/authorized_keys")
    assert keys["content"].startswith("ssh-ed25519 ")
    hosts = next(f for f in data["write_files"] if f["path"] == "/etc/hosts")
    assert hosts["content"] == "192.0.2.10 engine.example.com\n"


def test_the_first_boot_turns_cloud_init_off_for_the_boots_without_the_seed(spec):
    """The seed is removed after enrol: a later boot (HA restart) with cloud-init on would fall back
    to DataSourceNone and re-render the network as DHCP (the engine came back with no address)."""
    data = yaml.safe_load(files_text(spec))
    assert any(f["path"] == "/etc/cloud/cloud-init.disabled" for f in data["write_files"])


def files_text(spec) -> str:
    return seed.seed_files(spec, HASH, CA_CERT, CA_KEY).user_data.reveal()


def test_the_user_data_never_shows_in_a_repr(spec):
    files = seed.seed_files(spec, HASH, CA_CERT, CA_KEY)
    assert "MIGHfakekey" not in repr(files)


def test_dhcp_network_config_matches_the_mac():
    data = base_data()
    data["network"] = {"mode": "dhcp", "mac": "52:54:00:aa:bb:cc", "dns": ["192.0.2.53"]}
    data["engine"]["hosts"] = {}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    config = yaml.safe_load(seed.network_config(spec))
    eth = config["ethernets"]["eth0"]
    assert eth["match"] == {"macaddress": "52:54:00:aa:bb:cc"} and eth["dhcp4"] is True
    assert "ips" not in yaml.safe_load(next(f for f in yaml.safe_load(
        seed.seed_files(spec, HASH, CA_CERT, CA_KEY).user_data.reveal())["write_files"])["content"])


def test_build_seed_runs_cloud_localds_in_a_private_dir_it_removes(spec, tmp_path):
    (tmp_path / "pw").write_text("Correct-Horse-Battery-42\n")
    (tmp_path / "ca.pem").write_text(CA_CERT)
    (tmp_path / "ca.key").write_text(CA_KEY.reveal())
    runner = RecordingRunner()
    out = str(tmp_path / "seed.iso")
    seed.build_seed(runner, {"admin_password_file": str(tmp_path / "pw"), "ca_cert": str(tmp_path / "ca.pem"),
                             "ca_key": str(tmp_path / "ca.key"), "output": out}, spec)
    localds = runner.argvs[0]
    assert localds[0] == "cloud-localds" and localds[2] == out + ".partial"
    work = os.path.dirname(localds[3])
    assert not os.path.exists(work)
    user_data = runner.files[f"{work}/user-data"].decode()
    assert "Correct-Horse-Battery-42" not in user_data and "$y$" in user_data
    assert runner.argvs[-1] == ("mv", "-f", out + ".partial", out)
    assert all("Correct-Horse" not in " ".join(a) for a in runner.argvs)
