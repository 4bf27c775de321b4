"""Where a joined node keeps its cluster identity (`<state dir>/cluster/`) and what engine.json holds."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from nodecore.paths import state_dir

CLUSTER_DIR = "cluster"
AGENT_UNIT = "hcinode-agent.service"


def default_state_dir() -> str:
    """/var/lib/hcinode (root) or $HCINODE_STATE_DIR: the same state dir as every hcinode verb."""
    return state_dir()


@dataclass(frozen=True)
class ClusterFiles:
    state_dir: str

    @property
    def dir(self) -> str:
        return os.path.join(self.state_dir, CLUSTER_DIR)

    @property
    def key(self) -> str:
        return os.path.join(self.dir, "node.key")

    @property
    def cert(self) -> str:
        return os.path.join(self.dir, "node.crt")

    @property
    def ca(self) -> str:
        return os.path.join(self.dir, "ca.crt")

    @property
    def engine(self) -> str:
        return os.path.join(self.dir, "engine.json")

    def all(self) -> tuple[str, ...]:
        return (self.key, self.cert, self.ca, self.engine)

    def joined(self) -> bool:
        return os.path.exists(self.engine)


@dataclass(frozen=True)
class EngineRecord:
    """engine.json: which engine this node joined and who it is there (no secrets)."""

    urls: tuple[str, ...]
    ca_pin: str
    host_id: str
    name: str
    sanlock_host_id: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["urls"] = list(self.urls)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineRecord:
        return cls(tuple(data["urls"]), str(data["ca_pin"]), str(data["host_id"]), str(data["name"]),
                   int(data["sanlock_host_id"]))

    @classmethod
    def load(cls, files: ClusterFiles) -> EngineRecord:
        with open(files.engine, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
