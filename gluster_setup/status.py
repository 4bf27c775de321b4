"""`hcinode gluster status`: peers, volumes, bricks (online, free space), pending heals.

Read from one reachable host with Gluster's own `--xml` output (stable across versions, unlike
the human tables). The parsers are pure functions, tested on XML captured from a real cluster.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from nodecore.config import human_size
from nodecore.runner import Runner


@dataclass
class Peer:
    hostname: str
    connected: bool
    state: str


@dataclass
class Brick:
    name: str  # host:/path
    online: bool = False
    size_total: int = 0
    size_free: int = 0
    heal_pending: int | None = None
    split_brain: int | None = None
    arbiter: bool = False


@dataclass
class Volume:
    name: str
    status: str
    type: str
    replica: int
    arbiter: int
    distribute: int
    bricks: list[Brick] = field(default_factory=list)

    @property
    def heal_pending(self) -> int:
        return sum(b.heal_pending or 0 for b in self.bricks)


@dataclass
class ClusterStatus:
    queried: str  # the host that answered
    peers: list[Peer] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["healthy"] = self.healthy
        for vol, raw in zip(self.volumes, data["volumes"], strict=True):
            raw["heal_pending"] = vol.heal_pending
        return data


def _root(xml_text: str) -> ET.Element:
    return ET.fromstring(xml_text.strip() or "<cliOutput/>")


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text or default)
    except ValueError:
        return default


def parse_pool(xml_text: str) -> list[Peer]:
    return [Peer(p.findtext("hostname", ""), p.findtext("connected") == "1", p.findtext("stateStr", ""))
            for p in _root(xml_text).iter("peer")]


def parse_volume_info(xml_text: str) -> list[Volume]:
    volumes = []
    for v in _root(xml_text).iter("volume"):
        if v.find("bricks") is None:
            continue
        bricks = [Brick(b.findtext("name", "") or (b.text or "").strip(), arbiter=b.findtext("isArbiter") == "1")
                  for b in v.iter("brick")]
        volumes.append(Volume(v.findtext("name", ""), v.findtext("statusStr", ""), v.findtext("typeStr", ""),
                              _int(v.findtext("replicaCount")), _int(v.findtext("arbiterCount")),
                              _int(v.findtext("distCount")), bricks))
    return volumes


def parse_status_detail(xml_text: str) -> dict[str, dict[str, Any]]:
    """brick name -> {online, size_total, size_free} (only bricks whose glusterd answered)."""
    out: dict[str, dict[str, Any]] = {}
    for node in _root(xml_text).iter("node"):
        path = node.findtext("path", "")
        if not path.startswith("/"):
            continue  # self-heal daemon and other services
        name = f"{node.findtext('hostname', '')}:{path}"
        out[name] = {"online": node.findtext("status") == "1", "size_total": _int(node.findtext("sizeTotal")),
                     "size_free": _int(node.findtext("sizeFree"))}
    return out


def parse_heal_summary(xml_text: str) -> dict[str, tuple[int | None, int | None]]:
    """brick name -> (entries pending heal, entries in split brain); None where the brick is down."""
    out: dict[str, tuple[int | None, int | None]] = {}
    for b in _root(xml_text).iter("brick"):
        pending = b.findtext("numberOfEntriesInHealPending") or b.findtext("totalNumberOfEntries")
        split = b.findtext("numberOfEntriesInSplitBrain")
        out[b.findtext("name", "")] = (_int(pending) if pending not in (None, "-") else None,
                                       _int(split) if split not in (None, "-") else None)
    return out


def collect(runners: Mapping[str, Runner], order: Sequence[str]) -> ClusterStatus:
    """Ask the first host (in `order`) whose glusterd answers."""
    for name in order:
        runner = runners[name]
        pool = runner.run(["gluster", "pool", "list", "--xml"], check=False, timeout=30)
        if pool.ok:
            break
    else:
        return ClusterStatus("", problems=["no host's glusterd answered"])
    status = ClusterStatus(name, parse_pool(pool.stdout))
    info = runner.run(["gluster", "volume", "info", "--xml"], check=False, timeout=30)
    status.volumes = parse_volume_info(info.stdout) if info.ok else []
    detail_out = runner.run(["gluster", "volume", "status", "all", "detail", "--xml"], check=False, timeout=60)
    detail = parse_status_detail(detail_out.stdout) if detail_out.ok else {}
    for vol in status.volumes:
        heal: dict[str, tuple[int | None, int | None]] = {}
        if vol.status == "Started" and vol.replica > 1:
            out = runner.run(["gluster", "volume", "heal", vol.name, "info", "summary", "--xml"], check=False,
                             timeout=60)
            heal = parse_heal_summary(out.stdout) if out.stdout.strip().startswith("<") else {}
        for brick in vol.bricks:
            brick.online = bool(detail.get(brick.name, {}).get("online"))
            brick.size_total = int(detail.get(brick.name, {}).get("size_total", 0))
            brick.size_free = int(detail.get(brick.name, {}).get("size_free", 0))
            brick.heal_pending, brick.split_brain = heal.get(brick.name, (None, None))
    status.problems = problems(status)
    return status


def problems(status: ClusterStatus) -> list[str]:
    out = [f"peer {p.hostname} is disconnected" for p in status.peers if not p.connected]
    for vol in status.volumes:
        if vol.status != "Started":
            out.append(f"volume {vol.name} is {vol.status}")
            continue
        out += [f"brick {b.name} of {vol.name} is offline" for b in vol.bricks if not b.online]
        if vol.heal_pending:
            out.append(f"volume {vol.name}: {vol.heal_pending} entries pending heal")
        out += [f"brick {b.name} of {vol.name}: {b.split_brain} entries in split brain"
                for b in vol.bricks if b.split_brain]
    return out


def render(status: ClusterStatus) -> str:
    lines = [f"queried: {status.queried or '-'}", "peers:"]
    lines += [f"  {p.hostname:24s} {'connected' if p.connected else 'DISCONNECTED':12s} {p.state}"
              for p in status.peers]
    for vol in status.volumes:
        layout = f"{vol.distribute} x {vol.replica}" + (f" (arbiter {vol.arbiter})" if vol.arbiter else "")
        lines.append(f"volume {vol.name}: {vol.status}, {vol.type} {layout}, heal pending {vol.heal_pending}")
        for b in vol.bricks:
            heal = "-" if b.heal_pending is None else str(b.heal_pending)
            free = f"{human_size(b.size_free)} free of {human_size(b.size_total)}" if b.size_total else "-"
            lines.append(f"  {b.name:48s} {'online' if b.online else 'OFFLINE':8s} heal {heal:>4s}  {free}")
    lines.append("healthy" if status.healthy else "problems:\n" + "\n".join("  " + p for p in status.problems))
    return "\n".join(lines)
