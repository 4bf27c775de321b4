"""The file names of the shared layout the HA agent needs, copied from the deploy's contract
(hosted_engine/layout.py on the deploy branch) until both are merged: then this module goes and its
users import hosted_engine.layout instead (same names, same values)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nodecore import paths

TOP_DIR = "hosted-engine"
LOCKSPACE_FILE = "lockspace"
VM_LEASE_FILE = "vm.lease"
METADATA_FILE = "metadata"
VM_XML_FILE = "vm.xml"
DEPLOYMENT_FILE = "deployment.json"
HOST_STATE_DIR = "hosted-engine"
HOST_STATE_FILE = "host.json"


@dataclass(frozen=True)
class DeploymentPaths:
    mount: str
    uuid: str

    @property
    def directory(self) -> str:
        return os.path.join(self.mount, TOP_DIR, self.uuid)

    @property
    def lockspace(self) -> str:
        return os.path.join(self.directory, LOCKSPACE_FILE)

    @property
    def vm_lease(self) -> str:
        return os.path.join(self.directory, VM_LEASE_FILE)

    @property
    def metadata(self) -> str:
        return os.path.join(self.directory, METADATA_FILE)

    @property
    def vm_xml(self) -> str:
        return os.path.join(self.directory, VM_XML_FILE)

    @property
    def deployment_json(self) -> str:
        return os.path.join(self.directory, DEPLOYMENT_FILE)


def host_state_path() -> str:
    return os.path.join(paths.state_dir(), HOST_STATE_DIR, HOST_STATE_FILE)
