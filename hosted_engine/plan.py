"""The deploy plan: a pure function of (spec, facts) -> Plan, every step with a check or idempotent.

Stages (DESIGN.md, "The cluster half"): the management bridge and the engine's name on this host ->
mount the engine volume -> the deployment's directory with the engine disk (converted from the
appliance, resized), the sanlock lockspace and VM lease, the metadata slots, vm.xml and
deployment.json -> the engine CA and the NoCloud seed -> define and start the domain (this host
holds the VM lease through libvirt's sanlock lock manager) -> wait for the engine's /health ->
enrol this host through agent/join with a token the deploy makes on the engine -> remove the seed
and the local CA key -> start the HA agent.

How the deploy talks to the new engine: its admin API over HTTPS, verified against the CA the deploy
made and put into the seed (no trust on first use; the same CA pin the join then checks), signing in
with the admin password from `engine.admin_password_file`.

Re-running: the journal (nodecore.pipeline) resumes an interrupted deploy after its last finished
step; after a completed deploy every step's check finds its work in place. The seed steps check
"seed there, or this host enrolled" (host.json), so a re-run never makes a new seed.

The sanlock steps are named actions of the HA agent's module `hosted_engine.lockspace`
(init_lockspace, init_lease, join_lockspace): one implementation of the on-disk format for both.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from hosted_engine import layout
from hosted_engine.domain import VM_XML_VERSION, DomainInputs, DomainType, domain_xml
from hosted_engine.spec import HostedEngineSpec
from nodecore.plan import Plan, Step

HA_AGENT_UNIT = "hcinode-hosted-engine-ha.service"
# the first host of a new engine gets sanlock host id 1 at join (engine.service._free_sanlock_id):
# the deploy joins the lockspace with it before the engine exists, and enrol checks the engine agrees
DEPLOY_HOST_ID = 1
HEALTH_TIMEOUT = {"kvm": 900, "qemu": 2400}  # seconds: first boot makes the database, the CA, keys
MIB = 1024 * 1024


@dataclass(frozen=True)
class PlanFacts:
    """What the plan depends on besides the spec (preflight read it from the host)."""

    domain_type: DomainType  # kvm, or qemu (TCG) when the spec allows it and KVM does not work
    sector_size: int  # the engine volume's bricks' logical sector size: 512 or 4096
    bridge_exists: bool
    state_dir: str  # this host's hosted-engine state dir (layout.host_state_dir())
    console_log: str = "/var/log/libvirt/qemu/HostedEngine-console.log"


def paths_for(spec: HostedEngineSpec) -> layout.DeploymentPaths:
    return layout.DeploymentPaths(spec.mount_point, spec.deployment_uuid)


def local_dir(spec: HostedEngineSpec, state_dir: str) -> str:
    """This host's files of the deployment: the CA it made, the first-boot domain XML, a downloaded appliance."""
    return os.path.join(state_dir, spec.deployment_uuid)


def host_state_file(state_dir: str) -> str:
    return os.path.join(state_dir, layout.HOST_STATE_FILE)


def engine_url(spec: HostedEngineSpec) -> str:
    return f"https://{spec.engine.fqdn}"


def appliance_file(spec: HostedEngineSpec, facts: PlanFacts) -> str:
    if spec.appliance.url:
        return os.path.join(local_dir(spec, facts.state_dir), "appliance.qcow2")
    return spec.appliance_path


