"""Plans: from the current state and a desired NodeConfig to the steps that get there.

`plan_apply` is pure. The network part of a live apply always has the same shape:

    checkpoint (rollback timer starts) -> remove/add/update profiles in memory -> activate
    -> connectivity check -> pending (wait for `confirm`; NetworkManager rolls back by itself
    when the timer runs out)

Profiles are only changed in NetworkManager's memory until the change is confirmed, so the keyfiles
on disk (the last good config) are untouched by an apply that is never confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from node_setup.identity import ADMIN_USER, CONCERNS, identity_files, identity_steps
from node_setup.keyfile import KEYFILE_DIR, controllers, dns_device, keyfile_name, nm_type, profile_uuid
from node_setup.keyfile import render_profile as _render_profile
from node_setup.model import Bond, Bridge, Interface, NetworkConfig, NodeConfig, Vlan
from nodecore.config import dump_yaml
from nodecore.plan import Plan, Step

DEFAULT_ROLLBACK_TIMEOUT = 120
# the last confirmed config on a node (nodecore.paths.state_dir() there; node_setup.nm.last_good_path)
CONFIRMED_PATH = "/var/lib/hcinode/network/confirmed.yaml"
# An installed node brings up only the NICs its config names. Without this, NetworkManager makes a
# "Wired connection" with DHCP for every other NIC that has a link (storage NICs before Gluster is set
# up, a second uplink): a surprise address on a storage network, and NetworkManager-wait-online fails
# at boot while DHCP goes unanswered, so the node boots "degraded". (The live system keeps the default:
# without `ip=` it needs DHCP on any NIC to fetch its kickstart.)
NO_AUTO_DEFAULT_PATH = "/etc/NetworkManager/conf.d/90-hcinode-no-auto-default.conf"
NO_AUTO_DEFAULT = ("# hcinode: only the NICs of the node's network config come up (node_setup/plan.py)\n"
                   "[main]\nno-auto-default=*\n")


def storable(config: NodeConfig) -> str:
    """YAML of a config as kept on the node (the password is never stored, not even hashed, here)."""
    return dump_yaml(replace(config, admin_password=None))


@dataclass(frozen=True)
class Profile:
    """One NetworkManager connection profile as the plan sees it."""

    uuid: str
    id: str
    type: str
    interface_name: str = ""
    mac: str = ""
    managed: bool = False  # made by hcinode ([user] hcinode.managed=1)
    keyfile: str = ""  # normalized keyfile text, compared to find changes
    active: bool = False


@dataclass(frozen=True)
class NetworkState:
    """What NetworkManager has now (read by the backend), or what a config renders to."""

    profiles: tuple[Profile, ...] = ()

    @classmethod
    def from_config(cls, network: NetworkConfig) -> NetworkState:
        """The state NetworkManager is in after `network` was applied (all profiles active)."""
        profiles = []
        for dev in network.devices():
            mac = dev.mac.upper() if isinstance(dev, Interface) else ""
            profiles.append(Profile(profile_uuid(dev), dev.name, nm_type(dev), "" if mac else dev.name, mac,
                                    True, normalize_keyfile(_render_profile(network, dev)), active=True))
        return cls(tuple(profiles))

    def by_uuid(self) -> dict[str, Profile]:
        return {p.uuid: p for p in self.profiles}


def normalize_keyfile(text: str) -> str:
    """NetworkManager's own rendering of a keyfile when libnm is available (so texts compare), else as is."""
    try:
        from node_setup.nmkeyfile import parse_keyfile, write_keyfile

        return write_keyfile(parse_keyfile(text))
    except (RuntimeError, ValueError):
        return text


def _gateways(network: NetworkConfig) -> list[str]:
    return [g for dev in network.devices() for g in (dev.ipv4.gateway, dev.ipv6.gateway) if g]


