"""Shared fixtures of the add-host / remove-host / maintenance tests: a deployment directory on a
fake engine volume (a tmp dir), a joined node's engine.json, and a runner that records commands
but writes and removes real files (the verify steps read them back)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hosted_engine import metadata as md
from nodecore.runner import RecordingRunner

DEPLOYMENT = "11111111-2222-4333-8444-555555555555"
OTHER = "99999999-2222-4333-8444-555555555555"
XML = "<domain type='qemu'><name>HostedEngine</name></domain>"
NOW = 1700000100.0


def buffered(path: str) -> md.MetadataFile:
    return md.MetadataFile(path, allow_buffered=True)  # tmpfs: the test-only fallback


def make_deployment(mount: Path, uuid: str = DEPLOYMENT) -> Path:
    d = mount / "hosted-engine" / uuid
    d.mkdir(parents=True)
    (d / "vm.xml").write_text(XML)
    (d / "deployment.json").write_text(json.dumps({"engine_fqdn": "engine.example.test", "io_timeout": 5,
                                                   "engine_url": "https://engine.example.test"}))
    buffered(str(d / "metadata")).create()
    return d


def join_node(state: Path, sanlock_host_id: int = 2) -> None:
    cluster = state / "cluster"
    cluster.mkdir(parents=True, exist_ok=True)
    (cluster / "engine.json").write_text(json.dumps({"urls": ["https://engine.example.test"], "ca_pin": "sha256:x",
                                                     "host_id": "h2", "name": "node2",
                                                     "sanlock_host_id": sanlock_host_id}))


def write_host_json(state: Path, mount: Path, host_id: int = 2, **extra: Any) -> Path:
    path = state / "hosted-engine" / "host.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host_id": host_id, "deployment": DEPLOYMENT, "mount": str(mount), **extra}))
    return path


def slot(host_id: int, hostname: str, *, ts: float = NOW, seq: int = 1, vm: str = "down", score: int = 3400,
         **kw: Any) -> md.HostSlot:
    return md.HostSlot(host_id, hostname, DEPLOYMENT, ts, seq, score, "EngineUp" if vm == "up" else "EngineDown",
                       vm, "good" if vm == "up" else "unknown", "running" if vm == "up" else "none", **kw)


@dataclass
class FilesRunner(RecordingRunner):
    """Records commands (answers from `responses`); writes files for real and runs `rm -f` for real."""

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        super().write_file(path, data, mode)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.chmod(path, mode)

    def run(self, argv: Any, **kw: Any) -> Any:
        result = super().run(argv, **kw)
        if tuple(argv[:2]) == ("rm", "-f") and result.ok:
            for path in argv[2:]:
                if os.path.exists(path):
                    os.remove(path)
        return result
