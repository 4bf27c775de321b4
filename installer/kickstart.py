"""Kickstart front end: pykickstart parses, we translate to InstallConfig and back.

Anything we cannot honour is an error naming its line: an unknown command, a known command we do
not support (`url`, `repo`, `firewall`...), an option of a supported command that we would
otherwise silently drop (`part --encrypted`, `network --teamslaves`), and sections other than
%pre/%post/%onerror/%hcinode (`%packages`: the node image is fixed). Every problem is reported at
once, like ksvalidator does with its error list.

`%include` of a file that a `%pre` script writes (a common pattern: generate `part` lines from
the disks present) works in two passes, as in anaconda: parse without includes, run %pre, parse
again with them (`parse(..., follow_includes=True)`).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from pykickstart import constants
from pykickstart.errors import KickstartError, KickstartParseWarning
from pykickstart.parser import KickstartParser, PutBackIterator
from pykickstart.sections import Section
from pykickstart.version import makeVersion

from installer.config import (
    Bootloader,
    InstallConfig,
    LogicalVolume,
    Network,
    NetworkDevice,
    NodeSettings,
    Partition,
    Payload,
    RootPassword,
    Script,
    SshKey,
    Storage,
    Time,
    User,
    VolumeGroup,
)
from nodecore import pki
from nodecore.passwords import WEAK_HASHES, hash_password, hash_problem, hash_scheme, password_problem
from nodecore.report import ValidationReport
from nodecore.secrets import Secret, mask_url

SUPPORTED_COMMANDS = frozenset({
    "network", "rootpw", "sshkey", "user", "timezone", "timesource", "keyboard", "lang", "zerombr",
    "clearpart", "ignoredisk", "autopart", "reqpart", "part", "partition", "volgroup", "logvol",
    "bootloader", "liveimg", "reboot", "poweroff", "shutdown", "text", "eula",
})

# Attributes of pykickstart's data objects that we translate (everything else that differs from
# the default means an option we would ignore: an error).
_BOOKKEEPING = {"lineno", "seen", "currentCmd", "currentLine", "handler", "op", "writePriority", "deleteRemovedAttrs"}
SUPPORTED_OPTIONS: dict[str, set[str]] = {
    "network": {"device", "bootProto", "ip", "netmask", "gateway", "nameserver", "hostname", "ipv6",
                "ipv6gateway", "noipv4", "noipv6", "vlanid", "interfacename", "bondslaves", "bondopts",
                "bridgeslaves", "bridgeopts", "activate", "onboot", "mtu"},
    "rootpw": {"password", "isCrypted", "lock"},
    "user": {"name", "password", "isCrypted", "groups", "uid", "gecos", "homedir", "shell", "lock"},
    "sshkey": {"username", "key", "sshkey"},
    "timezone": {"timezone", "isUtc", "ntpservers", "nontp"},
    "timesource": {"ntp_server", "ntp_pool", "ntp_disable"},
    "keyboard": {"vc_keymap", "x_layouts", "_keyboard", "keyboard"},
    "lang": {"lang"},
    "zerombr": {"zerombr"},
    "clearpart": {"type", "drives", "initAll", "devices"},
    "ignoredisk": {"onlyuse"},
    "autopart": {"autopart", "type", "fstype", "lvm", "typeMap"},
    "reqpart": {"reqpart", "addBoot"},
    "part": {"mountpoint", "mntpoint", "size", "grow", "maxSizeMB", "fstype", "disk", "label", "fsopts",
             "recommended", "hibernation"},
    "volgroup": {"vgname", "physvols", "name", "partitions", "pesize"},
    "logvol": {"mountpoint", "mntpoint", "name", "vgname", "size", "grow", "percent", "maxSizeMB", "fstype",
               "fsopts", "thin_pool", "thin_volume", "pool_name", "metadata_size", "chunk_size", "recommended",
               "hibernation"},
    "bootloader": {"appendLine", "timeout", "location"},
    "liveimg": {"url", "checksum"},
    "reboot": {"action", "eject"},
    "text": {"displayMode"},
    "eula": {"agreed"},
}
SUPPORTED_OPTIONS["partition"] = SUPPORTED_OPTIONS["part"]
SUPPORTED_OPTIONS["poweroff"] = SUPPORTED_OPTIONS["shutdown"] = SUPPORTED_OPTIONS["reboot"]

NODE_KEYS = ("engine_url", "join_token", "ca_fingerprint", "gluster_role")
JOIN_KEYS = ("engine_url", "join_token", "ca_fingerprint")  # all three, or none
GLUSTER_ROLES = ("none", "replica", "arbiter")


@dataclass(frozen=True)
class ParsedKickstart:
    config: InstallConfig
    report: ValidationReport
    includes: tuple[str, ...]  # %include paths seen (pass 2 reads them)


class _HcinodeSection(Section):  # type: ignore[misc]
    """%hcinode: `key = value` lines (see NODE_KEYS)."""

    sectionOpen = "%hcinode"

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.lines: list[tuple[int, str]] = []
        self.header_lineno = 0

    def handleHeader(self, lineno: int, args: list[str]) -> None:
        self.header_lineno = lineno
        if len(args) > 1:
            raise KickstartError(f"%hcinode takes no options (got {' '.join(args[1:])})", lineno=lineno)

    def handleLine(self, line: str) -> None:
        self.lines.append((self.header_lineno + len(self.lines) + 1, line))


MAX_INCLUDE_DEPTH = 8  # anaconda has no limit; a loop (a.ks includes itself) recursed until Python gave up


class _CountingLines(PutBackIterator):  # type: ignore[misc]
    """pykickstart's line iterator, knowing the number of the line it handed out last: its
    shlex.split raises a bare ValueError ("No closing quotation") that carries no line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines)
        self.lineno = 0

    def put(self, s: str) -> None:
        super().put(s)
        self.lineno -= 1

    def next(self) -> str:
        line: str = super().next()
        self.lineno += 1
        return line