def deployment_config(spec: HostedEngineSpec, facts: PlanFacts) -> dict[str, Any]:
    """deployment.json: what any hosted-engine host needs to run this engine (no secrets)."""
    return {
        "version": layout.LAYOUT_VERSION,
        "uuid": spec.deployment_uuid,
        "engine_fqdn": spec.engine.fqdn,
        "engine_url": engine_url(spec),
        "health_url": engine_url(spec) + "/health",  # what every HA agent polls
        "vm": {"memory_mib": spec.vm.memory_mib, "vcpus": spec.vm.vcpus, "disk_gib": spec.vm.disk_gib,
               "mac": spec.mac},
        "vm_xml_version": VM_XML_VERSION,
        "domain_type": facts.domain_type,
        "io_timeout": spec.sanlock.io_timeout,
        "sector_size": facts.sector_size,
        "bridge": spec.bridge.name,
        "gateway": spec.network.gateway,  # the HA agent's network test pings it
        "storage": {"server": spec.storage.server, "volume": spec.storage.volume,
                    "backup_servers": list(spec.storage.backup_servers), "mount": spec.mount_point},
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _content_check(path: str, text: str) -> tuple[str, ...]:
    """Exit 0 when `path` holds exactly `text` (compared by hash: the text stays out of argv)."""
    return ("sh", "-c", 'echo "$1  $2" | sha256sum --check --status', "sh", _sha256(text), path)


def write_step(title: str, path: str, text: str, mode: str = "0644") -> Step:
    return Step(title, action="hosted_engine.write_file", params={"path": path, "content": text, "mode": mode},
                check=_content_check(path, text))


def _absent_or_enrolled(path: str, facts: PlanFacts) -> tuple[str, ...]:
    return ("sh", "-c", 'test -e "$1" || test -e "$2"', "sh", path, host_state_file(facts.state_dir))


def deploy_plan(spec: HostedEngineSpec, facts: PlanFacts) -> Plan:
    paths = paths_for(spec)
    mine = local_dir(spec, facts.state_dir)
    ca_cert, ca_key = os.path.join(mine, "ca.pem"), os.path.join(mine, "ca.key")
    first_boot_xml = os.path.join(mine, "vm-firstboot.xml")
    appliance = appliance_file(spec, facts)
    disk_bytes = spec.vm.disk_gib * 1024 * MIB
    domain = layout.DOMAIN_NAME
    shared_xml = domain_xml(spec, DomainInputs(paths, facts.domain_type, facts.console_log))
    boot_xml = domain_xml(spec, DomainInputs(paths, facts.domain_type, facts.console_log, with_seed=True))
    config = json.dumps(deployment_config(spec, facts), indent=2, sort_keys=True) + "\n"
    steps: list[Step] = []

    # -- this host: the management bridge, the engine's name ----------------------------------------
    if not facts.bridge_exists:
        steps.append(Step(f"Make the management bridge {spec.bridge.name} (NetworkManager, checkpoint rollback)",
                          action="hosted_engine.make_bridge",
                          params={"bridge": spec.bridge.name, "nic": spec.bridge.nic,
                                  "bond": _bond(spec), "vlan": spec.bridge.vlan},
                          check=("ip", "link", "show", "dev", spec.bridge.name), timeout=300))
    if spec.engine.hosts:
        lines = [f"{address} {name}" for name, address in sorted(spec.engine.hosts.items())]
        steps.append(Step("Add the spec's hosts entries to /etc/hosts", action="hosted_engine.hosts_entries",
                          params={"lines": lines, "path": "/etc/hosts"},
                          check=("sh", "-c", 'f=$1; shift; for l; do grep -qxF "$l" "$f" || exit 1; done',
                                 "sh", "/etc/hosts", *lines)))
    steps.append(Step("Make this host's hosted-engine state directory", argv=("mkdir", "-p", "-m", "0700", mine),
                      check=("test", "-d", mine)))

    # -- the engine volume and the deployment's directory ------------------------------------------
    steps.append(mount_step(spec.volume_source, spec.mount_point, spec.storage.backup_servers))
    steps.append(Step("Make the deployment directory on the engine volume", argv=("mkdir", "-p", paths.directory),
                      check=("test", "-d", paths.directory)))

    # -- the engine disk ----------------------------------------------------------------------------
    if spec.appliance.url:
        steps.append(Step("Download the engine appliance", argv=(
            "curl", "--fail", "--location", "--silent", "--show-error", "--output", appliance + ".partial",
            spec.appliance.url), check=("test", "-f", appliance), timeout=3600))
        steps.append(Step("Keep the downloaded appliance", argv=("mv", "-f", appliance + ".partial", appliance),
                          check=("test", "-f", appliance)))
    if spec.appliance.sha256:
        steps.append(Step("Check the appliance's sha256", action="hosted_engine.check_sha256",
                          params={"path": appliance, "sha256": spec.appliance.sha256},
                          check=("test", "-f", paths.engine_disk), timeout=1800))
    partial = paths.engine_disk + ".partial"
    # into a partial file first: an interrupted copy is redone, never taken for a whole disk
    steps.append(Step("Copy the appliance into the engine disk (qemu-img convert)", argv=(
        "qemu-img", "convert", "-p", "-f", "qcow2", "-O", "qcow2", "-t", "none", "-o", "preallocation=metadata",
        appliance, partial), check=("test", "-f", paths.engine_disk), timeout=7200))
    steps.append(Step("Keep the copied engine disk", argv=("mv", "-f", partial, paths.engine_disk),
                      check=("test", "-f", paths.engine_disk)))
    # qemu-img info -U: the running engine holds the image lock on a re-run
    steps.append(Step(f"Resize the engine disk to {spec.vm.disk_gib} GiB",
                      argv=("qemu-img", "resize", "-f", "qcow2", paths.engine_disk, str(disk_bytes)),
                      check=("sh", "-c", 'qemu-img info -U --output=json "$1" | grep -q "\\"virtual-size\\": $2,"',
                             "sh", paths.engine_disk, str(disk_bytes))))

    # -- sanlock and the metadata slots ---------------------------------------------------------------
    # writing a lockspace or a lease destroys the one there (host ids, the held lease of a running
    # engine): each step is skipped when sanlock reads its record back (a journal is closed once a
    # deploy completes, so a re-run has only these checks)
    steps.append(Step(f"Write the sanlock lockspace {layout.LOCKSPACE_NAME} ({facts.sector_size}-byte sectors)",
                      action="hosted_engine.lockspace.init_lockspace",
                      params={"path": paths.lockspace, "sector": facts.sector_size,
                              "io_timeout": spec.sanlock.io_timeout},
                      check=("sanlock", "client", "read", "-s", f"{layout.LOCKSPACE_NAME}:0:{paths.lockspace}:0")))
    steps.append(Step(f"Write the VM lease {layout.VM_LEASE_NAME} ({facts.sector_size}-byte sectors)",
                      action="hosted_engine.lockspace.init_lease",
                      params={"path": paths.vm_lease, "sector": facts.sector_size},
                      check=("sanlock", "client", "read", "-r",
                             f"{layout.LOCKSPACE_NAME}:{layout.VM_LEASE_NAME}:{paths.vm_lease}:0")))
    steps.append(Step(f"Write the metadata file ({layout.METADATA_SLOTS} slots of {layout.METADATA_SLOT_SIZE} bytes)",
                      argv=("dd", "if=/dev/zero", f"of={paths.metadata}", f"bs={layout.METADATA_SLOT_SIZE}",
                            f"count={layout.METADATA_SLOTS}", "oflag=direct", "conv=fsync", "status=none"),
                      check=("sh", "-c", 'test "$(stat -c %s "$1")" = "$2"', "sh", paths.metadata,
                             str(layout.METADATA_SIZE))))
    steps.append(write_step(f"Write the VM definition vm.xml (version {VM_XML_VERSION})", paths.vm_xml, shared_xml))
    steps.append(write_step("Write deployment.json", paths.deployment_json, config))

    # -- the engine CA and the NoCloud seed --------------------------------------------------------------
    steps.append(Step("Make the engine's CA (the seed hands it to the engine; this host pins it)",
                      action="hosted_engine.make_ca", params={"cert": ca_cert, "key": ca_key, "fqdn": spec.engine.fqdn},
                      check=_absent_or_enrolled(ca_cert, facts)))
    steps.append(Step("Build the NoCloud seed (cloud-localds)", action="hosted_engine.build_seed",
                      params={"admin_password_file": spec.engine.admin_password_file, "ca_cert": ca_cert,
                              "ca_key": ca_key, "output": paths.seed},
                      check=_absent_or_enrolled(paths.seed, facts), timeout=300))

    # -- the engine VM ---------------------------------------------------------------------------------
    steps.append(join_step(paths, DEPLOY_HOST_ID, spec.sanlock.io_timeout))
    steps.append(write_step("Write the first-boot domain XML (vm.xml with the seed disk)", first_boot_xml, boot_xml))
    steps.append(Step(f"Define the libvirt domain {domain}", argv=("virsh", "define", first_boot_xml),
                      check=("virsh", "dominfo", domain), timeout=120))
    steps.append(Step(f"Start the engine VM {domain} (libvirt takes the VM lease)", argv=("virsh", "start", domain),
                      check=("sh", "-c", 'test "$(virsh domstate "$1")" = running', "sh", domain), timeout=300))
    steps.append(Step(f"Wait for the engine's health at {engine_url(spec)}/health", action="hosted_engine.wait_health",
                      params={"url": engine_url(spec) + "/health", "ca_cert": ca_cert, "domain": domain,
                              "timeout": HEALTH_TIMEOUT[facts.domain_type], "console_log": facts.console_log,
                              "fqdn": spec.engine.fqdn},
                      # a re-run asks once (verified against the deploy's CA, as the wait does)
                      check=("curl", "--silent", "--fail", "--output", "/dev/null", "--max-time", "20", "--cacert",
                             ca_cert, engine_url(spec) + "/health"),
                      timeout=HEALTH_TIMEOUT[facts.domain_type] + 60))

    # -- enrol, then leave no secret behind ------------------------------------------------------------
    steps.append(Step("Enrol this host in the engine (agent/join with a token made on the engine)",
                      action="hosted_engine.enrol",
                      params={"engine_url": engine_url(spec), "ca_cert": ca_cert,
                              "admin_password_file": spec.engine.admin_password_file,
                              "host_state": host_state_file(facts.state_dir), "deployment_uuid": spec.deployment_uuid,
                              "mount": spec.mount_point, "expected_host_id": DEPLOY_HOST_ID},
                      check=("test", "-f", host_state_file(facts.state_dir)), timeout=300))
    steps.append(Step("Detach the seed disk from the engine VM",
                      argv=("virsh", "detach-disk", domain, "vdb", "--live", "--config"),
                      # the definition (what every later start uses): the live unplug completes only when
                      # the guest answers the hotplug request, maybe after this step returned
                      check=("sh", "-c", '! virsh domblklist --inactive "$1" | grep -qF "$2"', "sh", domain,
                             paths.seed),
                      timeout=120))
    steps.append(Step("Remove the seed from the engine volume", argv=("rm", "-f", paths.seed),
                      check=("test", "!", "-e", paths.seed)))
    steps.append(Step("Remove the CA key from this host (the engine keeps it)", argv=("rm", "-f", ca_key),
                      check=("test", "!", "-e", ca_key)))
    steps.append(agent_start_step())

    summary = {"engine": spec.engine.fqdn, "deployment": spec.deployment_uuid, "directory": paths.directory,
               "volume": spec.volume_source, "bridge": spec.bridge.name,
               "vm": f"{spec.vm.memory_mib} MiB, {spec.vm.vcpus} vCPUs, {spec.vm.disk_gib} GiB disk",
               "virtualization": "KVM" if facts.domain_type == "kvm" else "TCG (test only)",
               "sanlock": f"io_timeout {spec.sanlock.io_timeout} s, {facts.sector_size}-byte sectors"}
    return Plan(f"hosted engine {spec.engine.fqdn}", tuple(steps), summary)


# -- steps the deploy, cleanup, add-host and remove-host share (hosted_engine/hosts.py) ---------------

def mount_step(source: str, mount: str, backup_servers: tuple[str, ...]) -> Step:
    """The engine volume's client mount with its fstab entry (gluster_setup's action)."""
    return Step(f"Mount the engine volume {source} on {mount}", action="gluster_setup.mount_volume",
                params={"source": source, "mountpoint": mount, "fstab": "/etc/fstab",
                        "backup_volfile_servers": ":".join(backup_servers)},
                check=("mountpoint", "-q", mount), timeout=180)


def joined_check(paths: layout.DeploymentPaths, host_id: int, held: bool = True) -> tuple[str, ...]:
    """Exit 0 when this host's sanlock daemon holds `host_id` in the deployment's lockspace (held=False:
    when it does not)."""
    return ("sh", "-c", ("" if held else "! ") + 'sanlock client status | grep -qxF "$1"', "sh",
            f"s {layout.LOCKSPACE_NAME}:{host_id}:{paths.lockspace}:0")


def join_step(paths: layout.DeploymentPaths, host_id: int, io_timeout: int) -> Step:
    """Hold `host_id` in the lockspace (sanlock refuses an id another live host renews)."""
    return Step(f"Join the lockspace {layout.LOCKSPACE_NAME} as host id {host_id}",
                action="hosted_engine.lockspace.join_lockspace",
                params={"path": paths.lockspace, "host_id": host_id, "io_timeout": io_timeout}, timeout=300,
                check=joined_check(paths, host_id))


def leave_step(paths: layout.DeploymentPaths, host_id: int, check: tuple[str, ...] | None = None) -> Step:
    """Give `host_id` back (refused while a lease in the lockspace is held: the engine VM runs here)."""
    return Step(f"Leave the lockspace {layout.LOCKSPACE_NAME}", action="hosted_engine.lockspace.leave_lockspace",
                params={"path": paths.lockspace, "host_id": host_id},
                check=check if check is not None else joined_check(paths, host_id, held=False),
                timeout=300)


def agent_start_step() -> Step:
    return Step(f"Start the hosted-engine HA agent ({HA_AGENT_UNIT})",
                argv=("systemctl", "enable", "--now", HA_AGENT_UNIT),
                check=("systemctl", "is-active", "--quiet", HA_AGENT_UNIT), timeout=120)


def agent_stop_step() -> Step:
    return Step(f"Stop the HA agent ({HA_AGENT_UNIT})", argv=("systemctl", "disable", "--now", HA_AGENT_UNIT),
                check=("sh", "-c", '! systemctl is-enabled --quiet "$1" && ! systemctl is-active --quiet "$1"', "sh",
                       HA_AGENT_UNIT), timeout=120)


def _bond(spec: HostedEngineSpec) -> dict[str, Any] | None:
    bond = spec.bridge.bond
    return None if bond is None else {"name": bond.name, "slaves": list(bond.slaves), "mode": bond.mode}


def cleanup_plan(spec: HostedEngineSpec, state_dir: str) -> Plan:
    """Only this deployment: its domain and its directory on the engine volume, and this host's
    files of it. Never the volume, other deployments, or anything outside those paths."""
    paths = paths_for(spec)
    domain = layout.DOMAIN_NAME
    mine = local_dir(spec, state_dir)
    steps = (
        agent_stop_step(),
        Step(f"Stop the engine VM {domain}", argv=("virsh", "destroy", domain),
             check=("sh", "-c", 'test "$(virsh domstate "$1" 2>/dev/null)" != running', "sh", domain), timeout=120),
        Step(f"Undefine the libvirt domain {domain}", argv=("virsh", "undefine", domain),
             check=("sh", "-c", '! virsh dominfo "$1" >/dev/null 2>&1', "sh", domain), timeout=120),
        # before its file goes: sanlock would keep renewing a lockspace on a removed file
        leave_step(paths, DEPLOY_HOST_ID, check=("test", "!", "-e", paths.lockspace)),
        Step("Remove this deployment's directory on the engine volume", argv=("rm", "-rf", "--one-file-system",
                                                                             paths.directory),
             check=("test", "!", "-e", paths.directory)),
        Step("Remove this host's files of the deployment", argv=("rm", "-rf", mine, host_state_file(state_dir)),
             check=("sh", "-c", 'test ! -e "$1" && test ! -e "$2"', "sh", mine, host_state_file(state_dir))),
    )
    return Plan(f"remove hosted engine {spec.engine.fqdn} (deployment {spec.deployment_uuid})", steps,
                {"directory": paths.directory, "domain": domain})


def change_summary(plan: Plan, spec: HostedEngineSpec) -> list[str]:
    """One sentence per change of a deploy plan, in the words the console's plan dialog shows
    (as node_setup.plan.change_summary does for node settings); the step list stays the record.
    Pure: the plan says which changes there are, the spec what they are."""
    paths = paths_for(spec)
    summary = plan.summary
    lines: list[str] = []
    for step in plan.steps:
        argv = step.argv
        if step.action == "hosted_engine.make_bridge":
            under = spec.bridge.nic or (spec.bridge.bond.name if spec.bridge.bond else "?")
            if spec.bridge.bond is not None:
                under = f"the {spec.bridge.bond.mode} bond {under} of {'+'.join(spec.bridge.bond.slaves)}"
            vlan = f", VLAN {spec.bridge.vlan}" if spec.bridge.vlan else ""
            lines.append(f"Management bridge {spec.bridge.name} (new) on {under}{vlan}; rolled back by itself "
                         "if it cuts this host off")
        elif step.action == "hosted_engine.hosts_entries":
            entries = ", ".join(f"{name} -> {address}" for name, address in sorted(spec.engine.hosts.items()))
            lines.append(f"/etc/hosts of this host and of the engine VM: {entries}")
        elif step.action == "gluster_setup.mount_volume":
            lines.append(f"Engine volume {spec.volume_source} mounted on {spec.mount_point} (fstab entry)")
        elif argv[:2] == ("qemu-img", "convert"):
            source = spec.appliance.url or spec.appliance_path
            lines.append(f"Deployment directory {paths.directory}: the engine disk, a copy of {source}, "
                         f"{spec.vm.disk_gib} GiB")
        elif step.action == "hosted_engine.lockspace.init_lockspace":
            lines.append(f"Sanlock lockspace {layout.LOCKSPACE_NAME}, VM lease {layout.VM_LEASE_NAME} and the "
                         f"metadata of {layout.MAX_HOST_ID} hosts there ({summary.get('sanlock', '')})")
        elif step.action == "hosted_engine.build_seed":
            lines.append("A new engine CA and a one-time seed (FQDN, addresses, the admin password's hash, "
                         "root's SSH key); removed from the volume after the enrol")
        elif argv[:2] == ("virsh", "start"):
            network = (f"{spec.network.ip}/{spec.network.prefix} gateway {spec.network.gateway}"
                       if spec.network.mode == "static" else "DHCP")
            lines.append(f"Engine VM {layout.DOMAIN_NAME}: {summary.get('vm', '')}, "
                         f"{summary.get('virtualization', '')}, NIC {spec.mac} on {spec.bridge.name} ({network}); "
                         "started here, holding the VM lease")
        elif step.action == "hosted_engine.wait_health":
            minutes = int(step.params.get("timeout", 0)) // 60
            lines.append(f"Wait up to {minutes} min for {step.params.get('url', '')}")
        elif step.action == "hosted_engine.enrol":
            lines.append(f"This host enrolled in the new engine (sanlock host id {DEPLOY_HOST_ID})")
        elif argv[:2] == ("systemctl", "enable"):
            lines.append(f"The HA agent {HA_AGENT_UNIT} runs on this host from now on")
    return lines
