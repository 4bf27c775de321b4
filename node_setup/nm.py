"""The live backend: NetworkManager through libnm, with checkpoint rollback.

An apply creates a checkpoint with a rollback timeout (NetworkManager itself rolls back when the
timer runs out, even if this process is gone), changes profiles in NetworkManager's memory only,
activates them and checks connectivity. `confirm` destroys the checkpoint and only then writes
the profiles to disk; `rollback` (or the timer, or a failed check) restores the previous state.
The keyfiles on disk therefore always hold the last confirmed config.

What is pending survives the process in `<state_dir>/network/pending.json`, so `hcinode network
confirm` in another shell, or the console's countdown, can finish what `apply` started.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from node_setup.keyfile import MANAGED_KEY
from node_setup.model import Dns, IPv4, IPv6, Route
from node_setup.nmkeyfile import nm_module, parse_keyfile, write_keyfile
from node_setup.plan import NetworkState, Profile
from nodecore.errors import HcinodeError
from nodecore.executor import Action
from nodecore.paths import state_dir
from nodecore.runner import Runner

log = logging.getLogger("hcinode.node_setup.nm")

CALL_TIMEOUT = 30.0


class NetworkError(HcinodeError, RuntimeError):
    """NetworkManager refused or failed a request (the message says which and why)."""


class CheckFailed(RuntimeError):
    """The connectivity check after activation failed (the executor reports it as the failing step)."""


def pending_path() -> str:
    return os.path.join(state_dir(), "network", "pending.json")


def last_good_path() -> str:
    """The last confirmed network config (YAML), kept for `network show` and as the plan's `current`."""
    return os.path.join(state_dir(), "network", "confirmed.yaml")


@dataclass(frozen=True)
class PendingStatus:
    """Whether an applied change waits for confirmation, and for how long it still may.

    state: "none" (nothing pending), "pending" (confirm within seconds_remaining), or "expired"
    (NetworkManager already rolled back because nobody confirmed in time).
    """

    state: str
    checkpoint: str = ""
    rollback_timeout: int = 0
    seconds_remaining: float = 0.0

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"seconds_remaining": round(self.seconds_remaining, 1)}


def _boottime_ms() -> int:
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * 1000)


