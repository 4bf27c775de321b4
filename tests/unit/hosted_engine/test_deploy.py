import json
from dataclasses import dataclass

import pytest

from hosted_engine import deploy
from hosted_engine.spec import BondSpec, BridgeSpec
from nodecore.errors import HcinodeError
from nodecore.runner import RecordingRunner
from nodecore.secrets import Secret


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ca(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n")
    return str(path)


def _health_params(ca: str, timeout: float = 60) -> dict:
    return {"url": "https://engine.example.com/health", "domain": "HostedEngine", "timeout": timeout,
            "ca_cert": ca, "console_log": "/var/log/x.log", "fqdn": "engine.example.com"}


def test_wait_health_returns_once_the_engine_answers_ok(ca):
    answers = iter([OSError("connection refused"), (503, {"status": "error"}), (200, {"status": "ok"})])

    def http(method, url, **kw):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        assert kw["ca_pem"].startswith("-----BEGIN CERTIFICATE")  # the deploy's CA, nothing else
        return answer

    runner = RecordingRunner()
    runner.respond(["virsh", "domstate"], stdout="running\n")
    clock = Clock()
    said = []
    deploy.wait_health(runner, _health_params(ca), http=http, clock=clock, sleep=clock.sleep, say=said.append)
    assert said[-1] == "the engine is healthy after 20 s"


def test_wait_health_times_out_naming_what_it_checked(ca):
    runner = RecordingRunner()
    runner.respond(["virsh", "domstate"], stdout="running\n")
    clock = Clock()

    def refused(*_a, **_k):
        raise OSError("connection refused")

    with pytest.raises(deploy.EngineUnhealthy) as err:
        deploy.wait_health(runner, _health_params(ca, 30), http=refused, clock=clock, sleep=clock.sleep,
                           say=lambda _m: None)
    text = str(err.value)
    assert "within 30 s" in text and "GET https://engine.example.com/health" in text
    assert "TLS verified against the deploy's CA" in text and "connection refused" in text
    assert "HostedEngine is running" in text and "/var/log/x.log" in text


def test_wait_health_stops_at_once_when_the_vm_is_down(ca):
    runner = RecordingRunner()
    runner.respond(["virsh", "domstate"], stdout="shut off\n")
    clock = Clock()
    with pytest.raises(deploy.EngineUnhealthy, match="is shut off, not running"):
        deploy.wait_health(runner, _health_params(ca), http=lambda *a, **k: (503, {}), clock=clock,
                           sleep=clock.sleep, say=lambda _m: None)
    assert clock.now == 0


@dataclass
class _Reg:
    sanlock_host_id: int


@dataclass
class _Result:
    registration: _Reg


def _enrol_params(tmp_path, ca) -> dict:
    pw = tmp_path / "pw"
    pw.write_text("Correct-Horse-Battery-42\n")
    return {"engine_url": "https://engine.example.com", "ca_cert": ca, "admin_password_file": str(pw),
            "host_state": str(tmp_path / "host.json"), "deployment_uuid": "u-1", "mount": "/mnt/e",
            "expected_host_id": 1}


def _join_string() -> str:
    from nodecore.pki import JoinString

    return JoinString(("https://engine.example.com",), "sha256:" + "a" * 64, "abc123." + "s" * 32,
                      "2030-01-01T00:00:00Z").encode()


def test_enrol_makes_a_token_with_the_admin_password_and_joins(tmp_path, ca):
    calls = []

    def http(method, url, **kw):
        calls.append((method, url, kw))
        return 201, {"join": _join_string()}

    joined = []
    runner = RecordingRunner()
    deploy.enrol(runner, _enrol_params(tmp_path, ca), http=http,
                 join=lambda request, runner: joined.append(request) or _Result(_Reg(1)))
    method, url, kw = calls[0]
    assert (method, url) == ("POST", "https://engine.example.com/api/v1/tokens")
    assert kw["auth"] == ("admin", Secret("Correct-Horse-Battery-42")) and kw["body"]["uses"] == 1
    assert joined[0].urls == ("https://engine.example.com",)
    state = json.loads(runner.files[str(tmp_path / "host.json")])
    assert state == {"host_id": 1, "deployment": "u-1", "mount": "/mnt/e",
                     "engine_url": "https://engine.example.com"}


def test_the_host_json_enrol_writes_is_the_one_the_ha_agent_reads(tmp_path, ca):
    # found for real: enrol wrote deployment_uuid, the HA agent and `status` read deployment (exit 2)
    from hosted_engine.ha_agent import HostConfig

    runner = RecordingRunner()
    deploy.enrol(runner, _enrol_params(tmp_path, ca), http=lambda *a, **kw: (201, {"join": _join_string()}),
                 join=lambda request, runner: _Result(_Reg(1)))
    path = tmp_path / "host.json"
    path.write_bytes(runner.files[str(path)])
    host = HostConfig.load(str(path))
    assert (host.host_id, host.deployment, host.mount) == (1, "u-1", "/mnt/e")


def test_enrol_refuses_a_wrong_password_and_a_host_id_other_than_the_deploys(tmp_path, ca):
    with pytest.raises(deploy.EnrolFailed, match="admin password"):
        deploy.enrol(RecordingRunner(), _enrol_params(tmp_path, ca), http=lambda *a, **k: (401, {"detail": "no"}))
    runner = RecordingRunner()
    with pytest.raises(deploy.EnrolFailed, match="sanlock host id 2"):
        deploy.enrol(runner, _enrol_params(tmp_path, ca), http=lambda *a, **k: (201, {"join": _join_string()}),
                     join=lambda request, runner: _Result(_Reg(2)))
    assert not runner.files


def test_hosts_entries_appends_only_what_is_missing():
    runner = RecordingRunner()
    runner.files["/etc/hosts"] = b"127.0.0.1 localhost\n192.0.2.10 engine.example.com"
    deploy.hosts_entries(runner, {"path": "/etc/hosts", "lines": ["192.0.2.10 engine.example.com", "192.0.2.11 b"]})
    assert runner.files["/etc/hosts"] == b"127.0.0.1 localhost\n192.0.2.10 engine.example.com\n192.0.2.11 b\n"


def test_check_sha256_refuses_another_file():
    runner = RecordingRunner()
    runner.respond(["sha256sum"], stdout="b" * 64 + "  /a.qcow2\n")
    deploy.check_sha256(runner, {"path": "/a.qcow2", "sha256": "b" * 64})
    with pytest.raises(HcinodeError, match="damaged or another build"):
        deploy.check_sha256(runner, {"path": "/a.qcow2", "sha256": "c" * 64})


def test_make_ca_writes_the_key_0600():
    runner = RecordingRunner()
    deploy.make_ca(runner, {"cert": "/s/ca.pem", "key": "/s/ca.key", "fqdn": "engine.example.com"})
    assert runner.files["/s/ca.pem"].startswith(b"-----BEGIN CERTIFICATE")
    assert b"PRIVATE KEY" in runner.files["/s/ca.key"]


def test_write_file_takes_an_octal_mode_string(tmp_path):
    from nodecore.runner import LocalRunner

    path = tmp_path / "f"
    deploy.write_file(LocalRunner(), {"path": str(path), "content": "x", "mode": "0600"})
    assert path.read_text() == "x" and path.stat().st_mode & 0o777 == 0o600


def test_bridge_network_moves_the_address_from_the_nic_to_the_bridge():
    from node_setup.model import Interface, IPv4, NetworkConfig

    net = NetworkConfig(interfaces=(Interface("eth0", ipv4=IPv4("static", ("192.0.2.5/24",), "192.0.2.1")),
                                    Interface("eth1")))
    out = deploy.bridge_network(net, BridgeSpec(name="ovirtmgmt", nic="eth0"))
    assert out.device("eth0").ipv4.method == "disabled"
    bridge = out.device("ovirtmgmt")
    assert bridge.ports == ("eth0",) and bridge.ipv4.addresses == ("192.0.2.5/24",)


def test_bridge_network_on_a_new_bond_and_vlan():
    from node_setup.model import NetworkConfig

    out = deploy.bridge_network(NetworkConfig(), BridgeSpec(name="ovirtmgmt", vlan=100,
                                                             bond=BondSpec("bond0", ("eth0", "eth1"))))
    assert [i.name for i in out.interfaces] == ["eth0", "eth1"]
    assert out.bonds[0].slaves == ("eth0", "eth1")
    assert out.vlans[0].name == "bond0.100" and out.vlans[0].parent == "bond0"
    assert out.bridges[0].ports == ("bond0.100",)


def test_lockspace_steps_call_the_ha_agents_module(monkeypatch):
    seen = []
    monkeypatch.setattr(deploy.lockspace, "init_lockspace", lambda **p: seen.append(p))
    table = deploy.lockspace_actions()
    assert sorted(table) == sorted(f"hosted_engine.lockspace.{n}" for n in deploy.LOCKSPACE_ACTIONS)
    table["hosted_engine.lockspace.init_lockspace"](RecordingRunner(), {"path": "/l", "sector": 4096, "io_timeout": 10})
    assert seen == [{"path": "/l", "sector": 4096, "io_timeout": 10}]


def test_verify_reads_back_files_domain_and_enrol(spec):
    runner = RecordingRunner()
    runner.respond(["virsh", "domstate"], stdout="running\n")
    runner.respond(["test", "-e"], returncode=1)
    assert deploy.verify(spec, runner, "/s").ok
    runner.respond(["test", "-f", "/s/host.json"], returncode=1)
    assert [p.field for p in deploy.verify(spec, runner, "/s").errors] == ["enrol"]
