"""The engine VM's NoCloud seed: user-data, meta-data, network-config, and the step that builds it.

The user data is the engine appliance's own format (engine.appliance.user_data): cloud-init's
write_files puts the appliance seed (FQDN, addresses, the admin password's crypt hash, the CA the
deploy made: certificate and key) at /etc/hcinode-engine/seed.yaml for the appliance's first boot,
plus root's authorized_keys and the spec's /etc/hosts entries. Because the deploy made the CA, it
pins it from the start: the engine's server certificate is checked against that CA alone, with no
trust on first use.

The seed holds secrets (the CA key, the password hash), so its content is made only inside the
build action, from files on this host; the plan carries paths, never the content. The ISO is
removed from the shared volume after enrol.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from hosted_engine.spec import HostedEngineSpec
from nodecore.runner import Runner
from nodecore.secrets import Secret


@dataclass(frozen=True)
class SeedFiles:
    user_data: Secret
    meta_data: str
    network_config: str


CLOUD_INIT_DISABLED = "/etc/cloud/cloud-init.disabled"


def meta_data(spec: HostedEngineSpec) -> str:
    # the instance id changes with the deployment: cloud-init runs its first boot once per id
    data = {"instance-id": f"hosted-engine-{spec.deployment_uuid}",
            "local-hostname": spec.engine.fqdn.split(".")[0]}
    return yaml.safe_dump(data, sort_keys=False)


def network_config(spec: HostedEngineSpec) -> str:
    """cloud-init network config v2, matched by the VM's MAC (the appliance's NIC name is the guest's)."""
    net = spec.network
    eth: dict[str, Any] = {"match": {"macaddress": spec.mac}, "set-name": "eth0"}
    if net.mode == "dhcp":
        eth["dhcp4"] = True
    else:
        eth["addresses"] = [f"{net.ip}/{net.prefix}"]
        eth["routes"] = [{"to": "0.0.0.0/0", "via": net.gateway}]
    if net.dns:
        eth["nameservers"] = {"addresses": list(net.dns)}
    return yaml.safe_dump({"version": 2, "ethernets": {"eth0": eth}}, sort_keys=False)


def appliance_seed(spec: HostedEngineSpec, admin_hash: Secret, ca_cert: str,
                   ca_key: Secret) -> dict[str, str | list[str]]:
    """The keys of engine.appliance.Seed, plain values (this dict only lives inside the build action)."""
    seed: dict[str, str | list[str]] = {"fqdn": spec.engine.fqdn, "admin_password_hash": admin_hash.reveal()}
    if spec.network.mode == "static":
        seed["ips"] = [spec.network.ip]
    seed["urls"] = [f"https://{spec.engine.fqdn}"]
    seed["ca_cert"] = ca_cert
    seed["ca_key"] = ca_key.reveal()
    return seed


def seed_files(spec: HostedEngineSpec, admin_hash: Secret, ca_cert: str, ca_key: Secret) -> SeedFiles:
    from engine.appliance import user_data

    extra: list[dict[str, str]] = []
    if spec.engine.root_ssh_key:
        extra.append({"path": "/root/.ssh/authorized_keys", "permissions": "0600", "owner": "root:root",
                      "content": spec.engine.root_ssh_key + "\n"})
    if spec.engine.hosts:
        lines = "".join(f"{address} {name}\n" for name, address in sorted(spec.engine.hosts.items()))
        extra.append({"path": "/etc/hosts", "append": "true", "content": lines})
    # The deploy removes the seed after enrol (no secret left on shared storage), so every later boot
    # of the engine VM (an HA restart, another host, a reboot) has no NoCloud source: cloud-init would
    # fall back to DataSourceNone and re-render the network as DHCP, and the engine came back with no
    # address (seen on the namespaced hosts). The first boot configures the appliance once; then
    # cloud-init stays off and the rendered static network stays.
    extra.append({"path": CLOUD_INIT_DISABLED, "permissions": "0644", "owner": "root:root",
                  "content": "written by the hosted-engine seed: the engine VM is configured once\n"})
    text = user_data(appliance_seed(spec, admin_hash, ca_cert, ca_key), tuple(extra))
    return SeedFiles(Secret(text), meta_data(spec), network_config(spec))


# --- the build step ------------------------------------------------------------------------------

def read_secret_file(path: str) -> Secret:
    """A one-line secret file (the admin password, a key): its content without the final newline."""
    with open(path, encoding="utf-8") as f:
        return Secret(f.read().rstrip("\n"))


def build_seed(runner: Runner, params: Mapping[str, Any], spec: HostedEngineSpec) -> None:
    """Write user-data/meta-data/network-config into a private directory and make the ISO with
    cloud-localds (label cidata, what NoCloud looks for); the directory is removed either way."""
    from nodecore import passwords

    password = read_secret_file(str(params["admin_password_file"]))
    admin_hash = Secret(passwords.hash_password(password.reveal(), account="admin"))
    with open(str(params["ca_cert"]), encoding="utf-8") as f:
        ca_cert = f.read()
    ca_key = read_secret_file(str(params["ca_key"]))
    files = seed_files(spec, admin_hash, ca_cert, ca_key)
    work = tempfile.mkdtemp(prefix="hcinode-seed-")  # 0700: the user data holds the CA key
    try:
        runner.write_file(os.path.join(work, "user-data"), files.user_data.reveal(), 0o600)
        runner.write_file(os.path.join(work, "meta-data"), files.meta_data, 0o600)
        runner.write_file(os.path.join(work, "network-config"), files.network_config, 0o600)
        output = str(params["output"])
        partial = output + ".partial"
        runner.run(["cloud-localds", f"--network-config={work}/network-config", partial,
                    f"{work}/user-data", f"{work}/meta-data"], timeout=120)
        runner.run(["chmod", "0600", partial])
        runner.run(["mv", "-f", partial, output])
    finally:
        shutil.rmtree(work, ignore_errors=True)