class NMBackend:
    """One libnm client; every call is synchronous from the caller's view (bounded by a timeout)."""

    def __init__(self, client: Any = None) -> None:
        self.NM = nm_module()
        from gi.repository import GLib

        self.GLib = GLib
        try:
            self.client = client or self.NM.Client.new(None)
        except GLib.Error as exc:
            raise NetworkError(f"cannot talk to NetworkManager over D-Bus: {exc.message}") from None
        if not self.client.get_nm_running():
            raise NetworkError("NetworkManager is not running")
        self.context = GLib.MainContext.default()

    # --- plumbing -------------------------------------------------------------------------------
    def _iterate(self, seconds: float = 0.05) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not self.context.iteration(False):
                time.sleep(0.01)

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise NetworkError(f"timed out after {timeout:.0f} s waiting for {what}")
            self._iterate()

    def _call(self, what: str, start: Callable[..., None], finish: Callable[[Any], Any], *args: Any,
              timeout: float = CALL_TIMEOUT) -> Any:
        box: dict[str, Any] = {}

        def callback(_source: Any, result: Any, _data: Any) -> None:
            try:
                box["value"] = finish(result)
            except self.GLib.Error as exc:
                box["error"] = exc

        start(*args, None, callback, None)
        self._wait(lambda: bool(box), timeout, what)
        if "error" in box:
            raise NetworkError(f"{what}: {box['error'].message}")
        return box.get("value")

    def _connection(self, uuid: str) -> Any:
        self._iterate(0.02)
        return self.client.get_connection_by_uuid(uuid)

    # --- state ----------------------------------------------------------------------------------
    def read_state(self) -> NetworkState:
        """Every profile NetworkManager knows, as the plan compares them."""
        self._iterate(0.05)
        active: dict[str, str] = {}  # uuid -> MAC of the device it is active on
        for ac in self.client.get_active_connections():
            if ac.get_state() in (self.NM.ActiveConnectionState.ACTIVATED,
                                  self.NM.ActiveConnectionState.ACTIVATING):
                devices = ac.get_devices()
                active[ac.get_uuid()] = (devices[0].get_hw_address() or "") if devices else ""
        profiles = []
        for conn in self.client.get_connections():
            if conn.get_connection_type() == "loopback":
                continue
            user = conn.get_setting(self.NM.SettingUser)
            wired = conn.get_setting_wired()
            # a profile bound by name (e.g. NetworkManager's "Wired connection 1") is matched to the
            # model's MAC-matched NICs through the device it is active on
            mac = ((wired.get_mac_address() if wired else "") or "") or active.get(conn.get_uuid(), "")
            if conn.get_connection_type() != "802-3-ethernet":
                mac = ""
            clone = self.NM.SimpleConnection.new_clone(conn)
            clone.get_setting_connection().set_property("timestamp", 0)  # last-used time is not a setting
            profiles.append(Profile(conn.get_uuid(), conn.get_id(), _short_type(conn.get_connection_type()),
                                    conn.get_interface_name() or "", mac.upper(),
                                    bool(user and user.get_data(MANAGED_KEY) == "1"),
                                    write_keyfile(clone), conn.get_uuid() in active))
        return NetworkState(tuple(profiles))

    def devices(self) -> list[dict[str, Any]]:
        """Devices for `network show` (the console reads `live_devices()` itself)."""
        return [d.to_dict() for d in self.live_devices()]

    def live_devices(self) -> list[LiveDevice]:
        """Every device as NetworkManager has it now: applied addresses, gateways, DNS and routes,
        and what its active profile configures (what a config made from this node must keep)."""
        self._iterate(0.05)
        return [live_device(dev, self.NM) for dev in self.client.get_devices()
                if dev.get_device_type() != self.NM.DeviceType.LOOPBACK]

    # --- checkpoint -----------------------------------------------------------------------------
    def _checkpoints(self) -> dict[str, Any]:
        self._iterate(0.02)
        return {cp.get_path(): cp for cp in self.client.get_checkpoints()}

    def create_checkpoint(self, rollback_timeout: int) -> str:
        if self.status().pending:
            raise NetworkError("a network change is still waiting for confirmation: run `hcinode network "
                               "confirm` or `hcinode network rollback` first")
        flags = (self.NM.CheckpointCreateFlags.DELETE_NEW_CONNECTIONS
                 | self.NM.CheckpointCreateFlags.DISCONNECT_NEW_DEVICES)
        cp = self._call("create a checkpoint", self.client.checkpoint_create, self.client.checkpoint_create_finish,
                        [], rollback_timeout, flags)
        path: str = cp.get_path()
        _write_pending({"checkpoint": path, "rollback_timeout": rollback_timeout, "created": _boottime_ms(),
                        "persist": [], "delete": []})
        log.info("checkpoint %s created, rollback in %d s", path, rollback_timeout)
        return path

    def status(self) -> PendingStatus:
        pending = _read_pending()
        if not pending:
            return PendingStatus("none")
        checkpoint = self._checkpoints().get(pending["checkpoint"])
        if checkpoint is None:
            return PendingStatus("expired", pending["checkpoint"], pending["rollback_timeout"])
        timeout = checkpoint.get_rollback_timeout()
        remaining = checkpoint.get_created() / 1000 + timeout - _boottime_ms() / 1000
        return PendingStatus("pending", pending["checkpoint"], timeout, max(0.0, remaining))

    def extend(self, seconds: int) -> None:
        """Restart the rollback timer with `seconds` (the console's "more time" key)."""
        pending = _read_pending()
        if not pending:
            raise NetworkError("nothing is pending")
        self._call("adjust the rollback timeout", self.client.checkpoint_adjust_rollback_timeout,
                   self.client.checkpoint_adjust_rollback_timeout_finish, pending["checkpoint"], seconds)

    def confirm(self, confirmed_yaml: str = "") -> list[str]:
        """Keep the change: destroy the checkpoint, then write the profiles to disk. Returns profile ids saved."""
        status = self.status()
        pending = _read_pending()
        if status.state == "none" or not pending:
            raise NetworkError("nothing to confirm: no network change is pending")
        if status.state == "expired":
            _remove_pending()
            raise NetworkError("too late: the rollback timeout passed and NetworkManager restored the previous "
                               "settings; apply again and confirm within the timeout")
        if "desired_yaml" not in pending:
            raise NetworkError("the last apply did not finish (it stopped before its connectivity check), so it "
                               "cannot be kept: run `hcinode network rollback` or wait for the automatic rollback")
        self._call("destroy the checkpoint", self.client.checkpoint_destroy, self.client.checkpoint_destroy_finish,
                   pending["checkpoint"])
        saved = []
        for uuid in pending["persist"]:
            conn = self._connection(uuid)
            if conn is None:
                continue
            self._call(f"save {conn.get_id()}", conn.update2, conn.update2_finish,
                       conn.to_dbus(self.NM.ConnectionSerializationFlags.ALL),
                       self.NM.SettingsUpdate2Flags.TO_DISK, None)
            saved.append(conn.get_id())
        for uuid in pending["delete"]:
            conn = self._connection(uuid)
            if conn is not None:
                self._call(f"delete {conn.get_id()}", conn.delete_async, conn.delete_finish)
        if pending.get("desired_yaml") or confirmed_yaml:
            _atomic_write(last_good_path(), confirmed_yaml or pending["desired_yaml"])
        _remove_pending()
        log.info("network change confirmed; saved %s", ", ".join(saved) or "nothing")
        return saved

    def rollback(self) -> None:
        """Undo the pending change now (the same as letting the timer run out)."""
        pending = _read_pending()
        if not pending:
            raise NetworkError("nothing to roll back: no network change is pending")
        if pending["checkpoint"] in self._checkpoints():
            self._call("roll back the checkpoint", self.client.checkpoint_rollback,
                       self.client.checkpoint_rollback_finish, pending["checkpoint"])
        _remove_pending()
        log.info("network change rolled back")

    def wait_rolled_back(self, timeout: float) -> bool:
        """Wait until NetworkManager's rollback timer fired (tests, and `apply --wait`)."""
        pending = _read_pending()
        if not pending:
            return True
        try:
            self._wait(lambda: pending["checkpoint"] not in self._checkpoints(), timeout, "the rollback")
        except NetworkError:
            return False
        return True

    # --- profiles -------------------------------------------------------------------------------
    def put(self, uuid: str, keyfile: str) -> None:
        """Add or update a profile in memory only (the file on disk stays the last confirmed one)."""
        settings = parse_keyfile(keyfile).to_dbus(self.NM.ConnectionSerializationFlags.ALL)
        conn = self._connection(uuid)
        if conn is None:
            self._call(f"add profile {uuid}", self.client.add_connection2, self.client.add_connection2_finish,
                       settings, self.NM.SettingsAddConnection2Flags.IN_MEMORY, None, True)
        else:
            self._call(f"update profile {conn.get_id()}", conn.update2, conn.update2_finish, settings,
                       self.NM.SettingsUpdate2Flags.IN_MEMORY, None)

    def remove(self, uuid: str) -> None:
        """Take a profile out of use: deactivate it and stop it autoconnecting, in memory only.

        It is deleted (file included) on confirm; until then a rollback brings it back unchanged.
        """
        conn = self._connection(uuid)
        if conn is None:
            return
        for ac in self.client.get_active_connections():
            if ac.get_uuid() == uuid:
                self._call(f"deactivate {conn.get_id()}", self.client.deactivate_connection_async,
                           self.client.deactivate_connection_finish, ac)
        clone = self.NM.SimpleConnection.new_clone(conn)
        clone.get_setting_connection().set_property("autoconnect", False)
        self._call(f"disable {conn.get_id()}", conn.update2, conn.update2_finish,
                   clone.to_dbus(self.NM.ConnectionSerializationFlags.ALL),
                   self.NM.SettingsUpdate2Flags.IN_MEMORY, None)

    def _active(self, uuid: str) -> Any:
        for ac in self.client.get_active_connections():
            if ac.get_uuid() == uuid:
                return ac
        return None

    def activate(self, uuid: str, port: bool = False, timeout: float = CALL_TIMEOUT) -> None:
        """Activate a profile and wait until it is up. A port already brought up by its controller is left alone."""
        states = self.NM.ActiveConnectionState
        self._iterate(0.1)
        ac = self._active(uuid) if port else None
        if ac is None or ac.get_state() not in (states.ACTIVATING, states.ACTIVATED):
            conn = self._connection(uuid)
            if conn is None:
                raise NetworkError(f"profile {uuid} does not exist")
            self._call(f"activate {conn.get_id()}", self.client.activate_connection_async,
                       self.client.activate_connection_finish, conn, None, None)

        def up() -> bool:
            current = self._active(uuid)
            if current is not None and current.get_state() == states.ACTIVATED:
                return True
            if current is None or current.get_state() in (states.DEACTIVATED, states.DEACTIVATING):
                raise NetworkError(f"profile {uuid} failed to activate")
            return False

        self._wait(up, timeout, f"profile {uuid} to activate")

    def record_pending(self, persist: list[str], delete: list[str], desired_yaml: str) -> None:
        pending = _read_pending() or {}
        pending.update(persist=persist, delete=delete, desired_yaml=desired_yaml)
        _write_pending(pending)


