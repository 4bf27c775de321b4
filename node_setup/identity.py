"""Node identity files: hostname, NTP (chrony), timezone, keyboard, admin password, SSH, remote syslog.

Pure functions render file contents from the model; `identity_steps` turns them into plan steps
relative to a root ("/" on a running node, the target's mount point in the installer). The admin
password only ever travels as a crypt hash wrapped in a Secret (masked in plans, logs, journals).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from node_setup.model import NodeConfig, Ssh, Syslog
from nodecore import passwords
from nodecore.plan import Step
from nodecore.secrets import Secret

ADMIN_USER = "root"
SSH_UNIT = "ssh.service"
SSH_UNIT_PATH = "/lib/systemd/system/ssh.service"
SSH_WANTS = "etc/systemd/system/multi-user.target.wants/ssh.service"


def hash_password(password: Secret) -> Secret:
    """yescrypt hash of a plaintext password (nodecore.passwords); an existing crypt hash is kept.

    validate() has checked both: the hash's alphabet has no ':' or newline, so the
    `root:HASH` line for chpasswd -e and the shadow line stay one line with two fields."""
    value = password.reveal()
    if value.startswith("$"):
        return Secret(value)
    return Secret(passwords.hash_password(value, account=ADMIN_USER))


def set_shadow_hash(shadow: str, user: str, hashed: str) -> str:
    """/etc/shadow text with `user`'s password field replaced (the line is added when missing)."""
    out, found = [], False
    for line in shadow.splitlines():
        fields = line.split(":")
        if fields and fields[0] == user and len(fields) >= 2:
            fields[1] = hashed
            line, found = ":".join(fields), True
        out.append(line)
    if not found:
        out.append(f"{user}:{hashed}:19000:0:99999:7:::")
    return "\n".join(out) + "\n"


def chrony_conf(servers: tuple[str, ...]) -> str:
    lines = ["# written by hcinode (node_setup); edit with `hcinode node set ntp`",
             *(f"server {s} iburst" for s in servers),
             "sourcedir /run/chrony-dhcp", "sourcedir /etc/chrony/sources.d",
             "driftfile /var/lib/chrony/chrony.drift", "ntsdumpdir /var/lib/chrony",
             "logdir /var/log/chrony", "maxupdateskew 100.0", "rtcsync", "makestep 1 3", "leapsectz right/UTC"]
    return "\n".join(lines) + "\n"


def sshd_conf(ssh: Ssh) -> str:
    root = "no" if not ssh.root_login else ("yes" if ssh.password_login else "prohibit-password")
    return ("# written by hcinode (node_setup)\n"
            f"PasswordAuthentication {'yes' if ssh.password_login else 'no'}\n"
            f"KbdInteractiveAuthentication {'yes' if ssh.password_login else 'no'}\n"
            f"PermitRootLogin {root}\n")


def rsyslog_conf(s: Syslog) -> str:
    target = f"[{s.host}]" if ":" in s.host else s.host
    marker = "@@" if s.protocol == "tcp" else "@"
    return f"# written by hcinode (node_setup): forward everything to {s.host}\n*.* {marker}{target}:{s.port}\n"


CONCERNS = ("hostname", "ntp", "timezone", "keyboard", "password", "ssh", "syslog")


@dataclass(frozen=True)
class FileSpec:
    path: str  # absolute on the node
    content: str | Secret
    mode: int = 0o644
    concern: str = ""  # one of CONCERNS


def read_time_keyboard(root: str = "/") -> NodeConfig:
    """The time zone, NTP servers and keyboard a node has now, read from the files
    `identity_files` writes (and their usual Debian alternatives), without timedatectl or D-Bus:
    /etc/timezone or the /etc/localtime link, chrony's server/pool lines (chrony.conf and
    conf.d/sources.d), /etc/default/keyboard (else /etc/vconsole.conf). "" / () where none is set."""
    def read(path: str) -> str:
        try:
            with open(_in_root(root, path), encoding="utf-8", errors="replace") as f:
                return f.read(1 << 20)
        except OSError:
            return ""

    timezone = read("/etc/timezone").strip().splitlines()[0:1]
    zone = timezone[0].strip() if timezone else ""
    if not zone:
        try:
            target = os.readlink(_in_root(root, "/etc/localtime"))
        except OSError:
            target = ""
        zone = target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""
    sources = [read("/etc/chrony/chrony.conf") or read("/etc/chrony.conf")]
    for folder in ("/etc/chrony/conf.d", "/etc/chrony/sources.d"):
        try:
            names = sorted(os.listdir(_in_root(root, folder)))
        except OSError:
            names = []
        sources += [read(f"{folder}/{n}") for n in names if n.endswith((".conf", ".sources"))]
    servers = [line.split()[1] for text in sources for line in text.splitlines()
               if len(line.split()) > 1 and line.split()[0] in ("server", "pool", "peer")]
    keyboard = dict(_shell_vars(read("/etc/default/keyboard")))
    layout = keyboard.get("XKBLAYOUT", "").split(",")[0]
    variant = keyboard.get("XKBVARIANT", "").split(",")[0]
    kbd = f"{layout}-{variant}" if layout and variant else layout
    if not kbd:
        kbd = dict(_shell_vars(read("/etc/vconsole.conf"))).get("KEYMAP", "")
    return NodeConfig(timezone=zone, ntp_servers=tuple(dict.fromkeys(servers)), keyboard=kbd)


def _shell_vars(text: str) -> list[tuple[str, str]]:
    """NAME="value" lines of a shell-style settings file (no expansion: the files are plain)."""
    out = []
    for line in text.splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name.isidentifier():
            out.append((name, value.strip().strip("'\"")))
    return out


