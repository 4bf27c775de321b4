"""node_setup: configure a running node's network and identity (and render them for first boot).

Public API (stable; the installer, the console TUI and the CLI use only these names):

Model (frozen dataclasses, YAML in and out through nodecore.config):
    NodeConfig, NetworkConfig, Interface, Bond, Vlan, Bridge, IPv4, IPv6, Route, Dns, Connectivity,
    Ssh, Syslog; load_node_config(data, report), load_node_config_file(path), dump_node_config(config)

Validation:
    validate(config: NodeConfig) -> ValidationReport      every problem with its field path
    password_problem(text) -> str                          "" when acceptable (TUI strength check)

Rendering (pure; the persisted form is NetworkManager keyfiles):
    render_keyfiles(config) -> dict[filename, text]        NodeConfig or NetworkConfig

Planning (pure; nodecore.plan.Plan, printable with --dry-run):
    plan_apply(current, desired, rollback_timeout=120, check=True) -> Plan
        current: the last applied NodeConfig, or a NetworkState read from NetworkManager
        (NetworkState/Profile); pass both with current_state=
    plan_into_root(config, root) -> Plan

Live apply with automatic rollback (node_setup.apply; NetworkManager through libnm):
    plan_for(config, rollback_timeout=120, check=True, only=CONCERNS, offline_ok=False) -> Plan
    apply(config, plan=None, rollback_timeout=120, check=True, only=..., progress=cb) -> ApplyOutcome
        a failed step or connectivity check rolls back at once and raises ApplyFailed;
        otherwise outcome.status is a PendingStatus
    pending_status() -> PendingStatus   .state "none" | "pending" | "expired", .pending,
                                        .seconds_remaining, .rollback_timeout (the console's countdown)
    confirm() -> [saved profile ids]    keep the change; only now are keyfiles written
    rollback()                          undo it now (NetworkManager also does it when the timer ends)
    extend_rollback(seconds)            restart the timer
    confirmed_config() -> NodeConfig | None   the last confirmed settings (no password)
    live_network() -> [LiveDevice]      every device as NetworkManager has it now: applied addresses,
                                        gateways, DNS and routes, and its active profile's settings

Installer hook (no running NetworkManager needed):
    render_into_root(config, root) -> list[str]           validates first; writes keyfiles (0600) and
                                                           identity files under root; returns the paths
"""

from node_setup.firstboot import render_into_root
from node_setup.keyfile import render_keyfiles
from node_setup.model import (
    Bond,
    Bridge,
    Connectivity,
    Dns,
    Interface,
    IPv4,
    IPv6,
    NetworkConfig,
    NodeConfig,
    Route,
    Ssh,
    Syslog,
    Vlan,
    dump_node_config,
    load_node_config,
    load_node_config_file,
    load_node_config_text,
)
from node_setup.plan import NetworkState, Profile, plan_apply, plan_into_root
from node_setup.validate import password_problem, validate

__all__ = [
    "Bond", "Bridge", "Connectivity", "Dns", "IPv4", "IPv6", "Interface", "NetworkConfig", "NetworkState", "NodeConfig",
    "Profile", "Route",
    "Ssh", "Syslog", "Vlan", "dump_node_config", "load_node_config", "load_node_config_file",
    "load_node_config_text", "password_problem", "plan_apply", "plan_into_root", "render_into_root",
    "render_keyfiles", "validate",
]