def _activation_order(network: NetworkConfig) -> list[str]:
    """Names to activate: profiles without a controller first, in model order, then ports.

    Activating a bond or bridge brings its ports up (autoconnect-slaves); ports are listed after
    them so the backend can activate any port that did not come up on its own.
    """
    ports = controllers(network)
    names = [d.name for d in network.devices()]
    return [n for n in names if n not in ports] + [n for n in names if n in ports]


def _touched(network: NetworkConfig, changed: set[str]) -> set[str]:
    """The changed devices plus the ones tied to them (a bond and its ports, a VLAN and its parent's
    reactivation): only these are activated, so an untouched NIC (often the one the technician is
    connected through) is not bounced by an apply that does not concern it."""
    ports = controllers(network)
    touched = set(changed)
    while True:
        more = {d.name for d in network.devices() if d.name not in touched and (
            (d.name in ports and ports[d.name].name in touched)
            or any(ports.get(p) is d for p in touched)
            or getattr(d, "parent", "") in touched)}
        if not more:
            return touched
        touched |= more


def plan_network(current: NetworkState, desired: NetworkConfig, *,
                 rollback_timeout: int = DEFAULT_ROLLBACK_TIMEOUT, check: bool = True) -> list[Step]:
    """Network steps of a live apply (empty when NetworkManager already has exactly these profiles)."""
    want = NetworkState.from_config(desired)
    have = current.by_uuid()
    names = {d.name for d in desired.devices()}
    macs = {d.mac.upper() for d in desired.interfaces if d.mac}
    wanted = want.by_uuid()
    remove = [p for p in current.profiles if p.uuid not in wanted
              and (p.managed or p.interface_name in names or (p.mac and p.mac.upper() in macs))]
    put = [p for p in want.profiles if p.uuid not in have or have[p.uuid].keyfile != p.keyfile]
    inactive = [p for p in want.profiles if p.uuid in have and not have[p.uuid].active]
    if not remove and not put and not inactive:
        return []
    steps = [Step(f"Create a NetworkManager checkpoint (rolls back in {rollback_timeout} s unless confirmed)",
                  action="nm_checkpoint", params={"rollback_timeout": rollback_timeout})]
    for p in remove:
        steps.append(Step(f"Remove profile {p.id} ({'hcinode' if p.managed else 'foreign'}, {p.type})",
                          action="nm_remove", params={"uuid": p.uuid, "id": p.id}))
    for p in put:
        verb = "Update" if p.uuid in have else "Add"
        steps.append(Step(f"{verb} profile {p.id} ({p.type}) in memory", action="nm_put",
                          params={"uuid": p.uuid, "id": p.id, "keyfile": p.keyfile}))
    by_name = {p.id: p for p in want.profiles}
    ports = controllers(desired)
    touched = _touched(desired, {p.id for p in put} | {p.id for p in inactive})
    for name in _activation_order(desired):
        if name not in touched:
            continue
        p = by_name[name]
        steps.append(Step(f"Activate {name}" + (f" (port of {ports[name].name})" if name in ports else ""),
                          action="nm_activate", params={"uuid": p.uuid, "id": name, "port": name in ports}))
    if check:
        gateways = _gateways(desired) if desired.check.gateway else []
        targets = {"gateways": gateways, "hosts": list(desired.check.hosts), "resolve": desired.check.resolve,
                   "timeout": desired.check.timeout}
        what = ", ".join([*(f"ping {g}" for g in gateways), *(f"ping {h}" for h in desired.check.hosts)]
                         + ([f"resolve {desired.check.resolve}"] if desired.check.resolve else []))
        # one-shot: a test says something only when it runs now
        steps.append(Step(f"Check connectivity ({what or 'devices active'}); roll back on failure",
                          action="connectivity_check", params=targets, one_shot=True))
    steps.append(Step("Keep the checkpoint pending until `hcinode network confirm` (or roll back)",
                      action="nm_pending", params={"persist": [p.uuid for p in put],
                                                   "delete": [p.uuid for p in remove]}))
    return steps