def identity_files(config: NodeConfig) -> list[FileSpec]:
    """The files the identity part of the config owns (password excluded: see identity_steps)."""
    files: list[FileSpec] = []
    if config.hostname:
        files.append(FileSpec("/etc/hostname", config.hostname + "\n", concern="hostname"))
    if config.ntp_servers:
        files.append(FileSpec("/etc/chrony/chrony.conf", chrony_conf(config.ntp_servers), concern="ntp"))
    if config.timezone:
        files.append(FileSpec("/etc/timezone", config.timezone + "\n", concern="timezone"))
    if config.keyboard:
        layout, _, variant = config.keyboard.partition("-")
        files.append(FileSpec("/etc/default/keyboard", f'XKBMODEL="pc105"\nXKBLAYOUT="{layout}"\n'
                              f'XKBVARIANT="{variant}"\nXKBOPTIONS=""\nBACKSPACE="guess"\n', concern="keyboard"))
        files.append(FileSpec("/etc/vconsole.conf", f"KEYMAP={config.keyboard}\n", concern="keyboard"))
    if config.ssh is not None:
        files.append(FileSpec("/etc/ssh/sshd_config.d/50-hcinode.conf", sshd_conf(config.ssh), concern="ssh"))
        if config.ssh.authorized_keys:
            files.append(FileSpec(f"/{ADMIN_USER}/.ssh/authorized_keys".replace("//", "/"),
                                  "".join(k.strip() + "\n" for k in config.ssh.authorized_keys), 0o600, "ssh"))
    if config.syslog is not None and config.syslog.host:
        files.append(FileSpec("/etc/rsyslog.d/50-hcinode-remote.conf", rsyslog_conf(config.syslog),
                              concern="syslog"))
    return files


def _in_root(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/")) if root not in ("", "/") else path


def identity_steps(desired: NodeConfig, current: NodeConfig | None, *, root: str = "/",
                   live: bool = True, only: tuple[str, ...] = CONCERNS) -> list[Step]:
    """Steps that make the node's identity match `desired`.

    `current` (the last applied config, if known) drops steps for settings that did not change.
    `live` adds what a running node needs on top of files (set the kernel hostname, restart
    services, change the password with chpasswd); without it (installer) files are all there is.
    `only` limits the steps to some concerns (`hcinode node set ntp ...` touches NTP alone).
    """
    steps: list[Step] = []
    old_files = {f.path: f for f in identity_files(current)} if current is not None else {}
    for spec in identity_files(desired):
        if old_files.get(spec.path) == spec or spec.concern not in only:
            continue
        steps.append(Step(f"Write {spec.path}", action="write_file",
                          params={"path": _in_root(root, spec.path), "content": spec.content, "mode": spec.mode}))
    changed = {s.params["path"] for s in steps}

    def was(path: str) -> bool:
        return _in_root(root, path) in changed

    if "timezone" in only and desired.timezone and (current is None or current.timezone != desired.timezone):
        steps.append(Step(f"Set the time zone to {desired.timezone}", action="symlink",
                          params={"path": _in_root(root, "/etc/localtime"),
                                  "target": f"/usr/share/zoneinfo/{desired.timezone}"}))
    old_ssh = current.ssh if current is not None else None
    enable_changed = "ssh" in only and desired.ssh is not None and (
        old_ssh is None or old_ssh.enabled != desired.ssh.enabled)
    if live:
        if was("/etc/hostname"):
            steps.append(Step(f"Set the running host name to {desired.hostname}", argv=("hostname", desired.hostname)))
        if was("/etc/chrony/chrony.conf"):
            steps.append(Step("Restart chrony with the new NTP servers", action="try_restart",
                              params={"unit": "chrony.service"}))
        if was("/etc/rsyslog.d/50-hcinode-remote.conf"):
            # restart, not try-restart: the image's rsyslog only starts once a target exists
            steps.append(Step("Restart rsyslog for remote logging", action="restart",
                              params={"unit": "rsyslog.service"}))
        if enable_changed and desired.ssh is not None:
            verb = "enable" if desired.ssh.enabled else "disable"
            if desired.ssh.enabled:
                # a node whose host keys were never made (a live medium, a fresh image) cannot start sshd
                steps.append(Step("Generate missing SSH host keys", argv=("ssh-keygen", "-A")))
            steps.append(Step(f"{verb.capitalize()} the SSH server", action="service_enable",
                              params={"unit": SSH_UNIT, "enable": desired.ssh.enabled}))
        if was("/etc/ssh/sshd_config.d/50-hcinode.conf") and desired.ssh is not None and desired.ssh.enabled:
            # also after `enable --now`: it leaves an sshd that already runs (an installed node) on its old settings
            steps.append(Step("Restart the SSH server with the new settings", action="try_restart",
                              params={"unit": SSH_UNIT}))
    elif enable_changed and desired.ssh is not None:
        wants = _in_root(root, SSH_WANTS)
        if desired.ssh.enabled:
            steps.append(Step("Enable the SSH server at boot", action="symlink",
                              params={"path": wants, "target": SSH_UNIT_PATH}))
        else:
            steps.append(Step("Disable the SSH server at boot", action="remove", params={"path": wants}))
    if "password" in only and desired.admin_password is not None and (
            current is None or current.admin_password != desired.admin_password):
        hashed = hash_password(desired.admin_password)
        if live:
            steps.append(Step(f"Set the {ADMIN_USER} password", argv=("chpasswd", "-e"),
                              stdin=Secret(f"{ADMIN_USER}:{hashed.reveal()}")))
        else:
            steps.append(Step(f"Set the {ADMIN_USER} password", action="set_shadow_hash",
                              params={"path": _in_root(root, "/etc/shadow"), "user": ADMIN_USER, "hash": hashed}))
    return steps
