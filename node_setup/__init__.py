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
"""

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
from node_setup.validate import password_problem, validate

__all__ = [
    "Bond", "Bridge", "Connectivity", "Dns", "IPv4", "IPv6", "Interface", "NetworkConfig", "NodeConfig", "Route",
    "Ssh", "Syslog", "Vlan", "dump_node_config", "load_node_config", "load_node_config_file",
    "load_node_config_text", "password_problem", "render_keyfiles", "validate",
]