@dataclass(frozen=True)
class LiveDevice:
    """One device as NetworkManager has it now (applied values), plus its active profile's own
    settings (`profile_ipv4`/`profile_ipv6`/`profile_dns`; None when no profile is active)."""

    name: str
    type: str = ""
    mac: str = ""
    state: str = ""
    connection: str = ""
    mtu: int = 0
    ipv4: tuple[str, ...] = ()
    ipv4_gateway: str = ""
    ipv6: tuple[str, ...] = ()
    ipv6_gateway: str = ""
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    # applied routes other than the default route (the gateway) and the on-link routes of the
    # device's own prefixes, which NetworkManager adds by itself
    routes: tuple[Route, ...] = ()
    profile_ipv4: IPv4 | None = None
    profile_ipv6: IPv6 | None = None
    profile_dns: Dns | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "mac": self.mac, "state": self.state,
                "connection": self.connection, "mtu": self.mtu, "ipv4": list(self.ipv4),
                "ipv4_gateway": self.ipv4_gateway, "ipv6": list(self.ipv6), "ipv6_gateway": self.ipv6_gateway,
                "dns": list(self.dns), "dns_search": list(self.dns_search),
                "routes": [route_text(r) for r in self.routes]}


def route_text(route: Route) -> str:
    return route.to + (f" via {route.via}" if route.via else "") + (f" metric {route.metric}" if route.metric else "")


