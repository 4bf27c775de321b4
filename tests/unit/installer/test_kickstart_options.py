"""Nothing a kickstart says is silently ignored: every option of every supported command is either
read (the InstallConfig changes) or refused (a new error or warning naming the line).

The walk takes the options from pykickstart's own parsers, so a pykickstart upgrade that adds an
option makes this test name it until the front end reads or refuses it.
"""

from __future__ import annotations

import argparse
import shlex

import pytest
from pykickstart.version import makeVersion

from installer import kickstart

# A minimal valid line per supported command: each option is added to it.
BASE = {
    "network": "network --device=eth0 --bootproto=dhcp",
    "rootpw": "rootpw --iscrypted $6$salt$hash",
    "sshkey": "sshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9'",
    "user": "user --name=ops",
    "timezone": "timezone Europe/Berlin",
    "timesource": "timesource --ntp-server=ntp.example.com",
    "keyboard": "keyboard us",
    "lang": "lang en_US.UTF-8",
    "zerombr": "zerombr",
    "clearpart": "clearpart",
    "ignoredisk": "ignoredisk --only-use=sda",
    "autopart": "autopart",
    "reqpart": "reqpart",
    "part": "part /data --size=1000",
    "partition": "partition /data --size=1000",
    "volgroup": "volgroup vg pv.01",
    "logvol": "logvol /data --vgname=vg --name=data --size=1000",
    "bootloader": "bootloader",
    "liveimg": "liveimg --url=http://192.0.2.1/node.squashfs",
    "reboot": "reboot",
    "poweroff": "poweroff",
    "shutdown": "shutdown",
    "text": "text",
    "eula": "eula --agreed",
}

# Values pykickstart accepts for options whose generic test value it would refuse (the point is
# to reach our translation, not pykickstart's own type checks).
VALUES = {
    ("network", "--bootproto"): "static",
    ("network", "--onboot"): "no",
    ("network", "--ip"): "192.0.2.7",
    ("network", "--netmask"): "255.255.255.0",
    ("network", "--gateway"): "192.0.2.1",
    ("network", "--nameserver"): "192.0.2.53",
    ("network", "--ipv6"): "2001:db8::7/64",
    ("network", "--ipv6gateway"): "2001:db8::1",
    ("network", "--vlanid"): "7",
    ("network", "--mtu"): "9000",
    ("network", "--bondslaves"): "ens1,ens2",
    ("network", "--bridgeslaves"): "ens1",
    ("network", "--bondopts"): "mode=802.3ad",
    ("network", "--device"): "eth1",
    ("bootloader", "--location"): "none",
    ("bootloader", "--timeout"): "7",
    ("autopart", "--type"): "plain",
    ("clearpart", "--disklabel"): "msdos",
    ("part", "--fstype"): "xfs",
    ("logvol", "--fstype"): "xfs",
    ("part", "--luks-version"): "luks2",
    ("logvol", "--luks-version"): "luks2",
    ("autopart", "--luks-version"): "luks2",
    ("autopart", "--fstype"): "xfs",
    ("logvol", "--cachemode"): "writeback",
    ("rootpw", "--plaintext"): None,
    ("timesource", "--ntp-pool"): "pool.example.com",
    ("liveimg", "--checksum"): "a" * 64,
    ("timezone", "--ntpservers"): "ntp2.example.com",
    ("user", "--password"): "Zq8-vol-lantern",
    ("user", "--uid"): "1234",
    ("user", "--gid"): "1234",
    ("ignoredisk", "--drives"): "sdb",
}
VALUES[("partition", "--fstype")] = VALUES[("part", "--fstype")]
VALUES[("partition", "--luks-version")] = VALUES[("part", "--luks-version")]

# Options whose effect needs the full base line to make sense and are covered by dedicated tests.
COVERED_ELSEWHERE = {
    ("rootpw", "--iscrypted"), ("rootpw", "--plaintext"),  # the base line is already --iscrypted
    ("user", "--iscrypted"), ("user", "--plaintext"),  # meaningful only with --password (test_kickstart)
    ("network", "--no-activate"),  # the default: an explicit "no" is the same config
    ("timezone", "--isUtc"), ("timezone", "--utc"),  # UTC is the default when no timezone line says
    ("eula", "--agreed"),  # the base line needs it
    ("clearpart", "--none"),  # the default
}


def _options(command: str) -> list[tuple[str, argparse.Action]]:
    parser = makeVersion().commands[command]._getParser()
    out = []
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        out.append((action.option_strings[0], action))
    return out


def _value(command: str, option: str, action: argparse.Action) -> str | None:
    if (command, option) in VALUES:
        return VALUES[(command, option)]
    if action.nargs == 0:
        return None
    if action.choices:
        return str(sorted(action.choices)[-1])
    if action.type is int:
        return "7"
    return "x7"


def _case(command: str, option: str, action: argparse.Action) -> str:
    value = _value(command, option, action)
    arg = option if value is None else f"{option}={shlex.quote(value)}"
    return f"{BASE[command]} {arg}"


CASES = [(cmd, opt, action) for cmd in sorted(kickstart.SUPPORTED_COMMANDS) for opt, action in _options(cmd)
         if (cmd, opt) not in COVERED_ELSEWHERE]


def test_every_supported_command_has_a_base_line() -> None:
    assert set(BASE) == set(kickstart.SUPPORTED_COMMANDS)
    for line in BASE.values():
        assert kickstart.parse(line + "\n").report.ok, line


def _problems(parsed: kickstart.ParsedKickstart) -> set[tuple[str, str]]:
    return {(p.severity, p.message) for p in parsed.report.problems}


@pytest.mark.parametrize(("command", "option", "action"), CASES, ids=[f"{c} {o}" for c, o, _ in CASES])
def test_option_is_read_or_refused(command: str, option: str, action: argparse.Action) -> None:
    base = kickstart.parse(BASE[command] + "\n")
    line = _case(command, option, action)
    given = kickstart.parse(line + "\n")
    new_problems = _problems(given) - _problems(base)
    assert given.config != base.config or new_problems, f"{line!r} is silently ignored"