class _Parser(KickstartParser):  # type: ignore[misc]
    """Collects every error with its line instead of stopping at the first, and records commands."""

    def __init__(self, handler: Any, follow_includes: bool) -> None:
        self.problems: list[tuple[int, str, str]] = []  # (line of the kickstart, message, hint)
        self.warnings: list[str] = []
        self.commands_seen: list[tuple[int, str, Any]] = []
        self.args_of: dict[int, list[str]] = {}  # id(data object) -> the line's arguments
        self.includes: list[str] = []
        self._files: list[_File] = []  # one per file being read (the kickstart, then %includes)
        super().__init__(handler, followIncludes=follow_includes, errorsAreFatal=False,
                         missingIncludeIsFatal=True, unknownSectionIsFatal=False)

    def setupSections(self) -> None:
        super().setupSections()
        # Only the sections we run: an unregistered section is an "Unknown kickstart section" error.
        for name in ("%packages", "%pre-install", "%traceback", "%addon", "%anaconda"):
            self._sections.pop(name, None)
        self.hcinode = _HcinodeSection(self.handler)
        self.registerSection(self.hcinode)

    def handleCommand(self, lineno: int, args: list[str]) -> Any:
        cmd = args[0]
        # a command of an %include is located at the kickstart's %include line (its own line
        # numbers would name some other line of the kickstart); _tryFunc names the included line
        lineno = self._kickstart_line(lineno)
        if cmd in self.handler.commands and cmd not in SUPPORTED_COMMANDS:
            raise KickstartError(f"command '{cmd}' is not supported by the hcinode installer", lineno=lineno)
        obj = super().handleCommand(lineno, args)
        self.commands_seen.append((lineno, cmd, obj))
        self.args_of[id(obj)] = list(args)
        return obj

    def _handleInclude(self, f: str) -> None:
        self.includes.append(f)
        if self.followIncludes and self._includeDepth >= MAX_INCLUDE_DEPTH:
            raise KickstartError(f"%include {f}: includes nested deeper than {MAX_INCLUDE_DEPTH} "
                                 "(does a file include itself?)", lineno=self._kickstart_line())
        super()._handleInclude(f)

    def _kickstart_line(self, lineno: int | None = None) -> int:
        """The kickstart's line for `lineno` of the file being read: inside an %include, the line
        of the kickstart's %include."""
        if len(self._files) > 1 or lineno is None:
            return self._files[0].lines.lineno if self._files else 0
        return lineno

    def _problem(self, lineno: int, message: str, hint: str = "") -> None:
        """A problem at `lineno` of the file being read, located in the kickstart."""
        if len(self._files) > 1:
            message = f"{message} (in %include {self._files[-1].name} at its line {lineno})"
        self.problems.append((self._kickstart_line(lineno), message, hint))

    def readKickstartFromString(self, s: str, reset: bool = True) -> None:
        if reset:
            self._reset()
        self._read(s, "kickstart")

    def _read(self, s: str, name: str) -> None:
        """One file (the kickstart or an %include): its secrets registered and its lines checked
        before pykickstart sees them, then parsed."""
        lines = _CountingLines(s.splitlines(True) + [""])
        scan = _scan_text(s)
        self._files.append(_File(name, lines, scan.secret_lines))
        for lineno in scan.hash_cut:
            self._problem(lineno, f"{scan.secret_lines[lineno]}: '#' inside an unquoted password starts a "
                          "kickstart comment, so the password would be cut there", "put the password in single quotes")
        for lineno in scan.ksappend:
            # anaconda pastes the file in before parsing (pykickstart's preprocess step), which we do not run
            self._problem(lineno, "%ksappend is not supported by the hcinode installer",
                          "use %include with the same file or URL (it is read after %pre runs)")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", KickstartParseWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                self._stateMachine(lines)
            for w in caught:
                self._parse_warning(w)
        except KickstartError as exc:
            if str(exc.message).strip():
                raise
            # pykickstart's only message-less error: a bare `%include` (it stops reading the file)
            self._problem(lines.lineno, "%include needs a file or URL")
        except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
            inside = f" (in an %include at its line {lines.lineno})" if len(self._files) > 1 else ""
            raise KickstartError(f"{exc}{inside}: close the quote, or escape it with a backslash",
                                 lineno=self._kickstart_line(lines.lineno)) from None
        finally:
            self._files.pop()

    def _parse_warning(self, w: warnings.WarningMessage) -> None:
        if not issubclass(w.category, KickstartParseWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return
        m = re.search(r"line (\d+): (%\S+)", str(w.message))
        if m:  # an unregistered section: everything but %pre/%post/%onerror/%hcinode
            self._problem(int(m.group(1)), f"section {m.group(2)} is not supported by the hcinode installer")
        elif "has already been defined" not in str(w.message):
            # (pykickstart warns about every VLAN on the same parent; real duplicates are checked by us)
            self.warnings.append(str(w.message).strip())

    def readKickstart(self, f: str, reset: bool = True) -> None:
        """An %include (pass 2): read through installer.sources, bounded like the kickstart itself
        (pykickstart's own loader reads /dev/zero or an endless URL until memory runs out)."""
        from installer.sources import SourceError, fetch_http, read_local

        if reset:
            self._reset()
        depth = self._includeDepth
        if not re.match(r"^https?://", f) and not os.path.exists(f) and depth - 1 in self.currentdir:
            near = os.path.join(self.currentdir[depth - 1], f)  # relative to the including file, as pykickstart
            f = near if os.path.exists(near) else f
        self.currentdir[depth] = os.path.dirname(os.path.abspath(f))
        try:
            data = fetch_http(f, attempts=1) if re.match(r"^https?://", f) else read_local(f, "the %include")
            text = data.decode("utf-8")
        except SourceError as exc:
            raise KickstartError(str(exc), lineno=self._kickstart_line()) from None
        except UnicodeDecodeError:
            raise KickstartError(f"%include {f} is not UTF-8 text", lineno=self._kickstart_line()) from None
        self._read(text, mask_url(f))

    def _tryFunc(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except KickstartError as exc:
            self.errorsCount += 1
            current = self._files[-1]
            lineno = current.lines.lineno if len(self._files) > 1 else exc.lineno or 0
            message = str(exc.message).strip()
            if lineno in current.secret_lines and _extra_words(message):
                # pykickstart lists the extra words: the rest of a password with a space in it
                message = (f"{current.secret_lines[lineno]}: the password is more than one word; quote a "
                           "password with spaces (--password='...' or rootpw --plaintext '...')")
            self._problem(lineno, message)


@dataclass(frozen=True)
class _File:
    name: str  # "kickstart", or the %include's path or (masked) URL
    lines: _CountingLines
    secret_lines: dict[int, str]  # line -> the command whose secret it carries


def _line_of(field_path: str) -> int:
    return int(field_path.split(":")[1]) if field_path.startswith("kickstart:") else 0


def _at(line: int) -> str:
    return f"kickstart:{line}" if line else "kickstart"


def _split(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).replace(";", ",").split(",")
    return tuple(i.strip() for i in items if i.strip())


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _defaults(cmd_obj: Any, data: Any) -> dict[str, Any]:
    """What the data object looks like when the command is given no options."""
    cls = type(data)
    try:
        fresh = cls() if data is not cmd_obj else cls(writePriority=0)
    except TypeError:
        return {}
    return dict(vars(fresh))


def _option_names(cmd_obj: Any) -> dict[str, str]:
    """pykickstart attribute -> the option a user writes (`format` -> `--noformat`)."""
    try:
        actions = cmd_obj._getParser()._actions
    except AttributeError:
        return {}
    names: dict[str, str] = {}
    for action in actions:
        if action.option_strings:
            names.setdefault(action.dest, "/".join(o for o in action.option_strings if o != "--help"))
    return names


def _unsupported_options(cmd: str, lineno: int, data: Any, default: dict[str, Any], names: dict[str, str],
                         report: ValidationReport) -> None:
    allowed = SUPPORTED_OPTIONS.get(cmd, set()) | _BOOKKEEPING
    for key, value in vars(data).items():
        if key in allowed or key.startswith("_"):
            continue
        # an option switched off (`--noformat`: True -> False) counts; "nothing given" values do not
        unset = value in (None, "", [], 0) and not (value is False and default.get(key) is True)
        if key in default and default[key] != value and not unset:
            report.error(_at(lineno), f"{cmd}: option {names.get(key, key)} is not supported by the hcinode "
                         "installer", "remove it; the installer never ignores an option silently")


def parse(text: str, *, source: str = "kickstart", follow_includes: bool = False) -> ParsedKickstart:
    """Parse kickstart text into an InstallConfig; every problem lands in the report."""
    report = ValidationReport(source=source)
    handler = makeVersion()
    parser = _Parser(handler, follow_includes)
    try:
        parser.readKickstartFromString(text)
    except KickstartError as exc:  # e.g. a missing %include while following includes
        parser.problems.append((exc.lineno or 0, str(exc.message).strip(), ""))
    for message in parser.warnings:
        report.warning("kickstart", message)
    for lineno, message, hint in sorted(parser.problems, key=lambda p: p[0]):
        report.error(_at(lineno), message, hint)

    config = _translate(handler, parser, report)
    report.problems.sort(key=lambda p: (p.severity != "error", _line_of(p.field)))
    return ParsedKickstart(config, report, tuple(parser.includes))


_PASSWORD_OPTIONS = {"rootpw": ("",), "user": ("--password", "--password=")}


@dataclass(frozen=True)
class _Scan:
    secret_lines: dict[int, str]  # line -> the command whose password or token it carries
    hash_cut: list[int]  # lines whose unquoted password a '#' would cut
    ksappend: list[int]  # %ksappend lines


def _scan_text(text: str) -> _Scan:
    """Before pykickstart sees a file (the kickstart or an %include): register every word of a
    password or join token as a Secret (so no error message or log line can show it, even one that
    pykickstart builds from the line), find unquoted passwords with a '#' in them (pykickstart,
    like anaconda, cuts a word at '#'), and the %ksappend lines (anywhere: anaconda replaces them
    even inside a script)."""
    lines: dict[int, str] = {}
    cut: list[int] = []
    ksappend: list[int] = []
    section = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        words = line.split()
        if not words:
            continue
        if words[0] == "%ksappend":
            ksappend.append(lineno)
            continue
        if words[0].startswith("%") and words[0] != "%include":
            section = "" if words[0] == "%end" else words[0]
            continue
        if section == "%hcinode" and re.match(r"^join_token\b", line):
            lines[lineno] = "join_token"
            value = re.split(r"\s+#", re.sub(r"^join_token\s*[=:]?\s*", "", line))[0]
            for word in (value, value.strip("'\""), *value.split()):
                Secret(word)
        elif not section and words[0] in _PASSWORD_OPTIONS:
            secret_words = _password_words(words, _PASSWORD_OPTIONS[words[0]])
            if secret_words:
                lines[lineno] = words[0]
                for word in secret_words:
                    Secret(word)
                    Secret(word.strip("'\""))
                if _unquoted_hash(line):
                    cut.append(lineno)
    return _Scan(lines, cut, ksappend)


def _extra_words(message: str) -> bool:
    """pykickstart's "Unexpected arguments to rootpw command: ['x']" / "unrecognized arguments: x"
    name words that are not options: on a password line, pieces of the password."""
    m = re.fullmatch(r"(?:Unexpected arguments to \S+ command|unrecognized arguments):(.*)", message, re.S)
    return m is not None and any(not w.strip("[]',\"").startswith("--") for w in m.group(1).split())


def _password_words(words: list[str], options: tuple[str, ...]) -> list[str]:
    """The words of a rootpw/user line that are (part of) the password: rootpw's positional words;
    user's --password value and the words after it up to the next option."""
    out: list[str] = []
    taking = options == ("",)
    for word in words[1:]:
        if word.startswith("#"):
            break  # a comment (a '#' inside a word is _unquoted_hash's business)
        if word.startswith("--password="):
            out.append(word.split("=", 1)[1])
            taking = True
        elif word == "--password":
            taking = True
        elif word.startswith("--"):
            taking = options == ("",)
        elif taking:
            out.append(word)
    return [w for w in out if w]


def _unquoted_hash(line: str) -> bool:
    """A '#' in the middle of an unquoted word (shlex, as pykickstart uses it, ends the line there);
    a '#' after a space starts an ordinary comment."""
    quote = ""
    previous = " "
    for char in line:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#":
            return not previous.isspace()
        previous = char
    return False


def _translate(h: Any, parser: _Parser, report: ValidationReport) -> InstallConfig:
    c = h.commands
    seen = {cmd for _, cmd, _ in parser.commands_seen}
    defaults: dict[int, dict[str, Any]] = {}
    for lineno, cmd, obj in parser.commands_seen:
        if obj is None:
            continue
        key = id(obj)
        if key not in defaults:
            defaults[key] = _defaults(c.get(cmd), obj)
        _unsupported_options(cmd, lineno, obj, defaults[key], _option_names(c.get(cmd)), report)

    # network
    devices: list[NetworkDevice] = []
    hostname = ""
    for nd in c["network"].dataList():
        if nd.hostname:
            if hostname and hostname != nd.hostname:
                report.error(_at(nd.lineno), f"a second hostname {nd.hostname!r} (first was {hostname!r})")
            hostname = nd.hostname
        fresh = _defaults(c["network"], nd)
        if all(fresh.get(k) == v or not (fresh.get(k) or v) for k, v in vars(nd).items()
               if k not in _BOOKKEEPING | {"hostname"}):
            continue  # a hostname-only line: `network --hostname=x`
        args = parser.args_of.get(id(nd), [])
        for option in ("--bondslaves", "--bridgeslaves"):
            if _given_empty(args, option):
                report.error(_at(nd.lineno), f"network {option} is empty", f"name the {option[2:-6]} ports: "
                             f"{option}=ens3,ens4")
        if nd.bondslaves and nd.bridgeslaves:
            report.error(_at(nd.lineno), "network: --bondslaves and --bridgeslaves on one line",
                         "make the bond on one line and the bridge on another (--bridgeslaves=BOND)")
        proto: Any = nd.bootProto or "dhcp"
        if proto not in ("dhcp", "static", "none"):
            report.error(_at(nd.lineno), f"network --bootproto={proto} is not supported (use dhcp, static or none)")
            proto = "dhcp"
        vlan = None
        if nd.vlanid not in (None, ""):
            try:
                vlan = int(nd.vlanid)
            except ValueError:
                report.error(_at(nd.lineno), f"network --vlanid={nd.vlanid!r} is not a number")
        mtu = None
        if nd.mtu:
            try:
                mtu = int(nd.mtu)
            except ValueError:
                report.error(_at(nd.lineno), f"network --mtu={nd.mtu!r} is not a number")
        devices += _network_devices(NetworkDevice(
            device=nd.device or "", bootproto=proto, ip=nd.ip or "", netmask=nd.netmask or "",
            gateway=nd.gateway or "", nameservers=_split(nd.nameserver), ipv6=nd.ipv6 or "",
            ipv6gateway=nd.ipv6gateway or "", noipv4=bool(nd.noipv4), noipv6=bool(nd.noipv6), vlanid=vlan,
            interfacename=nd.interfacename or "", bondslaves=_split(nd.bondslaves), bondopts=nd.bondopts or "",
            bridgeslaves=_split(nd.bridgeslaves), bridgeopts=nd.bridgeopts or "", activate=bool(nd.activate),
            onboot=nd.onboot is not False, mtu=mtu, lineno=nd.lineno))

    # root password: plaintext is checked against the policy and hashed right here
    rp = c["rootpw"]
    rootpw = RootPassword(locked=bool(rp.lock))
    if rp.seen and rp.password:
        rootpw = RootPassword(_password_hash(rp.password, rp.isCrypted, "rootpw", rp.lineno, report, "root"),
                              bool(rp.lock))

    users = []
    for ud in c["user"].dataList():
        pw = _password_hash(ud.password, ud.isCrypted, f"user {ud.name}", ud.lineno, report,
                            ud.name) if ud.password else ""
        users.append(User(name=ud.name, password_hash=pw, groups=_split(ud.groups), uid=ud.uid,
                          gecos=ud.gecos or "", homedir=ud.homedir or "", shell=ud.shell or "",
                          locked=bool(ud.lock), lineno=ud.lineno))
    sshkeys = tuple(SshKey(sk.username, sk.key) for sk in c["sshkey"].dataList())

    tz = c["timezone"]
    ntp = list(_split(getattr(tz, "ntpservers", None)))
    ntp += [ts.ntp_server or ts.ntp_pool for ts in c["timesource"].dataList()
            if (ts.ntp_server or ts.ntp_pool) and not ts.ntp_disable]
    nontp = bool(getattr(tz, "nontp", False)) or any(ts.ntp_disable for ts in c["timesource"].dataList())
    zone = tz.timezone or "UTC"
    if isinstance(zone, list):  # `timezone Europe/Berlin x`: pykickstart reported the line, but keeps the list
        zone = "UTC"
    time = Time(timezone=zone, utc=bool(tz.isUtc) or not tz.seen, ntpservers=tuple(ntp), nontp=nontp)

    keyboard = _keyboard(c["keyboard"], report)

    storage = _storage(c, report)

    bl = c["bootloader"]
    bootloader = Bootloader(append=bl.appendLine or "", timeout=bl.timeout,
                            location=bl.location if bl.seen and bl.location in ("none", "partition", "boot") else "mbr")
    li = c["liveimg"]
    payload = Payload(url=li.url or "", checksum=(li.checksum or "").lower())

    scripts = []
    kinds = {constants.KS_SCRIPT_PRE: "pre", constants.KS_SCRIPT_POST: "post",
             constants.KS_SCRIPT_ONERROR: "onerror"}
    for s in h.scripts:
        kind = kinds.get(s.type)
        if kind is None:
            report.error(_at(s.lineno), "this script section is not supported (use %pre, %post or %onerror)")
            continue
        scripts.append(Script(kind=kind, body=s.script, interpreter=s.interp or "/bin/sh",  # type: ignore[arg-type]
                              nochroot=kind == "post" and not s.inChroot, erroronfail=bool(s.errorOnFail),
                              log=s.logfile or "", lineno=s.lineno or 0))

    finish = "reboot"
    for lineno, cmd, _ in parser.commands_seen:
        if cmd in ("poweroff", "shutdown"):
            finish = "poweroff"
        elif cmd == "reboot":
            finish = "reboot"
        if cmd in ("reboot", "poweroff", "shutdown") and c["reboot"].eject:
            report.warning(_at(lineno), f"{cmd} --eject: the node media is not ejected (no effect)")

    node = _node_settings(parser.hcinode, report)
    if "eula" in seen and not c["eula"].agreed:
        report.error(_at(c["eula"].lineno), "eula must be given as 'eula --agreed'")

    return InstallConfig(
        network=Network(tuple(devices), hostname), rootpw=rootpw, users=tuple(users), sshkeys=sshkeys,
        time=time, keyboard=keyboard, lang=c["lang"].lang or "en_US.UTF-8", storage=storage,
        bootloader=bootloader, payload=payload, scripts=tuple(scripts), finish=finish,  # type: ignore[arg-type]
        text="text" in seen, eula_agreed=bool(c["eula"].agreed), node=node)


def _keyboard(kb: Any, report: ValidationReport) -> str:
    """The node's one layout. As anaconda: --vckeymap, else the first of --xlayouts ("cz (qwerty)"
    is layout cz, variant qwerty). The node has no X server and its console one keymap, so the
    other X layouts (anaconda's layout switching) are not carried: a warning says so."""
    layouts = [re.sub(r"^\s*(\S+)\s*\((\S+)\)\s*$", r"\1-\2", x) for x in kb.x_layouts or ()]
    keyboard = kb.vc_keymap or (layouts[0] if layouts else "") or getattr(kb, "_keyboard", "") or "us"
    unused = [x for x in layouts if x != keyboard]
    if unused:
        report.warning(_at(kb.lineno), f"keyboard: the node's console has one layout ({keyboard}); "
                       f"--xlayouts {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used",
                       "give the one layout the console should use (keyboard --vckeymap=... or --xlayouts=...)")
    return keyboard


def _given_empty(args: list[str], option: str) -> bool:
    """`--bondslaves=` or `--bondslaves ""` on the line (pykickstart cannot tell it from absent)."""
    for i, arg in enumerate(args):
        if arg == f"{option}=" or (arg == option and (i + 1 >= len(args) or not args[i + 1].strip())):
            return True
    return False


def _network_devices(d: NetworkDevice) -> list[NetworkDevice]:
    """One kickstart line as the devices it makes. A VLAN on a bond or bridge in one line, as
    anaconda reads it (`--device=bond0 --bondslaves=ens3,ens4 --vlanid=120 --ip=...`):

    - a bond: bond0 without an address, plus the VLAN bond0.120 (or --interfacename) on it that
      carries the line's addresses, gateway and name servers;
    - a bridge: the bridge's ports are the VLAN on each of --bridgeslaves (ens3.120: the bridge
      carries VLAN 120, the oVirt management network shape) and the addresses stay on the bridge.
      (node_setup puts VLANs on NICs and bonds only, never on a bridge.)
    Splitting here means checks, the first-boot settings and the round trip see ordinary devices."""
    if d.vlanid is None or not (d.bondslaves or d.bridgeslaves):
        return [d]
    untagged = replace(d, bootproto="dhcp", ip="", netmask="", gateway="", nameservers=(), ipv6="",
                       ipv6gateway="", noipv4=True, noipv6=True, vlanid=None, interfacename="")
    if d.bondslaves:
        return [replace(untagged, bridgeslaves=(), bridgeopts=""),
                replace(d, bondslaves=(), bondopts="", bridgeslaves=(), bridgeopts="")]
    vlans = [replace(untagged, device=port, bridgeslaves=(), bridgeopts="", vlanid=d.vlanid)
             for port in d.bridgeslaves]
    return [*vlans, replace(d, vlanid=None, interfacename="",
                            bridgeslaves=tuple(v.connection_name for v in vlans))]


def _password_hash(value: str, is_crypted: bool, what: str, lineno: int, report: ValidationReport,
                   account: str) -> str:
    if is_crypted:
        scheme = hash_scheme(value)
        problem = hash_problem(value)
        if problem:
            report.error(_at(lineno), f"{what}: the --iscrypted value {problem}",
                         "generate one with: mkpasswd -m yescrypt, or openssl passwd -6")
        elif scheme in WEAK_HASHES:
            report.warning(_at(lineno), f"{what}: the hash is md5crypt, which is weak; use SHA-512 ($6$)")
        return value
    problem = password_problem(value)
    if problem:
        report.error(_at(lineno), f"{what}: {problem}")
    return hash_password(value, account=account)


def _storage(c: Any, report: ValidationReport) -> Storage:
    cp = c["clearpart"]
    kind = {constants.CLEARPART_TYPE_ALL: "all", constants.CLEARPART_TYPE_LINUX: "linux",
            constants.CLEARPART_TYPE_LIST: "list", constants.CLEARPART_TYPE_NONE: "none"}.get(cp.type, "none")
    ap = c["autopart"]
    autopart = None
    if ap.seen:
        autopart = {constants.AUTOPART_TYPE_LVM_THINP: "thinp", constants.AUTOPART_TYPE_LVM: "lvm",
                    constants.AUTOPART_TYPE_PLAIN: "plain"}.get(ap.type if ap.type is not None else
                                                                # bare `autopart`: Node NG's thin layout
                                                                constants.AUTOPART_TYPE_LVM_THINP)
        if autopart is None:
            report.error(_at(ap.lineno), "autopart: only --type=thinp, lvm or plain are supported")
    rq = c["reqpart"]
    parts = tuple(Partition(
        mountpoint=p.mountpoint, size_mib=_int(p.size), grow=bool(p.grow), maxsize_mib=_int(p.maxSizeMB),
        fstype=p.fstype or "", ondisk=_split(p.disk), label=p.label or "", fsoptions=p.fsopts or "",
        swap_size=_swap_size(p), lineno=p.lineno) for p in c["part"].dataList())
    vgs = tuple(VolumeGroup(v.vgname, tuple(v.physvols), _int(v.pesize), lineno=v.lineno)
                for v in c["volgroup"].dataList())
    lvs = tuple(LogicalVolume(
        mountpoint=lv.mountpoint, name=lv.name, vgname=lv.vgname, size_mib=_int(lv.size), grow=bool(lv.grow),
        percent=_int(lv.percent), maxsize_mib=_int(lv.maxSizeMB), fstype=lv.fstype or "", fsoptions=lv.fsopts or "",
        thinpool=bool(lv.thin_pool), thin=bool(lv.thin_volume), poolname=lv.pool_name or "",
        metadatasize_mib=_int(lv.metadata_size), chunksize_kib=_int(lv.chunk_size), swap_size=_swap_size(lv),
        lineno=lv.lineno)
        for lv in c["logvol"].dataList())
    if autopart and (parts or vgs or lvs):
        report.error(_at(ap.lineno), "autopart cannot be combined with part/volgroup/logvol")
    return Storage(zerombr=bool(c["zerombr"].zerombr), clearpart=kind, clearpart_drives=_split(cp.drives),  # type: ignore[arg-type]
                   clearpart_list=_split(getattr(cp, "devices", None)), initlabel=bool(cp.initAll),
                   only_use=_split(c["ignoredisk"].onlyuse), autopart=autopart,  # type: ignore[arg-type]
                   autopart_fstype=(ap.fstype or "") if ap.seen else "",
                   reqpart_add_boot=(bool(rq.addBoot) if rq.seen else None),
                   partitions=parts, volgroups=vgs, logvols=lvs)


def _swap_size(data: Any) -> Any:
    # --hibernation implies the recommended size plus the RAM (anaconda)
    return "hibernation" if getattr(data, "hibernation", False) else \
        "recommended" if getattr(data, "recommended", False) else ""


def _node_settings(section: _HcinodeSection, report: ValidationReport) -> NodeSettings:
    values: dict[str, Any] = {}
    for lineno, raw in section.lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z_]+)\s*(?:=|\s)\s*(.*)", line)
        if not m:
            # (not echoing the line: it may be a join token pasted with the wrong separator)
            report.error(_at(lineno), "%hcinode: expected 'key = value' on this line",
                         "known keys: " + ", ".join(NODE_KEYS))
            continue
        key, value = m.group(1), m.group(2).strip().strip('"')
        if key not in NODE_KEYS:
            report.error(_at(lineno), f"%hcinode: unknown key {key!r}", "known keys: " + ", ".join(NODE_KEYS))
            continue
        if key == "gluster_role" and value not in GLUSTER_ROLES:
            report.error(_at(lineno), f"%hcinode: gluster_role must be one of {', '.join(GLUSTER_ROLES)}")
            continue
        if key == "engine_url" and not re.fullmatch(r"https?://\S+", value):
            report.error(_at(lineno), f"%hcinode: engine_url {mask_url(value)!r} is not an http(s) URL")
        if key == "ca_fingerprint":
            try:
                value = pki.normalize_pin(value)  # the join's own rule: sha256:HEX, or the colon form
            except pki.PkiError:
                report.error(_at(lineno), "%hcinode: ca_fingerprint must be a SHA-256 fingerprint (64 hex digits), "
                             "the CA pin `hcinode engine token create` prints")
        if key == "join_token" and not pki.TOKEN_RE.fullmatch(value):  # (the value is never echoed)
            report.error(_at(lineno), "%hcinode: join_token must be ID.SECRET (6 and 32 characters a-z, 0-9) as "
                         "`hcinode engine token create` prints it")
        values[key] = Secret(value) if key == "join_token" else value
    join_keys = [k for k in JOIN_KEYS if values.get(k)]
    if join_keys and len(join_keys) != len(JOIN_KEYS):
        missing = ", ".join(k for k in JOIN_KEYS if k not in join_keys)
        report.error(_at(section.header_lineno),
                     f"%hcinode: joining at first boot needs {', '.join(JOIN_KEYS)} together; missing {missing}")
    return NodeSettings(**values)