# NetworkManager's ipvX.method -> the model's method ("": not something the model can say)
_METHOD4 = {"auto": "dhcp", "manual": "static", "disabled": "disabled"}
_METHOD6 = {"auto": "auto", "dhcp": "dhcp", "manual": "static", "disabled": "disabled", "ignore": "disabled"}


def live_device(dev: Any, NM: Any) -> LiveDevice:
    """A libnm NM.Device (and its active connection) -> LiveDevice."""
    ip4, ip6 = dev.get_ip4_config(), dev.get_ip6_config()
    addrs4 = tuple(f"{a.get_address()}/{a.get_prefix()}" for a in (ip4.get_addresses() if ip4 else []))
    addrs6 = tuple(f"{a.get_address()}/{a.get_prefix()}" for a in (ip6.get_addresses() if ip6 else []))
    own = {ipaddress.ip_interface(a).network for a in addrs4 + addrs6}
    routes = []
    for cfg in (ip4, ip6):
        for r in (cfg.get_routes() if cfg else []):
            to = f"{r.get_dest()}/{r.get_prefix()}"
            net = ipaddress.ip_network(to, strict=False)
            if r.get_prefix() == 0 or net in own or net.is_link_local or net.is_multicast:
                continue
            routes.append(Route(to, r.get_next_hop() or "", max(int(r.get_metric()), 0)))
    ac = dev.get_active_connection()
    conn = ac.get_connection() if ac else None
    p4 = p6 = pdns = None
    if conn is not None:
        s4, s6 = conn.get_setting_ip4_config(), conn.get_setting_ip6_config()
        p4 = _profile_family(s4, IPv4, _METHOD4) if s4 else None
        p6 = _profile_family(s6, IPv6, _METHOD6) if s6 else None
        pdns = Dns(servers=tuple(s.get_dns(i) for s in (s4, s6) if s for i in range(s.get_num_dns())),
                   search=tuple(s.get_dns_search(i) for s in (s4, s6) if s for i in range(s.get_num_dns_searches())))
    nameservers = [str(n) for cfg in (ip4, ip6) if cfg for n in cfg.get_nameservers()]
    searches = [str(n) for cfg in (ip4, ip6) if cfg for n in cfg.get_searches()]
    return LiveDevice(
        name=dev.get_iface(), type=dev.get_type_description() or "", mac=dev.get_hw_address() or "",
        state=_enum_name(dev.get_state()), connection=ac.get_id() if ac else "", mtu=int(dev.get_mtu() or 0),
        ipv4=addrs4, ipv4_gateway=(ip4.get_gateway() or "") if ip4 else "", ipv6=addrs6,
        ipv6_gateway=(ip6.get_gateway() or "") if ip6 else "",
        dns=tuple(dict.fromkeys(nameservers)), dns_search=tuple(dict.fromkeys(searches)), routes=tuple(routes),
        profile_ipv4=p4, profile_ipv6=p6, profile_dns=pdns)


