"""What a heartbeat reports: host facts, libvirt domains, Gluster state (docs/cluster.md).

Each collector is bounded and never raises: a missing libvirtd or glusterd becomes an empty list
and a note, so the heartbeat still goes out.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from agent.status import ha_path, read_json
from nodecore import __version__
from nodecore.errors import HcinodeError
from nodecore.facts import HostFacts
from nodecore.runner import LocalRunner, Runner

log = logging.getLogger("hcinode.agent")

LIBVIRT_URI = "qemu:///system"
# virDomainState numbers (libvirt.VIR_DOMAIN_*), as the engine shows them
DOMAIN_STATES = {0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown", 5: "shutoff",
                 6: "crashed", 7: "pmsuspended"}


def facts_summary(facts: HostFacts) -> dict[str, Any]:
    """The host facts an engine shows (not the disks' partition trees)."""
    return {
        "hostname": facts.hostname, "agent_version": __version__, "memory_bytes": facts.memory_bytes,
        "cpu": {"model": facts.cpu.model, "sockets": facts.cpu.sockets, "cores": facts.cpu.cores,
                "threads": facts.cpu.threads, "virt_flag": facts.cpu.virt_flag,
                "kvm_device": facts.cpu.kvm_device},
        "firmware": facts.firmware,
        "disks": [{"name": d.name, "size": d.size, "model": d.model, "serial": d.serial} for d in facts.disks],
        "nics": [{"name": n.name, "mac": n.mac, "link": n.link, "speed_mbps": n.speed_mbps,
                  "addresses": list(n.addresses)} for n in facts.nics if not n.virtual],
    }


def _devices(xml_text: str, kind: str) -> list[str]:
    """Target device names of a domain's disks ("disk") or interfaces ("interface")."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return []
    return [t.get("dev", "") for t in root.findall(f"./devices/{kind}/target") if t.get("dev")]


def domain_record(dom: Any) -> dict[str, Any]:
    """One libvirt domain as the heartbeat's `vms` item."""
    state, _max_kib, memory_kib, vcpus, cpu_time = dom.info()
    record: dict[str, Any] = {"name": dom.name(), "uuid": dom.UUIDString(),
                              "state": DOMAIN_STATES.get(state, str(state)), "vcpus": int(vcpus),
                              "memory_kib": int(memory_kib), "cpu_time_ns": int(cpu_time), "disks": [], "nics": []}
    if state not in (1, 2, 3):  # counters exist only for a running (or paused) domain
        return record
    xml_text = dom.XMLDesc(0)
    for dev in _devices(xml_text, "disk"):
        try:
            _rd_req, rd_bytes, _wr_req, wr_bytes, _errs = dom.blockStats(dev)
        except Exception:  # noqa: BLE001 - a CD-ROM without media has no stats
            continue
        record["disks"].append({"name": dev, "rd_bytes": int(rd_bytes), "wr_bytes": int(wr_bytes)})
    for dev in _devices(xml_text, "interface"):
        try:
            stats = dom.interfaceStats(dev)
        except Exception:  # noqa: BLE001
            continue
        record["nics"].append({"name": dev, "rx_bytes": int(stats[0]), "tx_bytes": int(stats[4])})
    return record


def vms(libvirt_module: Any = None, uri: str = LIBVIRT_URI) -> tuple[list[dict[str, Any]], str]:
    """(domains, note): every domain through libvirt-python's read-only connection."""
    if libvirt_module is None:
        try:
            import libvirt
        except ImportError:
            return [], "libvirt-python is not installed"
        libvirt_module = libvirt
    try:
        libvirt_module.registerErrorHandler(lambda _ctx, _err: None, None)  # not on stderr every 10 s
        conn = libvirt_module.openReadOnly(uri)
    except Exception as exc:  # noqa: BLE001 - libvirtd not running
        return [], f"libvirt unreachable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    try:
        out = []
        for dom in conn.listAllDomains(0):
            try:
                out.append(domain_record(dom))
            except Exception as exc:  # noqa: BLE001 - a domain that vanished while we read it
                log.debug("domain skipped: %s", exc)
        return sorted(out, key=lambda r: r["name"]), ""
    except Exception as exc:  # noqa: BLE001
        return [], f"libvirt: {exc}"
    finally:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def _split_brick(name: str) -> tuple[str, str]:
    host, _, path = name.partition(":")
    return host, path


def gluster_report(status: Any) -> dict[str, Any]:
    """gluster_setup's ClusterStatus in the heartbeat's shape."""
    return {
        "peers": [{"host": p.hostname, "connected": p.connected} for p in status.peers],
        "volumes": [{"name": v.name, "status": v.status, "heal_pending": v.heal_pending,
                     "bricks": [dict(zip(("host", "path"), _split_brick(b.name), strict=True), online=b.online)
                                for b in v.bricks]}
                    for v in status.volumes],
    }


def probe_runner() -> LocalRunner:
    """The runner of every heartbeat's read-only commands (gluster, lsblk, ip, pvs): quiet, because
    the agent runs them every interval for as long as the node is up."""
    return LocalRunner(default_timeout=30, quiet=True)


def gluster(runner: Runner | None = None, which: Any = shutil.which) -> tuple[dict[str, Any], str]:
    """(gluster section, note) from this node's glusterd, through gluster_setup's status reader."""
    empty: dict[str, Any] = {"peers": [], "volumes": []}
    if which("gluster") is None:
        return empty, "gluster is not installed"
    from gluster_setup.status import collect

    try:
        status = collect({"local": runner or probe_runner()}, ["local"])
    except (HcinodeError, OSError) as exc:
        return empty, f"gluster: {exc}"
    if not status.queried:
        return empty, "glusterd is not running"
    return gluster_report(status), ""


def storage_summary(section: Mapping[str, Any]) -> dict[str, Any]:
    """agent.json's `storage`: volume health only."""
    return {"volumes": [{"name": v["name"], "status": v["status"], "heal_pending": v["heal_pending"]}
                        for v in section.get("volumes", [])]}



HA_STALE_AFTER = 60.0  # six missed HA agent ticks: the HA agent is not running


def ha(path: str | None = None) -> dict[str, Any] | None:
    """The hosted-engine HA state for the heartbeat: the HA agent's hosted-engine.json, with
    `stale` when it stopped writing it; None on a host that runs no HA agent."""
    path = path or ha_path()
    data = read_json(path)
    if data is None:
        return None
    try:
        data["stale"] = time.time() - os.stat(path).st_mtime > HA_STALE_AFTER
    except OSError:
        data["stale"] = True
    return data