# --- rendering: InstallConfig -> kickstart ---------------------------------------------------------

def _q(value: str) -> str:
    return shlex.quote(value)


def _opt(name: str, value: Any) -> str:
    if value is True:
        return f" --{name}"
    if value in (None, "", False, 0, ()):
        return ""
    if isinstance(value, tuple):
        value = ",".join(value)
    return f" --{name}={_q(str(value))}"


def render(config: InstallConfig, *, reveal_secrets: bool = False) -> str:
    """Kickstart text for a config. Passwords appear only as hashes (--iscrypted); the join token
    only when `reveal_secrets` (never in logs or dry-run output)."""
    out = io.StringIO()
    w = out.write
    w("# generated by hcinode\n")
    if config.text:
        w("text\n")
    if config.eula_agreed:
        w("eula --agreed\n")
    w(f"lang {config.lang}\n")
    w(f"keyboard --vckeymap={config.keyboard}\n")
    t = config.time
    w(f"timezone {t.timezone}{' --utc' if t.utc else ''}{' --nontp' if t.nontp else ''}\n")
    for server in t.ntpservers:
        w(f"timesource --ntp-server={server}\n")
    if config.network.hostname and not any(True for _ in config.network.devices):
        w(f"network --hostname={config.network.hostname}\n")
    for i, nd in enumerate(config.network.devices):
        line = "network" + _opt("device", nd.device) + _opt("bootproto", nd.bootproto)
        line += _opt("ip", nd.ip) + _opt("netmask", nd.netmask) + _opt("gateway", nd.gateway)
        line += _opt("nameserver", nd.nameservers) + _opt("ipv6", nd.ipv6) + _opt("ipv6gateway", nd.ipv6gateway)
        line += _opt("noipv4", nd.noipv4) + _opt("noipv6", nd.noipv6)
        line += _opt("vlanid", nd.vlanid) + _opt("interfacename", nd.interfacename)
        line += _opt("bondslaves", nd.bondslaves) + _opt("bondopts", nd.bondopts)
        line += _opt("bridgeslaves", nd.bridgeslaves) + _opt("bridgeopts", nd.bridgeopts)
        line += _opt("mtu", nd.mtu) + _opt("activate", nd.activate)
        line += "" if nd.onboot else " --onboot=no"
        if i == 0 and config.network.hostname:
            line += _opt("hostname", config.network.hostname)
        w(line + "\n")
    if config.rootpw.hash:
        w(f"rootpw --iscrypted {_q(config.rootpw.hash)}{' --lock' if config.rootpw.locked else ''}\n")
    elif config.rootpw.locked:
        w("rootpw --lock\n")
    for u in config.users:
        line = "user" + _opt("name", u.name) + _opt("groups", u.groups) + _opt("uid", u.uid)
        line += _opt("gecos", u.gecos) + _opt("homedir", u.homedir) + _opt("shell", u.shell)
        if u.password_hash:
            line += f" --iscrypted --password={_q(u.password_hash)}"
        line += _opt("lock", u.locked)
        w(line + "\n")
    for k in config.sshkeys:
        w(f"sshkey --username={k.username} {_q(k.key)}\n")
    _render_storage(config.storage, w)
    b = config.bootloader
    w("bootloader" + _opt("location", b.location if b.location != "mbr" else "") + _opt("append", b.append)
      + ("" if b.timeout is None else f" --timeout={b.timeout}") + "\n")
    if config.payload.url:
        w("liveimg" + _opt("url", config.payload.url) + _opt("checksum", config.payload.checksum) + "\n")
    w(f"{config.finish}\n")
    n = config.node
    if n != NodeSettings():
        w("\n%hcinode\n")
        for f in fields(n):
            value = getattr(n, f.name)
            if value in (None, ""):
                continue
            if isinstance(value, Secret):
                if not reveal_secrets:
                    w(f"# {f.name} is a secret and is not written back\n")
                    continue
                value = value.reveal()
            w(f"{f.name} = {value}\n")
        w("%end\n")
    for s in config.scripts:
        header = f"%{s.kind}" + ("" if s.interpreter == "/bin/sh" else f" --interpreter={s.interpreter}")
        header += _opt("nochroot", s.nochroot) + _opt("erroronfail", s.erroronfail) + _opt("log", s.log)
        body = s.body if s.body.endswith("\n") or not s.body else s.body + "\n"
        w(f"\n{header}\n{body}%end\n")
    return out.getvalue()