def plan_apply(current: NodeConfig | NetworkState | None, desired: NodeConfig, *,
               rollback_timeout: int = DEFAULT_ROLLBACK_TIMEOUT, check: bool = True,
               current_state: NetworkState | None = None, only: tuple[str, ...] = CONCERNS) -> Plan:
    """Steps to go from `current` to `desired` on a running node.

    `current` is the last applied NodeConfig (identity steps are skipped when unchanged) or the
    NetworkState read from NetworkManager; pass both with `current_state=` when known. An empty
    `desired.network` (no devices) leaves the network alone; `only` limits the identity concerns.
    """
    old_config = current if isinstance(current, NodeConfig) else None
    state = current_state if current_state is not None else (
        current if isinstance(current, NetworkState) else
        NetworkState.from_config(current.network) if isinstance(current, NodeConfig) else NetworkState())
    steps = identity_steps(desired, old_config, live=True, only=only)
    net_steps = plan_network(state, desired.network, rollback_timeout=rollback_timeout, check=check) \
        if desired.network.devices() else []
    names = {p.uuid: p.id for p in state.profiles}
    summary = {
        "network": {
            "add": [s.params["id"] for s in net_steps if s.action == "nm_put" and s.params["uuid"] not in names],
            "change": [s.params["id"] for s in net_steps if s.action == "nm_put" and s.params["uuid"] in names],
            "remove": [s.params["id"] for s in net_steps if s.action == "nm_remove"],
            "rollback_timeout": rollback_timeout if net_steps else 0,
        },
        "addresses": _addresses(desired.network),
    }
    return Plan("Apply node settings", (*steps, *net_steps), summary)


def _addresses(network: NetworkConfig) -> dict[str, str]:
    out = {}
    for dev in network.devices():
        parts = list(dev.ipv4.addresses) + list(dev.ipv6.addresses)
        if dev.ipv4.method == "dhcp":
            parts.append("dhcp")
        if dev.ipv6.method in ("auto", "dhcp"):
            parts.append(f"ipv6 {dev.ipv6.method}")
        if parts:
            out[dev.name] = ", ".join(parts)
    return out


def plan_into_root(config: NodeConfig, root: str) -> Plan:
    """First-boot files in a target root (no running NetworkManager): keyfiles and identity files."""
    steps: list[Step] = []
    from node_setup.keyfile import render_keyfiles

    for name, text in render_keyfiles(config.network).items():
        steps.append(Step(f"Write network profile {name}", action="write_file",
                          params={"path": f"{root.rstrip('/')}/{KEYFILE_DIR}/{name}", "content": text,
                                  "mode": 0o600}))
    steps.append(Step("Bring up only the configured NICs (no automatic DHCP profiles)", action="write_file",
                      params={"path": f"{root.rstrip('/')}{NO_AUTO_DEFAULT_PATH}", "content": NO_AUTO_DEFAULT,
                              "mode": 0o644}))
    steps.extend(identity_steps(config, None, root=root, live=False))
    # the installed node starts with these as its last confirmed settings (`network show`, plans,
    # `node set` and the console compare against them), as if they had been applied and confirmed
    steps.append(Step("Record the settings as the last confirmed config", action="write_file",
                      params={"path": f"{root.rstrip('/')}{CONFIRMED_PATH}", "content": storable(config),
                              "mode": 0o600}))
    return Plan(f"Write node settings into {root}", tuple(steps),
                {"profiles": [keyfile_name(d) for d in config.network.devices()],
                 "addresses": _addresses(config.network)})


def gateways_of(network: NetworkConfig) -> list[str]:
    return _gateways(network)


