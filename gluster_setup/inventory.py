"""Import a gluster-ansible HCI inventory (what oVirt's cockpit wizard writes) as our spec.

Reads the `hc_nodes` group (top level or under all.children): per host the gluster_infra_*
variables (volume groups with their PVs, thick LVs, thin pools, thin LVs, mount devices, cache),
and the gluster_features_hci_* variables (volumes with bricks and arbiter, volume options),
which may sit in host vars or group vars. Anything we cannot map is reported, never dropped
silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from gluster_setup.spec import parse_spec
from nodecore.config import Size
from nodecore.report import ValidationReport

K = 1024

# Variables the importer reads (in host vars or the hc_nodes group vars). Anything else is named
# in a warning: it is not silently dropped, and the user sees what hcinode does not do for it.
HOST_VARS = frozenset({
    "ansible_host", "ansible_port", "gluster_infra_volume_groups", "gluster_infra_thick_lvs",
    "gluster_infra_lv_logicalvols", "gluster_infra_thinpools", "gluster_infra_mount_devices",
    "gluster_infra_cache_vars"})
GROUP_VARS = HOST_VARS | frozenset({
    "gluster_infra_disktype", "gluster_infra_diskcount", "gluster_infra_stripe_unit_size",
    "gluster_features_hci_volumes", "gluster_features_hci_volume_options",
    # the host list (the wizard writes cluster_nodes and points gluster_features_hci_cluster at it):
    # hcinode takes the hosts from hc_nodes.hosts
    "gluster_features_hci_cluster", "cluster_nodes"})
# what hcinode does instead, for variables real inventories carry that it does not use
NOT_USED = {
    "gluster_infra_fw_": "hcinode does not manage a firewall; open the Gluster ports yourself",
    "gluster_set_selinux_labels": "the node runs without SELinux",
    "blacklist_mpath_devices": "hcinode does not configure multipath; brick disks are used as listed",
    "gluster_features_force_varlogsizecheck": "no /var/log size check is made",
    "gluster_infra_vdo": "VDO is not supported",
}


def _unknown_variables(names: Mapping[str, list[str]], report: ValidationReport) -> None:
    """One warning per variable the importer does not read, naming it and where it was."""
    for name in sorted(names):
        why = next((text for prefix, text in NOT_USED.items() if name.startswith(prefix)), "")
        report.warning(f"hc_nodes.{names[name][0]}.{name}" if len(names[name]) == 1 else f"hc_nodes.*.{name}",
                       f"inventory variable {name} is not used by hcinode" + (f": {why}" if why else "")
                       + (f" (in {', '.join(names[name])})" if len(names[name]) > 1 else ""))


def _hc_nodes(data: Any) -> Mapping[str, Any] | None:
    if not isinstance(data, dict):
        return None
    group = data.get("hc_nodes")
    if isinstance(group, dict):
        return group
    children = (data.get("all") or {}).get("children") if isinstance(data.get("all"), dict) else None
    nested = children.get("hc_nodes") if isinstance(children, dict) else None
    return nested if isinstance(nested, dict) else None


def _size(value: Any, where: str, report: ValidationReport) -> int | None:
    try:
        return int(Size.parse(str(value).strip()))
    except ValueError:
        report.error(where, f"{value!r} is not a size hcinode understands", "write e.g. 100G")
        return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([] if value is None else [value])


def _dicts(value: Any, where: str, report: ValidationReport) -> list[dict[str, Any]]:
    """The mappings of a list variable; anything else in it is an error naming its position."""
    out = []
    for i, item in enumerate(_list(value)):
        if isinstance(item, dict):
            out.append(item)
        else:
            report.error(f"{where}[{i}]", f"expected a mapping (name: value lines), got {item!r}")
    return out


def _mapping(value: Any, where: str, report: ValidationReport) -> dict[str, Any]:
    if value is None or isinstance(value, dict):
        return value or {}
    report.error(where, f"expected a mapping (name: value lines), got {type(value).__name__}")
    return {}


def _int(value: Any, where: str, report: ValidationReport) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    report.error(where, f"{value!r} is not a whole number")
    return None


def _stripe_unit(value: Any, where: str, report: ValidationReport) -> int | None:
    """gluster_infra_stripe_unit_size: KiB as gluster-ansible takes it (256), or a size (256K)."""
    if isinstance(value, str) and value.strip() and not value.strip().isdigit():
        return _size(value, where, report)
    kib = _int(value, where, report)
    return None if kib is None else kib * K


def convert(data: Any, source: str = "inventory", known_hosts: str = "/root/.ssh/known_hosts"
            ) -> tuple[dict[str, Any] | None, ValidationReport]:
    """Inventory YAML data -> spec data (a dict ready for YAML) and a report of what did not map."""
    report = ValidationReport(source)
    group = _hc_nodes(data)
    if group is None:
        report.error("hc_nodes", "no hc_nodes group", "is this a gluster-ansible HCI inventory?")
        return None, report
    hosts = group.get("hosts") or {}
    group_vars = _mapping(group.get("vars"), "hc_nodes.vars", report)
    if not isinstance(hosts, dict) or not hosts:
        report.error("hc_nodes.hosts", "no hosts")
        return None, report

    def var(host_vars: Mapping[str, Any], name: str, default: Any = None) -> Any:
        return host_vars.get(name, group_vars.get(name, default))

    spec: dict[str, Any] = {"hosts": []}
    volumes: dict[str, dict[str, Any]] = {}  # volume name -> spec data
    lv_sizes: dict[str, tuple[int, bool]] = {}  # lv name -> (size, thin)
    mount_to_lv: dict[str, str] = {}
    vg_names: list[str] = []
    metadata: int | None = None
    pool_size: int | None = None
    cache: dict[str, Any] | None = None
    unknown: dict[str, list[str]] = {}
    if isinstance(group_vars, dict):
        for key in group_vars:
            if str(key) not in GROUP_VARS:
                unknown.setdefault(str(key), []).append("vars")
    for name, host_vars in hosts.items():
        where = f"hc_nodes.hosts.{name}"
        host_vars = _mapping(host_vars, where, report)
        for key in host_vars:
            if str(key) not in HOST_VARS:
                unknown.setdefault(str(key), []).append(f"hosts.{name}")
        disks: list[str] = []
        vgs = _dicts(var(host_vars, "gluster_infra_volume_groups"), f"{where}.gluster_infra_volume_groups", report)
        for vg in vgs:
            for pv in str(vg.get("pvname", "")).split(","):
                if pv.strip():
                    disks.append(pv.strip())
        if len(vgs) > 1:
            report.warning(f"{where}.gluster_infra_volume_groups", f"{len(vgs)} VGs: hcinode puts all of a "
                           "host's brick disks into one VG")
        host: dict[str, Any] = {"address": str(name), "disks": disks}
        if host_vars.get("ansible_host") and host_vars["ansible_host"] != name:
            host["name"] = str(host_vars["ansible_host"])
        port = var(host_vars, "ansible_port")
        if port is not None:
            host["ssh_port"] = port
        if vgs:
            host["vg_name"] = str(vgs[0].get("vgname", "gluster_vg"))
            vg_names.append(host["vg_name"])
        for spec_lv in _dicts(var(host_vars, "gluster_infra_thick_lvs"), f"{where}.gluster_infra_thick_lvs", report):
            size = _size(spec_lv.get("size"), f"{where}.gluster_infra_thick_lvs.{spec_lv.get('lvname')}", report)
            if size is not None:
                lv_sizes[str(spec_lv.get("lvname"))] = (size, False)
        for spec_lv in _dicts(var(host_vars, "gluster_infra_lv_logicalvols"), f"{where}.gluster_infra_lv_logicalvols",
                         report):
            size = _size(spec_lv.get("lvsize"), f"{where}.gluster_infra_lv_logicalvols.{spec_lv.get('lvname')}", report)
            if size is not None:
                lv_sizes[str(spec_lv.get("lvname"))] = (size, True)
        for pool in _dicts(var(host_vars, "gluster_infra_thinpools"), f"{where}.gluster_infra_thinpools", report):
            if pool.get("poolmetadatasize"):
                metadata = _size(pool["poolmetadatasize"], f"{where}.gluster_infra_thinpools", report)
            if pool.get("thinpoolsize"):
                pool_size = _size(pool["thinpoolsize"], f"{where}.gluster_infra_thinpools", report)
        for dev in _dicts(var(host_vars, "gluster_infra_mount_devices"), f"{where}.gluster_infra_mount_devices",
                          report):
            mount_to_lv[str(dev.get("path", "")).rstrip("/")] = str(dev.get("lvname", ""))
        for c in _dicts(var(host_vars, "gluster_infra_cache_vars"), f"{where}.gluster_infra_cache_vars", report):
            host["cache_disk"] = str(c.get("cachedisk", "")).split(",")[0]
            size = _size(c.get("cachelvsize"), f"{where}.gluster_infra_cache_vars", report)
            if size is not None:
                cache = {"size": size, "mode": str(c.get("cachemode", "writethrough"))}
        spec["hosts"].append(host)

    dtype = str(group_vars.get("gluster_infra_disktype", "JBOD")).upper()
    if dtype != "JBOD":
        disk_type = {
            "type": dtype,
            "disk_count": _int(group_vars.get("gluster_infra_diskcount", 1), "hc_nodes.vars.gluster_infra_diskcount",
                               report),
            "stripe_unit": _stripe_unit(group_vars.get("gluster_infra_stripe_unit_size", 256),
                                        "hc_nodes.vars.gluster_infra_stripe_unit_size", report)}
        spec["disk_type"] = {k: v for k, v in disk_type.items() if v is not None}  # (errors are reported)
    if len(set(vg_names)) == 1:
        spec["vg_name"] = vg_names[0]
        for host in spec["hosts"]:
            host.pop("vg_name", None)
    thin_pool: dict[str, Any] = {}
    if metadata:
        thin_pool["metadata_size"] = metadata
    if pool_size:
        thin_pool["size"] = pool_size
    if thin_pool:
        spec["thin_pool"] = thin_pool
    if cache:
        spec["cache"] = cache

    hci_volumes = _dicts(group_vars.get("gluster_features_hci_volumes"), "hc_nodes.vars.gluster_features_hci_volumes",
                         report)
    if not hci_volumes:
        report.error("hc_nodes.vars.gluster_features_hci_volumes", "no volumes")
    options = {str(k): str(v) for k, v in _mapping(group_vars.get("gluster_features_hci_volume_options"),
                                                   "hc_nodes.vars.gluster_features_hci_volume_options", report).items()}
    arbiters = set()
    roots = set()
    for i, vol in enumerate(hci_volumes):
        where = f"hc_nodes.vars.gluster_features_hci_volumes[{i}]"
        vname = str(vol.get("volname", ""))
        brick = str(vol.get("brick", "")).rstrip("/")
        mount = brick.rsplit("/", 1)[0]
        roots.add(mount.rsplit("/", 1)[0])
        if brick != f"{mount}/{vname}" or mount.rsplit("/", 1)[-1] != vname:
            report.warning(f"{where}.brick", f"{brick}: hcinode lays bricks out as <root>/{vname}/{vname}")
        lv = mount_to_lv.get(mount, f"gluster_lv_{vname}")
        if lv not in lv_sizes:
            report.error(f"{where}", f"no LV size found for {vname} (LV {lv})",
                         "the inventory needs gluster_infra_thick_lvs or gluster_infra_lv_logicalvols for it")
            continue
        size, thin = lv_sizes[lv]
        entry: dict[str, Any] = {"name": vname, "size": size, "thin": thin}
        if options:
            entry["options"] = dict(options)
        volumes[vname] = entry
        arbiter = vol.get("arbiter", 0)
        if str(arbiter).strip().lower() in ("0", "1", "false", "true", "none", ""):
            arbiter = str(arbiter).strip().lower() in ("1", "true")
            entry["arbiter"] = arbiter
            arbiters.add(arbiter)
        else:
            report.error(f"{where}.arbiter", f"arbiter {arbiter!r} is neither 0 nor 1",
                         "1: replica 3 arbiter 1, 0: replica 3")
        for key in vol if isinstance(vol, dict) else ():
            if key not in ("volname", "brick", "arbiter"):
                report.warning(f"{where}.{key}", f"volume key {key} is not used by hcinode")
    if arbiters == {True}:  # every volume: the spec-wide "replica 2 + arbiter" (replica 3 arbiter 1)
        spec["replica"] = 2
        spec["arbiter"] = True
    if len(arbiters) <= 1:
        for entry in volumes.values():
            entry.pop("arbiter", None)
    else:  # the oVirt wizard's mix: replica 3, and "replica 3 arbiter 1" where the inventory says 1
        for entry in volumes.values():
            if not entry.pop("arbiter", False):
                continue
            entry["arbiter"] = True
    spec["volumes"] = list(volumes.values())
    if len(spec["hosts"]) == 1:
        spec["replica"] = 1
    if len(roots) == 1:
        spec["brick_root"] = roots.pop()
    spec["ssh"] = {"known_hosts": known_hosts}
    _unknown_variables(unknown, report)
    parsed, spec_report = parse_spec(spec, source, require_host_keys=False)
    report.extend(spec_report)
    return (spec if parsed is not None and report.ok else None), report


def render(spec: Mapping[str, Any], source: str) -> str:
    head = (f"# hcinode gluster spec imported from {source}\n"
            "# Host keys: ssh.known_hosts must hold every host's key, or add host_key: SHA256:... per host\n"
            "# (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the host). Sizes are in bytes.\n")
    return head + yaml.safe_dump(dict(spec), sort_keys=False, default_flow_style=False)
