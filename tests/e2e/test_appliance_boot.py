"""The engine appliance boots with a NoCloud seed and serves the API; a node installed by PXE with the
kickstart's `%hcinode` join settings joins it at first boot and is Up on both sides.

The appliance boots once per session (`engine_appliance` in conftest.py, via `boot_engine`), before
the session's one PXE install: its join token goes into that install's kickstart. Networking: both
VMs are on their own QEMU user-nets; the appliance's port 443 is forwarded to a port P of the host's
loopback and the node reaches P as 10.0.2.2:P (a guestfwd relay), so the engine's certificate names
the IP 10.0.2.2 and the node joins `https://10.0.2.2:P`. The seed brings a CA made here (the
`ca_cert`/`ca_key` keys the hosted-engine deploy uses), so the pin is known before the boot.

Other tests boot overlays of the same installed disk without the relay: their join retries an
unreachable engine with backoff and never leaves a failed unit (test_network_rollback checks
`systemctl is-system-running`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.appliance import user_data
from engine.ca import make_ca
from nodecore import passwords, pki
from nodecore.runner import LocalRunner
from tests.e2e.test_install import HOSTNAME, STATIC_IP, InstalledNode, overlay_of
from tests.e2e.vm import BUILD, VM, Disk, SshKey, free_port, make_disk, make_ssh_key, vm_ssh, wait_for_ssh

FQDN = "engine-e2e.example.test"
APPLIANCE_IP = "10.0.2.15"  # the appliance's DHCP address on its user-net (ssh is forwarded there)
ADMIN_PASSWORD = "e2e engine admin: correct horse battery"  # noqa: S105 - a test VM's credential
JOIN_TEST = "test_engine_appliance_serves_and_a_pxe_installed_node_joins_at_first_boot"
BOOT_TIMEOUT = 1200  # TCG on 2 shared cores: boot + first boot (database, CA, migrations) + serve


@dataclass
class Engine:
    """The running appliance: the engine at https://127.0.0.1:port (from the host) and
    https://10.0.2.2:port (from other VMs)."""

    vm: VM
    port: int
    ca_file: Path
    pin: str
    key: SshKey
    timings: dict[str, float]

    @property
    def guest_url(self) -> str:
        return f"https://10.0.2.2:{self.port}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return requests.request(method, f"https://127.0.0.1:{self.port}{path}", verify=str(self.ca_file), **kwargs)

    def ssh(self, command: str, timeout: float = 300) -> str:
        result = vm_ssh(self.vm, self.key, command, timeout=timeout, check=False)
        assert result.ok, f"appliance $ {command}\nrc={result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def join_settings(self) -> dict[str, str]:
        """The kickstart's %hcinode keys: a one-use token, valid long enough for a loaded install."""
        answer = self.api("POST", "/api/v1/tokens", auth=("admin", ADMIN_PASSWORD),
                          json={"ttl_seconds": 4 * 3600, "uses": 1})
        assert answer.status_code == 201, answer.text
        token = answer.json()
        assert token["ca_pin"] == self.pin, token
        return {"engine_url": self.guest_url, "join_token": token["token"], "ca_fingerprint": token["ca_pin"]}