def change_summary(plan: Plan, desired: NodeConfig) -> list[str]:
    """One sentence per change a plan makes, in words a technician reads at the console, e.g.
    "eno1: static 192.0.2.11/24, gateway 192.0.2.1, DNS 192.0.2.53". Pure: the plan says what
    changes, `desired` (the config it was made from) says to what. The step list stays the record."""
    paths = {f.path: f.concern for f in identity_files(desired)}
    concerns: list[str] = []
    lines: list[str] = []
    for step in plan.steps:
        path = str(step.params.get("path", ""))
        concern = next((c for p, c in paths.items() if path.endswith(p)), "")
        if step.action == "symlink" and path.endswith("/etc/localtime"):
            concern = "timezone"
        elif step.action == "service_enable" or path.endswith("ssh.service"):
            concern = "ssh"
        elif step.action == "set_shadow_hash" or step.argv[:1] == ("chpasswd",):
            concern = "password"
        elif step.action == "nm_put":
            lines.append(_device_sentence(desired.network, str(step.params["id"]),
                                          new=step.title.startswith("Add ")))
        elif step.action == "nm_remove":
            lines.append(f"{step.params['id']}: remove its profile")
        if concern and concern not in concerns:
            concerns.append(concern)
    return lines + [_identity_sentence(desired, c) for c in CONCERNS if c in concerns]


def _device_sentence(network: NetworkConfig, name: str, new: bool) -> str:
    dev = network.device(name)
    head = f"{name} (new)" if new else name
    if dev is None:
        return f"{head}: update its profile"
    controller = controllers(network).get(name)
    if controller is not None:
        return f"{head}: port of {controller.name}" + (f", MTU {dev.mtu}" if dev.mtu else "")
    parts = []
    if isinstance(dev, Bond):
        parts.append(f"{dev.mode} bond of {'+'.join(dev.slaves) or 'no NICs'}")
    elif isinstance(dev, Vlan):
        parts.append(f"VLAN {dev.id} on {dev.parent}")
    elif isinstance(dev, Bridge):
        parts.append(f"bridge of {'+'.join(dev.ports) or 'no ports'}")
    v4, v6 = dev.ipv4, dev.ipv6
    if v4.method == "static":
        parts.append("static " + " ".join(v4.addresses))
    elif v4.method == "dhcp":
        parts.append("DHCP")
    if v4.gateway:
        parts.append(f"gateway {v4.gateway}")
    if v6.method == "static":
        parts.append("IPv6 " + " ".join(v6.addresses) + (f" gateway {v6.gateway}" if v6.gateway else ""))
    elif v6.method != "disabled":
        parts.append({"auto": "IPv6 auto", "dhcp": "DHCPv6"}.get(v6.method, f"IPv6 {v6.method}"))
    if v4.method == "disabled" and v6.method == "disabled":
        parts.append("no IP address")
    parts += [f"route {r.to} via {r.via}" if r.via else f"route {r.to}" for r in (*v4.routes, *v6.routes)]
    if dns_device(network) == name and network.dns.servers:
        parts.append("DNS " + " ".join(network.dns.servers))
        if network.dns.search:
            parts.append("search " + " ".join(network.dns.search))
    if dev.mtu:
        parts.append(f"MTU {dev.mtu}")
    return f"{head}: " + ", ".join(parts)


def _identity_sentence(config: NodeConfig, concern: str) -> str:
    if concern == "hostname":
        return f"Host name: {config.hostname}"
    if concern == "ntp":
        return "NTP servers: " + (" ".join(config.ntp_servers) or "the defaults")
    if concern == "timezone":
        return f"Time zone: {config.timezone}"
    if concern == "keyboard":
        return f"Keyboard layout: {config.keyboard}"
    if concern == "password":
        return f"Password of {ADMIN_USER}: changed"
    if concern == "ssh" and config.ssh is not None:
        ssh = config.ssh
        keys = len(ssh.authorized_keys)
        return (f"SSH server: {'on' if ssh.enabled else 'off'}, password login "
                f"{'on' if ssh.password_login else 'off'}, {keys} authorized key{'s' if keys != 1 else ''}")
    if concern == "syslog" and config.syslog is not None:
        return f"Remote logging: {config.syslog.protocol} to {config.syslog.host}:{config.syslog.port}"
    return f"{concern}: changed"
