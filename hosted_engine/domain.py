"""The engine VM's libvirt domain XML: a pure function of the spec, the layout and the virtualization.

What the XML holds and why:
- the disk on the engine volume with cache='none' (O_DIRECT, which the volume's strict-o-direct
  passes to the bricks) and error_policy='stop' (an I/O error pauses the VM instead of handing the
  guest a corrupt write);
- `<lease>`: the sanlock resource `engine-vm` in lockspace `hosted-engine`, held for the qemu process
  by libvirt's sanlock lock manager, so a second host's start is refused while this one runs;
- the NIC on the management bridge, a serial console on a pty with a log file (one per host: the
  path is local), VNC on 127.0.0.1 only (reach it through an ssh tunnel);
- under TCG (test harnesses) `<cpu mode='maximum'>` without erms and fsrm, which QEMU's TCG
  advertises but does not emulate well enough for the guest's string instructions.

The shared vm.xml (what every hosted-engine host starts) never holds the NoCloud seed: the seed is
removed after enrol and a missing file would stop any start. Only the deploy's first boot adds it,
as a read-only virtio disk (a SATA CD-ROM was not found by the appliance's initramfs).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

from hosted_engine import layout
from hosted_engine.spec import HostedEngineSpec

METADATA_NS = "https://hcinode.dev/xmlns/hosted-engine/1"
DEFAULT_CONSOLE_LOG = "/var/log/libvirt/qemu/HostedEngine-console.log"
DomainType = Literal["kvm", "qemu"]
# the version of the VM definition, kept in deployment.json and in the XML's metadata: a host whose
# vm.xml is older than the deployment's knows its local copy is stale (score -1000)
VM_XML_VERSION = 1


@dataclass(frozen=True)
class DomainInputs:
    paths: layout.DeploymentPaths
    domain_type: DomainType
    console_log: str = DEFAULT_CONSOLE_LOG
    with_seed: bool = False
    version: int = VM_XML_VERSION


def vm_uuid(deployment_uuid: str) -> str:
    return str(uuid.uuid5(uuid.UUID(deployment_uuid), "engine-vm"))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def domain_xml(spec: HostedEngineSpec, inputs: DomainInputs) -> str:
    paths = inputs.paths
    root = ET.Element("domain", {"type": inputs.domain_type})
    _sub(root, "name", layout.DOMAIN_NAME)
    _sub(root, "uuid", vm_uuid(paths.uuid))
    _sub(root, "title", f"hosted engine {spec.engine.fqdn}")
    metadata = _sub(root, "metadata")
    ET.register_namespace("hcinode", METADATA_NS)
    ET.SubElement(metadata, f"{{{METADATA_NS}}}hosted-engine",
                  {"deployment": paths.uuid, "version": str(inputs.version), "fqdn": spec.engine.fqdn})
    _sub(root, "memory", str(spec.vm.memory_mib), unit="MiB")
    _sub(root, "currentMemory", str(spec.vm.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(spec.vm.vcpus), placement="static")
    os_ = _sub(root, "os")
    _sub(os_, "type", "hvm", arch="x86_64", machine="q35")
    _sub(os_, "boot", dev="hd")
    features = _sub(root, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if inputs.domain_type == "kvm":
        # host-model, not passthrough: the same XML starts on every HA host of the cluster
        _sub(root, "cpu", mode="host-model", check="partial")
    else:
        cpu = _sub(root, "cpu", mode="maximum", check="none")
        _sub(cpu, "feature", policy="disable", name="erms")
        _sub(cpu, "feature", policy="disable", name="fsrm")
    _sub(root, "clock", offset="utc")
    # a guest reboot keeps the qemu process and so the lease; a power-off or a crash ends it, and the
    # HA agent decides where the engine starts again (libvirt must not restart it behind the lease)
    _sub(root, "on_poweroff", "destroy")
    _sub(root, "on_reboot", "restart")
    _sub(root, "on_crash", "destroy")
    devices = _sub(root, "devices")
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2", cache="none", io="native", error_policy="stop",
         discard="unmap")
    _sub(disk, "source", file=paths.engine_disk)
    _sub(disk, "target", dev="vda", bus="virtio")
    _sub(disk, "serial", "hosted-engine")
    if inputs.with_seed:
        seed = _sub(devices, "disk", type="file", device="disk")
        _sub(seed, "driver", name="qemu", type="raw")
        _sub(seed, "source", file=paths.seed)
        _sub(seed, "target", dev="vdb", bus="virtio")
        _sub(seed, "readonly")
    lease = _sub(devices, "lease")
    _sub(lease, "lockspace", layout.LOCKSPACE_NAME)
    _sub(lease, "key", layout.VM_LEASE_NAME)
    _sub(lease, "target", path=paths.vm_lease, offset="0")
    nic = _sub(devices, "interface", type="bridge")
    _sub(nic, "mac", address=spec.mac)
    _sub(nic, "source", bridge=spec.bridge.name)
    _sub(nic, "model", type="virtio")
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=inputs.console_log, append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    channel = _sub(devices, "channel", type="unix")
    _sub(channel, "target", type="virtio", name="org.qemu.guest_agent.0")
    graphics = _sub(devices, "graphics", type="vnc", port="-1", autoport="yes", listen="127.0.0.1")
    _sub(graphics, "listen", type="address", address="127.0.0.1")
    video = _sub(devices, "video")
    _sub(video, "model", type="virtio")
    rng = _sub(devices, "rng", model="virtio")
    # cloud-init and the engine's first key generation want entropy at once
    _sub(rng, "backend", "/dev/urandom", model="random")
    _sub(devices, "memballoon", model="none")
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"