def boot_engine(work: Path) -> Engine:
    """Boot an overlay of build/engine-appliance.qcow2 with a seed; return once /health says ok."""
    from tests.e2e.vm import APPLIANCE

    work.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key = make_ca(FQDN)
    ca_file = work / "ca.crt"
    ca_file.write_bytes(ca_pem)
    key = make_ssh_key(work, "hcinode-e2e-engine")
    seed = {"fqdn": FQDN, "ips": ["10.0.2.2", "127.0.0.1"],
            "admin_password_hash": passwords.hash_password(ADMIN_PASSWORD, account="admin"),
            "ca_cert": ca_pem.decode(), "ca_key": ca_key.decode()}
    (work / "user-data").write_text(user_data(seed, ({"path": "/root/.ssh/authorized_keys", "permissions": "0600",
                                                      "content": key.public + "\n"},)))
    (work / "meta-data").write_text(f"instance-id: hcinode-e2e-engine\nlocal-hostname: {FQDN.split('.')[0]}\n")
    seed_iso = work / "seed.iso"
    LocalRunner().run(["cloud-localds", str(seed_iso), str(work / "user-data"), str(work / "meta-data")], timeout=60)
    port = free_port()
    vm = VM("engine", work / "vm", boot="disk", memory=1024, seed_iso=seed_iso, ssh_to=APPLIANCE_IP,
            hostfwd=[(port, 443)], disks=[Disk(make_disk(work / "engine.qcow2", "4G", backing=APPLIANCE))])
    engine = Engine(vm, port, ca_file, pki.ca_pin(ca_pem), key, {})
    vm.start()
    try:
        _wait_for_health(engine)
    except BaseException:
        vm.kill()
        raise
    return engine


def _wait_for_health(engine: Engine) -> None:
    vm = engine.vm
    vm.expect(f"{FQDN.split('.')[0]} login:", timeout=BOOT_TIMEOUT)  # cloud-init set the seed's host name
    engine.timings["appliance_boot_to_login_s"] = round(vm.seconds_since_start(), 1)
    vm.drain_serial()
    deadline, last = time.monotonic() + BOOT_TIMEOUT, ""
    while time.monotonic() < deadline:
        try:
            health = engine.api("GET", "/health", timeout=20)
        except requests.RequestException as exc:  # not listening yet (first boot still running)
            last = str(exc)
        else:
            if health.status_code == 200:
                assert health.json() == {"status": "ok", "db": "ok"}
                break
            last = f"{health.status_code} {health.text}"
        if not vm.child or not vm.child.isalive():
            break
        time.sleep(5)
    else:
        raise TimeoutError(f"the engine never answered /health ({last}); serial tail:\n{vm.tail()}")
    engine.timings["appliance_boot_to_health_s"] = round(vm.seconds_since_start(), 1)