def _render_storage(s: Storage, w: Callable[[str], object]) -> None:
    if s.only_use:
        w(f"ignoredisk --only-use={','.join(s.only_use)}\n")
    if s.zerombr:
        w("zerombr\n")
    if s.clearpart != "none" or s.initlabel:
        line = "clearpart" + {"all": " --all", "linux": " --linux", "list": "", "none": ""}[s.clearpart]
        line += _opt("drives", s.clearpart_drives) + _opt("list", s.clearpart_list) + _opt("initlabel", s.initlabel)
        w(line + "\n")
    if s.reqpart_add_boot is not None:
        w("reqpart" + (" --add-boot" if s.reqpart_add_boot else "") + "\n")
    if s.autopart:
        w(f"autopart --type={s.autopart}" + _opt("fstype", s.autopart_fstype) + "\n")
    for p in s.partitions:
        w(f"part {p.mountpoint}" + _opt("size", p.size_mib) + _opt("grow", p.grow) + _opt("maxsize", p.maxsize_mib)
          + _opt("fstype", p.fstype) + _opt("ondisk", p.ondisk) + _opt("label", p.label)
          + _opt("fsoptions", p.fsoptions) + _opt(p.swap_size, bool(p.swap_size)) + "\n")
    for v in s.volgroups:
        w(f"volgroup {v.name} {' '.join(v.pvs)}" + _opt("pesize", v.pesize_kib) + "\n")
    for lv in s.logvols:
        w(f"logvol {lv.mountpoint}" + _opt("vgname", lv.vgname) + _opt("name", lv.name) + _opt("size", lv.size_mib)
          + _opt("grow", lv.grow) + _opt("percent", lv.percent) + _opt("maxsize", lv.maxsize_mib)
          + _opt("fstype", lv.fstype) + _opt("fsoptions", lv.fsoptions) + _opt("thinpool", lv.thinpool)
          + _opt("metadatasize", lv.metadatasize_mib) + _opt("chunksize", lv.chunksize_kib)
          + _opt("thin", lv.thin) + _opt("poolname", lv.poolname) + _opt(lv.swap_size, bool(lv.swap_size)) + "\n")
