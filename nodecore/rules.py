"""One rule per concept for the values every front end takes: kickstart, YAML, the console forms.

The installer's checks, `node_setup.validate` and the console pages all call these functions, so
a value refused in one place is refused everywhere, with the same words. They live in nodecore
(not in node_setup) because they judge plain values, not node_setup's model, and packages that
must not import node_setup (image_recipes, gluster_setup) need some of them too.

Each rule returns None when the value is acceptable, else a `Bad` (what is wrong, how to fix it);
`add(report, field, bad)` puts it into a ValidationReport. Cross-field rules (a NIC in two bonds,
a gateway outside its subnet) stay with the model they are about (node_setup.validate).
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from importlib import resources

from nodecore.report import ValidationReport


@dataclass(frozen=True)
class Bad:
    message: str
    hint: str = ""


def add(report: ValidationReport, field_path: str, bad: Bad | None) -> bool:
    """Report `bad` as an error at `field_path`; True when there was something to report."""
    if bad is None:
        return False
    report.error(field_path, bad.message, bad.hint)
    return True


# --- text --------------------------------------------------------------------------------------

# C0 controls (newline, tab, ESC, NUL), DEL and C1 controls: a newline in a value becomes a new
# line in a keyfile, chpasswd input, fstab or grub.cfg; ESC sequences repaint the console. The
# Unicode line and paragraph separators too: str.splitlines, which our read-backs use, breaks there.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")  # keeps \t \n \r


def control_chars(value: str, multiline: bool = False) -> Bad | None:
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if found is None:
        return None
    return Bad(f"contains a control character ({found.group()!r} at position {found.start() + 1})",
               "remove newlines, tabs and other control characters")


# --- network -----------------------------------------------------------------------------------

# The kernel's rule as NetworkManager applies it (nm_utils_ifname_valid_kernel): 1-15 bytes, no
# '/', ':' or whitespace, not "." or "..".
IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
MAC_RE = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
BOND_MODES = ("balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb")
# the kernel's numeric mode aliases, as kickstart `--bondopts=mode=1` may give them
BOND_MODE_NUMBERS = {str(i): mode for i, mode in enumerate(BOND_MODES)}
# bonding options NetworkManager accepts in [bond] besides mode and miimon (kernel names)
BOND_OPTIONS = {"lacp_rate", "xmit_hash_policy", "updelay", "downdelay", "primary", "primary_reselect",
                "ad_select", "arp_interval", "arp_ip_target", "arp_validate", "fail_over_mac", "min_links",
                "all_slaves_active", "num_grat_arp", "resend_igmp", "use_carrier", "lp_interval",
                "packets_per_slave", "ad_actor_sys_prio", "ad_user_port_key", "tlb_dynamic_lb"}
BOND_OPTION_VALUES = {"lacp_rate": {"slow", "fast", "0", "1"},
                      "xmit_hash_policy": {"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"}}
_BOND_VALUE_RE = re.compile(r"[A-Za-z0-9_.+:,-]+")  # numbers, names, addresses, arp_ip_target lists
HASH_MODES = {"balance-xor", "802.3ad", "balance-tlb", "balance-alb"}


def ifname(name: str) -> Bad | None:
    if IFNAME_RE.fullmatch(name) and name not in (".", ".."):
        return None
    if len(name.encode()) > 15:
        return Bad(f"{name!r} is not a valid interface name: longer than 15 characters (the kernel's limit)",
                   "use a shorter name, e.g. bond0.100 or mgmt0")
    return Bad(f"{name!r} is not a valid interface name", "1-15 characters: letters, digits, '_', '.', '-'")


def mac(value: str) -> Bad | None:
    return None if MAC_RE.fullmatch(value) else Bad(f"{value!r} is not a MAC address",
                                                     "write it as 52:54:00:12:34:56")


def bond_mode(mode: str) -> Bad | None:
    if mode in BOND_MODES or mode in BOND_MODE_NUMBERS:
        return None
    return Bad(f"bond mode {mode!r} is unknown", "use one of: " + ", ".join(BOND_MODES))


def bond_option(key: str, value: str, mode: str) -> Bad | None:
    """One further bonding option (not mode/miimon, which have their own fields)."""
    if key in ("mode", "miimon"):
        return Bad(f"set {key} with the bond's own '{key}' field")
    if key not in BOND_OPTIONS:
        return Bad(f"unknown bonding option {key!r}", "known: " + ", ".join(sorted(BOND_OPTIONS)))
    if key in BOND_OPTION_VALUES and value not in BOND_OPTION_VALUES[key]:
        return Bad(f"{key}={value!r} is not allowed", "use one of: " + ", ".join(sorted(BOND_OPTION_VALUES[key])))
    if not _BOND_VALUE_RE.fullmatch(value):
        return Bad(f"{key}={value!r} is not a valid option value", "letters, digits and . + : , - only")
    mode = BOND_MODE_NUMBERS.get(mode, mode)
    if key == "lacp_rate" and mode != "802.3ad":
        return Bad("lacp_rate only applies to mode 802.3ad")
    if key == "xmit_hash_policy" and mode not in HASH_MODES:
        return Bad(f"xmit_hash_policy does not apply to mode {mode}")
    return None


def vlan_id(vid: int) -> Bad | None:
    return None if 1 <= vid <= 4094 else Bad(f"VLAN id {vid} is out of range", "use 1..4094")


def ip_address(value: str, version: int | None = None) -> Bad | None:
    """An address without prefix; an IPv6 scope (fe80::1%eth0) must name a valid interface."""
    addr, _, scope = value.partition("%")
    try:
        parsed = ipaddress.ip_address(addr)
    except ValueError:
        return Bad(f"{value!r} is not an IP{'v' + str(version) if version else ''} address")
    if version is not None and parsed.version != version:
        return Bad(f"{value} is not an IPv{version} address")
    if scope and (parsed.version != 6 or ifname(scope) is not None):
        return Bad(f"{value!r}: the scope after '%' must be an interface name of an IPv6 address")
    return None


# --- identity ----------------------------------------------------------------------------------

_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_TZ_RE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
ZONEINFO = "/usr/share/zoneinfo"


def is_hostname(name: str) -> bool:
    name = name.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL_RE.fullmatch(label) for label in name.split("."))


def hostname(name: str) -> Bad | None:
    if not is_hostname(name) or name.replace(".", "").isdigit():
        return Bad(f"{name!r} is not a valid host name",
                   "letters, digits and '-', labels of 1-63 characters separated by '.'")
    if name.split(".")[0] == "localhost":
        return Bad("localhost cannot be a node's host name")
    return None


def host(value: str) -> Bad | None:
    """An address or a host name (NTP servers, syslog hosts, engine hosts)."""
    if ip_address(value) is None or (is_hostname(value) and not value.replace(".", "").isdigit()):
        return None
    return Bad(f"{value!r} is not an address or host name")


def timezone(tz: str, zoneinfo: str = ZONEINFO) -> Bad | None:
    if not _TZ_RE.fullmatch(tz) or ".." in tz:
        return Bad(f"{tz!r} is not a time zone name", "e.g. Europe/Berlin or UTC")
    if os.path.isdir(zoneinfo) and not os.path.isfile(os.path.join(zoneinfo, tz)):
        return Bad(f"unknown time zone {tz!r}", "e.g. Europe/Berlin or UTC")
    return None


@functools.cache
def keyboard_layouts() -> dict[str, tuple[str, ...]]:
    """XKB layouts and their variants as the node image ships them.

    /etc/default/keyboard takes XKB names; `keymaps.json` is Debian bookworm's xkb-data
    rules/base.lst (the image's suite), so a layout is refused here, before the install, and not
    by the installed node's console.
    """
    data = json.loads(resources.files("nodecore").joinpath("keymaps.json").read_text(encoding="utf-8"))
    return {k: tuple(v) for k, v in data["layouts"].items()}


def split_keyboard(value: str) -> tuple[str, str]:
    """"de-nodeadkeys" -> ("de", "nodeadkeys"): layout, then the XKB variant after the first '-'."""
    layout, _, variant = value.partition("-")
    return layout, variant


def keyboard(value: str) -> Bad | None:
    layouts = keyboard_layouts()
    layout, variant = split_keyboard(value)
    if layout not in layouts:
        close = [k for k in layouts if k == layout.lower()]
        return Bad(f"keyboard layout {value!r} is not one the node knows",
                   f"did you mean {close[0]!r}?" if close else "XKB names, e.g. us, de, fr, gb, de-nodeadkeys")
    if variant and variant not in layouts[layout]:
        return Bad(f"keyboard layout {layout!r} has no variant {variant!r}",
                   ("variants: " + ", ".join(layouts[layout][:12])) if layouts[layout] else f"use {layout!r}")
    return None


# --- SSH keys ----------------------------------------------------------------------------------

# What OpenSSH 9.2 (bookworm) accepts; ssh-dss is off by default since 7.0 and would lock the
# admin out of a node whose only login is that key.
SSH_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                 "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com")
_OPTIONS_RE = re.compile(r'([A-Za-z-]+(="[^"]*")?)(,[A-Za-z-]+(="[^"]*")?)*')


def ssh_key(line: str) -> Bad | None:
    """One authorized_keys line: [options] type base64 [comment] (control characters: see
    nodecore.config.check_text, which every config passes)."""
    hint = "paste one line of id_ed25519.pub / id_rsa.pub: 'ssh-ed25519 AAAA... comment'"
    parts = line.split()
    kind_at = next((k for k, p in enumerate(parts) if p in SSH_KEY_TYPES), None)
    if kind_at is None:
        if "ssh-dss" in parts:
            return Bad("ssh-dss (DSA) keys are refused by the node's OpenSSH", "use an ed25519 or RSA key")
        return Bad("not an OpenSSH public key", hint)
    if kind_at > 1 or (kind_at == 1 and not _OPTIONS_RE.fullmatch(parts[0])) or len(parts) <= kind_at + 1:
        return Bad("not an OpenSSH public key", hint)
    try:
        blob = base64.b64decode(parts[kind_at + 1], validate=True)
    except ValueError:
        return Bad("the key's base64 part is damaged", hint)
    # the blob starts with the key type again (RFC 4253 string): a key pasted under the wrong type fails
    if blob[4:4 + len(parts[kind_at])] != parts[kind_at].encode():
        return Bad(f"the key data is not a {parts[kind_at]} key", hint)
    return None


# --- live changes ------------------------------------------------------------------------------

ROLLBACK_TIMEOUT_RANGE = (10, 3600)


def rollback_timeout(seconds: int) -> Bad | None:
    """0 would turn NetworkManager's checkpoint rollback (the safety net of a live change) off."""
    low, high = ROLLBACK_TIMEOUT_RANGE
    return None if low <= seconds <= high else Bad(f"{seconds} s is out of range", f"use {low}..{high} seconds")