def keep_engine_logs(engine_work: Path, dest: Path) -> None:
    shutil.copytree(engine_work / "vm", dest / "engine", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.qcow2", "*.sock", "id_ed25519*"))


def read_agent(vm: VM, key: SshKey) -> dict[str, Any]:
    result = vm_ssh(vm, key, "cat /run/hcinode/agent.json", check=False, timeout=120)
    return json.loads(result.stdout) if result.ok and result.stdout.strip() else {}


def join_failed(vm: VM, key: SshKey) -> bool:
    """The node's first-boot join gave up for good (/run/hcinode/join.json says "failed")."""
    result = vm_ssh(vm, key, "cat /run/hcinode/join.json", check=False, timeout=120)
    return result.ok and '"state": "failed"' in result.stdout


def check_appliance(engine: Engine) -> None:
    """First boot made PostgreSQL's database and the engine from the seed, and no unit failed."""
    assert engine.api("GET", "/health").json() == {"status": "ok", "db": "ok"}
    assert pki.ca_pin(engine.api("GET", "/api/v1/ca").json()["ca"].encode()) == engine.pin  # the seed's CA
    state = engine.ssh("systemctl is-system-running --wait; systemctl --failed --no-legend --plain; "
                       "systemctl is-active hcinode-engine.service postgresql@15-main.service")
    assert state.split()[0] == "running" and state.split()[-2:] == ["active", "active"], state
    db = engine.ssh("cd /var/lib/hcinode-engine && grep -E '^db_url:' engine.yaml && "
                    "stat -c '%a %n' ca.key admin.hash /etc/hcinode-engine/seed.yaml")
    assert "postgresql+psycopg://root@/hcinode_engine" in db and db.count("600 ") == 3, db


@pytest.mark.e2e
def test_engine_appliance_first_boot_serves_the_api(engine_appliance: Engine,
                                                     request: pytest.FixtureRequest) -> None:
    check_appliance(engine_appliance)
    token = engine_appliance.join_settings()  # the admin API takes the seed's password hash
    assert token["ca_fingerprint"] == engine_appliance.pin
    assert json.loads(engine_appliance.ssh("hcinode engine hosts list --json")) == []
    print("engine appliance timings:", engine_appliance.timings)
    if not any(JOIN_TEST in item.nodeid for item in request.session.items):
        engine_appliance.vm.kill()  # nothing else in this session needs it: give the 2 cores back


@pytest.mark.e2e
def test_engine_appliance_serves_and_a_pxe_installed_node_joins_at_first_boot(
        engine_appliance: Engine, installed_node: InstalledNode, tmp_path: Path) -> None:
    engine = engine_appliance
    if "join" not in installed_node.timings:
        pytest.fail("the installed node has no %hcinode join settings: HCINODE_E2E_INSTALLED reuses an "
                    "install made for another appliance boot (its token is gone); unset it for this test")
    t0 = time.monotonic()
    check_appliance(engine)

    # the node: an overlay of the install that carried the token; only this boot reaches the engine
    work = tmp_path / "node"
    work.mkdir()
    node = VM("joined-node", work, boot="disk", memory=1536, ssh_to=STATIC_IP, host_ports=[engine.port],
              disks=[Disk(overlay_of(installed_node, work / "overlay.qcow2"))])
    try:
        node.start()
        node.drain_serial()  # from the start: an unread serial line fills the pty and stalls the boot
        wait_for_ssh(node, installed_node.key, timeout=900)
        boot_s = node.seconds_since_start()
        deadline, agent = time.monotonic() + 600, {}
        while time.monotonic() < deadline:
            agent = read_agent(node, installed_node.key)
            if agent.get("status") == "Up" or join_failed(node, installed_node.key):
                break  # a refused token or pin is not retried by the node: waiting on would only cost time
            time.sleep(10)
        up_s = node.seconds_since_start()
        joined = vm_ssh(node, installed_node.key, "cat /run/hcinode/join.json; echo; systemctl is-active "
                        "hcinode-agent.service; test -e /var/lib/hcinode/firstboot-join.json && echo left-behind",
                        check=False).stdout
        # the agent can be Up before the boot has finished: wait for it, then name any failed unit
        state = vm_ssh(node, installed_node.key, "systemctl is-system-running --wait; "
                       "systemctl --failed --no-legend --plain", check=False, timeout=600).stdout
        assert agent.get("status") == "Up", f"agent.json: {agent}\n{joined}"
        assert agent["engine_url"] == engine.guest_url and agent["cert_expires_at"], agent
        assert '"state": "joined"' in joined and "\nactive" in joined and "left-behind" not in joined, joined
        assert state.startswith("running"), state

        hosts = json.loads(engine.ssh("hcinode engine hosts list --json"))
        mine = [h for h in hosts if h["name"] == HOSTNAME]
        assert len(mine) == 1 and mine[0]["status"] == "Up", hosts
        assert mine[0]["id"] == agent["host_id"], (mine, agent)
        via_api = engine.api("GET", "/api/v1/hosts", auth=("admin", ADMIN_PASSWORD)).json()
        assert [h["status"] for h in via_api if h["name"] == HOSTNAME] == ["Up"], via_api
        # the technician's view: the console on the serial line, Alt-C for its Cluster page
        node.stop_draining()
        node.send("\x1bc")
        node.expect(r"Up at https://", timeout=60)
        node.poweroff()
    except BaseException:
        keep_engine_logs(engine.vm.workdir.parent, BUILD / "e2e-logs" / "engine_join")
        shutil.copytree(work, BUILD / "e2e-logs" / "engine_join" / "node", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.qcow2", "*.sock", "srv"))
        raise
    finally:
        node.kill()
        engine.vm.kill()  # the last user of the session's appliance: give the 2 cores back
    print("engine join timings:", {**engine.timings, "node_boot_to_ssh_s": round(boot_s, 1),
                                   "node_boot_to_up_s": round(up_s, 1),
                                   "test_s": round(time.monotonic() - t0, 1)})
