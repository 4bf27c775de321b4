"""The shared layout of a hosted-engine deployment: one contract for the deploy and the HA agent.

Every hosted-engine host mounts the engine volume and finds each deployment in its own directory,
`<mount>/hosted-engine/<deployment-uuid>/`, so any of them can start the engine VM. Host-local state
(which deployment this host serves, its sanlock host id) stays under the state dir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from nodecore import paths

TOP_DIR = "hosted-engine"

ENGINE_DISK = "engine.qcow2"
LOCKSPACE_FILE = "lockspace"
VM_LEASE_FILE = "vm.lease"
METADATA_FILE = "metadata"
VM_XML_FILE = "vm.xml"
DEPLOYMENT_FILE = "deployment.json"
SEED_FILE = "seed.iso"

# sanlock names (the domain XML's <lease> and the HA agent use the same ones).
LOCKSPACE_NAME = "hosted-engine"
VM_LEASE_NAME = "engine-vm"

# metadata: 4096 bytes per slot; slot 0 is the global slot (global maintenance), slots 1..250 belong
# to the sanlock host ids the engine hands out at join.
METADATA_SLOT_SIZE = 4096
GLOBAL_SLOT = 0
MAX_HOST_ID = 250
METADATA_SLOTS = MAX_HOST_ID + 1
METADATA_SIZE = METADATA_SLOTS * METADATA_SLOT_SIZE

SECTOR_SIZES = (512, 4096)

# The version of the files' format in deployment.json; vm.xml carries its own version there too.
LAYOUT_VERSION = 1

# libvirt domain name of the engine VM on every host.
DOMAIN_NAME = "HostedEngine"

HOST_STATE_DIR = "hosted-engine"
HOST_STATE_FILE = "host.json"


def metadata_offset(host_id: int) -> int:
    """Byte offset of a host's slot (host_id 0 = the global slot)."""
    if not 0 <= host_id <= MAX_HOST_ID:
        raise ValueError(f"host id {host_id} is outside 0..{MAX_HOST_ID}")
    return host_id * METADATA_SLOT_SIZE


@dataclass(frozen=True)
class DeploymentPaths:
    """Every file of one deployment, under the mounted engine volume."""

    mount: str
    uuid: str

    @property
    def top(self) -> str:
        return os.path.join(self.mount, TOP_DIR)

    @property
    def directory(self) -> str:
        return os.path.join(self.mount, TOP_DIR, self.uuid)

    def _file(self, name: str) -> str:
        return os.path.join(self.directory, name)

    @property
    def engine_disk(self) -> str:
        return self._file(ENGINE_DISK)

    @property
    def lockspace(self) -> str:
        return self._file(LOCKSPACE_FILE)

    @property
    def vm_lease(self) -> str:
        return self._file(VM_LEASE_FILE)

    @property
    def metadata(self) -> str:
        return self._file(METADATA_FILE)

    @property
    def vm_xml(self) -> str:
        return self._file(VM_XML_FILE)

    @property
    def deployment_json(self) -> str:
        return self._file(DEPLOYMENT_FILE)

    @property
    def seed(self) -> str:
        return self._file(SEED_FILE)


def host_state_dir() -> str:
    return os.path.join(paths.state_dir(), HOST_STATE_DIR)


def host_state_path() -> str:
    """This host's hosted-engine state: host id, deployment uuid, mount."""
    return os.path.join(host_state_dir(), HOST_STATE_FILE)