def _profile_family(setting: Any, cls: Any, methods: Mapping[str, str]) -> Any:
    method = methods.get(setting.get_method() or "", "")
    if not method:
        return None
    addresses = tuple(f"{a.get_address()}/{a.get_prefix()}"
                      for a in (setting.get_address(i) for i in range(setting.get_num_addresses())))
    routes = tuple(Route(f"{r.get_dest()}/{r.get_prefix()}", r.get_next_hop() or "", max(int(r.get_metric()), 0))
                   for r in (setting.get_route(i) for i in range(setting.get_num_routes())))
    return cls(method, addresses, setting.get_gateway() or "", routes)


def _short_type(nm_type: str) -> str:
    return {"802-3-ethernet": "ethernet"}.get(nm_type, nm_type)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value_nick", value))


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_pending(data: Mapping[str, Any]) -> None:
    _atomic_write(pending_path(), json.dumps(data, indent=2))


def _read_pending() -> dict[str, Any] | None:
    try:
        with open(pending_path(), encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (OSError, json.JSONDecodeError):
        return None


def _remove_pending() -> None:
    try:
        os.remove(pending_path())
    except FileNotFoundError:
        pass


def connectivity_check(runner: Runner, params: Mapping[str, Any]) -> None:
    """Ping gateways and hosts, resolve a name; retried until `timeout` (links take a moment to pass traffic)."""
    deadline = time.monotonic() + float(params.get("timeout", 30))
    probes: list[tuple[str, list[str]]] = [(f"gateway {g}", ["ping", "-n", "-c", "1", "-W", "1", g])
                                           for g in params.get("gateways", [])]
    probes += [(f"host {h}", ["ping", "-n", "-c", "1", "-W", "1", h]) for h in params.get("hosts", [])]
    if params.get("resolve"):
        probes.append((f"name {params['resolve']}", ["getent", "hosts", params["resolve"]]))
    failed = []
    for what, argv in probes:
        while True:
            if runner.run(argv, check=False, timeout=10).ok:
                log.info("connectivity: %s answers", what)
                break
            if time.monotonic() > deadline:
                failed.append(what)
                break
            time.sleep(0.5)
    if failed:
        raise CheckFailed("no answer from " + ", ".join(failed))


def network_actions(backend: NMBackend, desired_yaml: str) -> dict[str, Action]:
    """The nm_* actions of a network plan, bound to one backend."""
    def checkpoint(_r: Runner, p: Mapping[str, Any]) -> None:
        backend.create_checkpoint(int(p["rollback_timeout"]))

    def pending(_r: Runner, p: Mapping[str, Any]) -> None:
        backend.record_pending(list(p["persist"]), list(p["delete"]), desired_yaml)

    return {
        "nm_checkpoint": checkpoint,
        "nm_remove": lambda _r, p: backend.remove(p["uuid"]),
        "nm_put": lambda _r, p: backend.put(p["uuid"], p["keyfile"]),
        "nm_activate": lambda _r, p: backend.activate(p["uuid"], bool(p.get("port"))),
        "connectivity_check": connectivity_check,
        "nm_pending": pending,
    }
