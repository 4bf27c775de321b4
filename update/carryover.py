"""What a new image takes over from the running node: one rule table, not a blind copy of /etc.

imgbased copied /etc deltas wholesale and lost or resurrected files; here each thing the node owns
is named once (RULES), copied from the running root into the new one, and every other file of the
running /etc that differs from the new image is only reported (`uncovered`), for the technician to
review. /var is its own thin LV on an installed node and simply stays mounted where it is; only when
/var is part of the root file system are the state directories under it carried too.
"""

from __future__ import annotations

import filecmp
import fnmatch
import glob
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodecore.runner import Runner


@dataclass(frozen=True)
class Rule:
    what: str  # the thing the node owns, as the report names it
    paths: tuple[str, ...]  # relative to the root; shell globs; a directory is carried whole
    var: bool = False  # under /var: carried only when /var is not its own file system


RULES: tuple[Rule, ...] = (
    Rule("network keyfiles", ("etc/NetworkManager/system-connections", "etc/NetworkManager/conf.d/*hcinode*")),
    Rule("identity (host name, hosts, machine-id)", ("etc/hostname", "etc/hosts", "etc/machine-id")),
    Rule("users and passwords", ("etc/passwd", "etc/shadow", "etc/group", "etc/gshadow", "etc/subuid",
                                 "etc/subgid")),
    Rule("SSH host keys and settings", ("etc/ssh/ssh_host_*", "etc/ssh/sshd_config.d/*hcinode*",
                                        "root/.ssh")),
    Rule("time, keyboard and locale", ("etc/chrony/chrony.conf", "etc/chrony/conf.d", "etc/chrony/sources.d",
                                       "etc/localtime", "etc/timezone", "etc/default/keyboard", "etc/vconsole.conf",
                                       "etc/default/locale")),
    Rule("remote logging", ("etc/rsyslog.d/*hcinode*",)),
    Rule("kernel arguments and boot defaults", ("etc/default/grub",)),
    Rule("LVM devices file (keeps the Gluster bricks visible)", ("etc/lvm/devices/system.devices",
                                                                 "etc/lvm/lvm.conf")),
    Rule("hcinode installed marker", ("etc/hcinode",)),
    Rule("certificates and agent/HA state", ("var/lib/hcinode",), var=True),
    Rule("Gluster configuration", ("var/lib/glusterd",), var=True),
)

# Files in /etc that always differ between two images and that no node owns (written by the
# image build, the package manager or at every boot): not worth a line in the report.
IGNORED = ("etc/ld.so.cache", "etc/mtab", "etc/fstab", "etc/resolv.conf", "etc/adjtime", "etc/.pwd.lock",
           "etc/passwd-", "etc/shadow-", "etc/group-", "etc/gshadow-", "etc/subuid-", "etc/subgid-",
           "etc/alternatives/*", "etc/systemd/system/*.wants/*", "etc/apparmor.d/cache/*")


def rules_for(var_separate: bool) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if var_separate is False or not r.var)


def covered(rel: str, rules: Sequence[Rule]) -> bool:
    """Does a rule carry this path (the path itself, or a directory above it)?"""
    for rule in rules:
        for pattern in rule.paths:
            if fnmatch.fnmatch(rel, pattern) or rel.startswith(pattern.rstrip("/") + "/"):
                return True
    return False


def matches(root: str, rule: Rule) -> list[str]:
    """The paths (relative) of a rule that exist under root."""
    found: list[str] = []
    for pattern in rule.paths:
        found += sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, pattern)))
    return found


def uncovered(old_root: str, new_root: str, rules: Sequence[Rule], top: str = "etc") -> list[str]:
    """Files of the running /etc that no rule carries and that the new image does not have as they are."""
    out = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(old_root, top)):
        dirnames.sort()
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), old_root)
            if covered(rel, rules) or any(fnmatch.fnmatch(rel, p) for p in IGNORED):
                continue
            if not _same(os.path.join(old_root, rel), os.path.join(new_root, rel)):
                out.append("/" + rel)
    return out


def _same(a: str, b: str) -> bool:
    if os.path.islink(a) or os.path.islink(b):
        return os.path.islink(a) and os.path.islink(b) and os.readlink(a) == os.readlink(b)
    if not os.path.isfile(b):
        return False
    try:
        return filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def copy_path(old_root: str, new_root: str, rel: str) -> None:
    """Replace new_root/rel with a copy of old_root/rel (owner, mode and times kept)."""
    src, dst = os.path.join(old_root, rel), os.path.join(new_root, rel)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    elif os.path.lexists(dst):
        os.remove(dst)
    if os.path.isdir(src) and not os.path.islink(src):
        shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)
        _copy_owners(src, dst)
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
        _copy_owner(src, dst)


def _copy_owner(src: str, dst: str) -> None:
    st = os.lstat(src)
    try:
        os.lchown(dst, st.st_uid, st.st_gid)
    except PermissionError:  # not root (tests): the content and mode are what matters there
        pass


def _copy_owners(src: str, dst: str) -> None:
    _copy_owner(src, dst)
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            _copy_owner(path, os.path.join(dst, os.path.relpath(path, src)))


def carry_over(old_root: str, new_root: str, rules: Iterable[Rule]) -> dict[str, list[str]]:
    """Copy what each rule names; returns rule -> the paths carried (for the report)."""
    done: dict[str, list[str]] = {}
    for rule in rules:
        paths = matches(old_root, rule)
        for rel in paths:
            copy_path(old_root, new_root, rel)
        done[rule.what] = ["/" + p for p in paths]
    return done


def carry_over_action(runner: Runner, p: Mapping[str, Any]) -> None:
    """Named action: carry over by rule, then write the report (carried + uncovered) as JSON."""
    old, new = str(p.get("old_root", "/")), str(p["target"])
    rules = rules_for(bool(p.get("var_separate", True)))
    report = {"carried": carry_over(old, new, rules), "uncovered": uncovered(old, new, rules)}
    runner.write_file(str(p["report"]), json.dumps(report, indent=1, sort_keys=True) + "\n")


def fstab_for_new_root(running: str, root_spec: str) -> str:
    """The running fstab with its "/" line pointed at the new root (the other file systems, /var
    included, stay exactly as they are)."""
    out = []
    for line in running.splitlines():
        fields = line.split()
        if len(fields) >= 2 and not line.lstrip().startswith("#") and fields[1] == "/":
            fields[0] = root_spec
            line = "  ".join(fields)
        out.append(line)
    return "\n".join(out) + "\n"
