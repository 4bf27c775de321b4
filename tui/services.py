"""Read-side data sources of the console beyond host facts (running VMs, time sync, logs, password).

Each method is safe to call from a background thread, bounded in time, and never raises: a
missing service becomes a short explanation on the page instead of an exception. Commands run
only through a nodecore Runner. Tests pass a fake with the same methods for stable screens.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from typing import Any

from nodecore.errors import HcinodeError
from nodecore.paths import log_dir
from nodecore.runner import LocalRunner, Runner

log = logging.getLogger("hcinode.tui")

ADMIN_USER = "root"
ADMIN_GROUPS = ("sudo", "wheel")  # members may unlock the console when root has no password


def _usable(stored: str | None) -> bool:
    """A crypt hash one can log in with: not empty, not locked (!) and not disabled (*)."""
    return bool(stored) and stored is not None and stored[0] not in "!*"


class Services:
    def __init__(self, runner: Runner | None = None, admin_user: str = ADMIN_USER,
                 shadow_path: str = "/etc/shadow", hcinode_log: str | None = None,
                 group_path: str = "/etc/group", read_system: bool = True, root: str = "/") -> None:
        self.runner = runner or LocalRunner(default_timeout=10)
        # False with captured facts (--facts): this machine's network and settings are not that node's
        self.read_system = read_system
        self.root = root
        self.admin_user = admin_user
        self.shadow_path = shadow_path
        self.group_path = group_path
        self.hcinode_log = hcinode_log or os.path.join(log_dir(), "hcinode.log")

    def running_vms(self) -> list[str] | None:
        """Names of running VMs from libvirt (read-only connection); None when libvirt is not running."""
        try:
            import libvirt
        except ImportError:
            return None
        try:
            libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # keep libvirt off the screen
            conn = libvirt.openReadOnly("qemu:///system")
        except Exception:  # noqa: BLE001 - libvirtd not running: the page says so
            return None
        try:
            return sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
        except Exception:  # noqa: BLE001
            return None
        finally:
            conn.close()

    def ntp_status(self) -> str:
        result = self._run(["chronyc", "-n", "tracking"])
        if result is None:
            return "chrony not running"
        fields = dict(line.split(":", 1) for line in result.splitlines() if ":" in line)
        leap = fields.get("Leap status ", fields.get("Leap status", "")).strip()
        source = fields.get("Reference ID    ", "").strip()
        if leap == "Normal":
            return f"synchronized ({source.split('(')[-1].rstrip(')') if '(' in source else source})"
        return f"not synchronized ({leap or 'unknown'})"

    def live_network(self) -> list[Any] | None:
        """Every device as NetworkManager has it now (node_setup.nm.LiveDevice: applied gateway,
        DNS and routes, and the active profile's settings); None when NetworkManager cannot be asked."""
        if not self.read_system:
            return None
        try:
            from node_setup.apply import live_network

            return list(live_network())
        except (HcinodeError, RuntimeError, OSError, ValueError) as exc:  # no libnm, NM not running
            log.info("NetworkManager not readable: %s", exc)
            return None

    def time_keyboard(self) -> Any:
        """The node's time zone, NTP servers and keyboard now (a NodeConfig with those three fields
        set, "" / () where the system sets none); None with captured facts."""
        if not self.read_system:
            return None
        from node_setup.identity import read_time_keyboard

        return read_time_keyboard(self.root)

    def cluster_status(self) -> str:
        """The Status page's Cluster line: the agent's last heartbeat (or why the node is not joined)."""
        if importlib.util.find_spec("agent") is None:
            return "not joined (no agent installed)"
        from agent.status import cluster_line

        view = self.cluster_view()
        return cluster_line(view["status"], view["join"])

    def storage_status(self) -> str:
        """Volume health from the agent's last Gluster reading; "local only" on a node not joined."""
        if importlib.util.find_spec("gluster_setup") is None:
            return "local only (no gluster_setup)"
        if importlib.util.find_spec("agent") is None:
            return "local only"
        from agent.status import read_status, storage_line

        status = read_status()
        return "local only" if status is None else storage_line(status)

    def hosted_engine_status(self) -> str | None:
        """The Status page's Hosted engine line from the HA agent's hosted-engine.json; None (no
        line) when this host runs no hosted-engine HA agent."""
        if importlib.util.find_spec("agent") is None:
            return None
        from agent.collect import ha
        from agent.status import hosted_engine_line

        data = ha()
        return None if data is None else hosted_engine_line(data)

    def hosted_engine_view(self) -> dict[str, Any] | None:
        """The Hosted Engine page's status: None when this host serves no deployment (no host.json);
        else {"host": HostConfig, "engine_fqdn", "agent": hosted-engine.json with `stale` (or None),
        "status": hosted_engine.status.Status read from the metadata file, "error": why it could not}."""
        if importlib.util.find_spec("hosted_engine") is None:
            return None
        from agent.collect import ha
        from agent.status import read_json
        from hosted_engine import status as he_status
        from hosted_engine.ha_agent import HostConfig, status_path
        from hosted_engine.layout import host_state_path
        from nodecore.errors import HcinodeError

        path = host_state_path()
        if read_json(path) is None:
            return None
        view: dict[str, Any] = {"host": None, "engine_fqdn": "", "agent": ha(), "status": None, "error": ""}
        try:
            host = HostConfig.load(path)
            view["host"] = host
            view["engine_fqdn"] = str((read_json(host.paths.deployment_json) or {}).get("engine_fqdn") or "")
            view["status"] = he_status.collect(host.paths.metadata, host.deployment, my_host_id=host.host_id,
                                               agent_file=status_path())
        except HcinodeError as exc:
            view["error"] = str(exc).splitlines()[0]
        return view

    def update_view(self) -> dict[str, Any]:
        """update.cli.status_data() (running, default, previous, staged, the last trial), or
        {"error": why} where this is no installed node image."""
        from update.cli import status_data
        from update.manifest import ManifestError

        try:
            return status_data()
        except (ManifestError, ValueError, OSError) as exc:
            return {"error": str(exc)}

    def cluster_view(self) -> dict[str, Any]:
        """{"engine": engine.json or None, "status": agent.json or None, "join": the first-boot join's
        last outcome or None}, read through the agent package."""
        if importlib.util.find_spec("agent") is None:
            return {"engine": None, "status": None, "join": None}
        from agent.state import ClusterFiles, EngineRecord, default_state_dir
        from agent.status import join_status_path, read_json, read_status

        try:
            engine: dict[str, Any] | None = EngineRecord.load(ClusterFiles(default_state_dir())).to_dict()
        except (OSError, ValueError, KeyError):
            engine = None
        return {"engine": engine, "status": read_status(), "join": read_json(join_status_path())}

    def log_units(self) -> list[str]:
        return ["", "hcinode-console", "NetworkManager", "libvirtd", "glusterd", "sshd", "chronyd"]

    def journal(self, unit: str = "", lines: int = 200) -> list[str]:
        """The last lines of the journal (optionally one unit); the hcinode log where there is no journal."""
        argv = ["journalctl", "--no-pager", "-q", "-o", "short-iso", "-n", str(lines)]
        if unit:
            argv += ["-u", unit]
        out = self._run(argv)
        if out is not None and out.strip():
            return out.splitlines()
        try:
            with open(self.hcinode_log, encoding="utf-8", errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return [f"no journal and no {self.hcinode_log} on this machine"]
        wanted = [line.rstrip("\n") for line in tail if not unit or unit in line]
        return [f"(no systemd journal here: showing {self.hcinode_log})"] + wanted

    def network_test(self, gateways: Sequence[str], hosts: Sequence[str],
                     name: str) -> list[tuple[str, str, bool, str]]:
        """(check, target, ok, detail) for: ping each gateway, ping each host, resolve the name."""
        from node_setup.nettest import test_network  # node_setup's import is the console's start's biggest

        return [(r.check, r.target, r.ok, r.detail) for r in test_network(self.runner, gateways, hosts, name)]

    def password_hash(self, user: str) -> str | None:
        try:
            with open(self.shadow_path, encoding="utf-8") as f:
                for line in f:
                    parts = line.split(":")
                    if parts[0] == user and len(parts) > 1:
                        return parts[1]
        except OSError:
            return None
        return None

    def admin_password_hash(self) -> str | None:
        return self.password_hash(self.admin_user)

    def unlock_user(self) -> str | None:
        """Whose password unlocks the console: root's when it has one; on a node whose root is locked
        (`rootpw --lock` + `sshkey`, a common kickstart) the first member of sudo/wheel with a
        password; None when nobody could unlock it (then the console refuses to lock)."""
        candidates = [self.admin_user]
        try:
            with open(self.group_path, encoding="utf-8") as f:
                for line in f:
                    parts = line.rstrip("\n").split(":")
                    if len(parts) == 4 and parts[0] in ADMIN_GROUPS:
                        candidates += [u for u in parts[3].split(",") if u]
        except OSError:
            pass
        return next((u for u in candidates if _usable(self.password_hash(u))), None)

    def has_password(self) -> bool:
        return self.unlock_user() is not None

    def verify_password(self, password: str) -> bool | None:
        """True/False for the unlock user's password; None when nobody has a usable password."""
        user = self.unlock_user()
        stored = self.password_hash(user) if user else None
        if not stored or not _usable(stored):
            return None
        from nodecore.passwords import verify_password

        return verify_password(password, stored)

    def _run(self, argv: Sequence[str]) -> str | None:
        try:
            result = self.runner.run(argv, check=False, timeout=5)
        except (HcinodeError, OSError, ValueError) as exc:  # missing tool, timeout
            log.debug("%s: %s", argv[0], exc)
            return None
        return result.stdout if result.ok else None


