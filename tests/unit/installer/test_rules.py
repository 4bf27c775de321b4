"""One rule set: what node_setup would refuse after the disk is erased is refused by `--validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer import checks, kickstart
from nodecore.cli import main

MINIMAL = """\
ignoredisk --only-use=vda
clearpart --all --initlabel --drives=vda
autopart --type=thinp
rootpw --iscrypted $6$rounds=5000$hcinodetestsalt$3ygPdd2k1Zs0aMTNHo0uQ8dv0rBqeTEO4fVxTeBCFdJ6SxVFB8
network --device=eno1 --bootproto=dhcp --hostname=node1.example.com
reboot
"""
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz9Wn7Gv8F3s0vB7P4u2qgYQ7kq7nq6xq1x4c8C4l7d admin@example"


@pytest.fixture(autouse=True)
def _private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))


def errors(text: str) -> list[str]:
    parsed = kickstart.parse(text, source="ks.cfg")
    return [p.render() for p in checks.validate(parsed.config, parsed.report).errors]


def test_minimal_is_valid() -> None:
    assert errors(MINIMAL) == []


# the four kickstarts that passed --validate, --dry-run and the console summary, then failed in
# node_setup at install step 7, after partitioning and the image copy
FAILED_AFTER_THE_DISK_WAS_ERASED = {
    "keyboard DE": (MINIMAL + "keyboard DE\n", "keyboard layout 'DE'"),
    "root ssh-dss key": (MINIMAL + 'sshkey --username=root "ssh-dss AAAAB3NzaC1kc3MAAACBAP admin"\n', "ssh-dss"),
    "interface name over 15 characters": (
        MINIMAL + "network --device=eno1 --vlanid=100 --interfacename=management-vlan100 --bootproto=dhcp\n",
        "longer than 15 characters"),
    "bond option foo=1": (
        MINIMAL.replace("network --device=eno1 --bootproto=dhcp",
                        "network --device=bond0 --bondslaves=eno1,eno2 --bondopts=mode=active-backup,foo=1 "
                        "--bootproto=dhcp"), "unknown bonding option 'foo'"),
}


@pytest.mark.parametrize("case", list(FAILED_AFTER_THE_DISK_WAS_ERASED), ids=list(FAILED_AFTER_THE_DISK_WAS_ERASED))
def test_refused_by_install_validate(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, words = FAILED_AFTER_THE_DISK_WAS_ERASED[case]
    ks = tmp_path / "ks.cfg"
    ks.write_text(text)
    assert main(["install", "--kickstart", str(ks), "--validate"]) == 2
    err = capsys.readouterr().err
    assert words in err, err


def test_node_setup_problem_names_the_kickstart_line() -> None:
    text = FAILED_AFTER_THE_DISK_WAS_ERASED["bond option foo=1"][0]
    found = [e for e in errors(text) if "foo" in e]
    assert len(found) == 1 and "kickstart:5" in found[0], found


def test_each_problem_is_reported_once() -> None:
    found = errors(MINIMAL + "keyboard DE\n")
    assert len(found) == 1, found


def test_plaintext_password_with_a_colon_is_hashed() -> None:
    from nodecore.passwords import verify_password

    parsed = kickstart.parse(_rootpw("rootpw --plaintext Corr3ct:horse:9"))
    assert parsed.report.ok, parsed.report.render_text()
    assert verify_password("Corr3ct:horse:9", parsed.config.rootpw.hash)


def _rootpw(line: str) -> str:
    return "\n".join(line if x.startswith("rootpw") else x for x in MINIMAL.splitlines()) + "\n"


@pytest.mark.parametrize("pw", ["password1", "node07node07"])
def test_guessable_plaintext_password_is_refused(pw: str) -> None:
    found = errors(_rootpw(f"rootpw --plaintext {pw}"))
    assert any("too easy to guess" in e for e in found), found
    assert not any(pw in e for e in found)  # never echoed


def test_iscrypted_hash_with_a_colon_is_refused() -> None:
    # "root:$6$x$y:0:" fed to chpasswd -e, or a shadow line with extra fields
    assert any("is not a crypt(3) hash" in e for e in errors(_rootpw("rootpw --iscrypted '$6$x$y:0:'")))


@pytest.mark.parametrize("line,words", [  # words None: valid
    ("user --name=ops --uid=0 --password=Corr3ct-horse-9", "uid 0"),
    ("liveimg --url=http://192.0.2.1/node.squashfs", "--checksum"),
    ("bootloader --append='console=ttyS0\x1b[2J'", "control character"),
    ("network --device=eno2 --bootproto=dhcp --nameserver=fe80::1%eno1/x", "nameserver"),
    ("keyboard --vckeymap=de --xlayouts=de", None),
])
def test_dangerous_values_refused(line: str, words: str) -> None:
    found = errors(MINIMAL + line + "\n")
    assert any(words in e for e in found) if words else not found, found


def test_liveimg_https_or_checksum_is_fine() -> None:
    assert errors(MINIMAL + "liveimg --url=https://192.0.2.1/node.squashfs\n") == []
    assert errors(MINIMAL + "liveimg --url=http://192.0.2.1/node.squashfs --checksum=" + "a" * 64 + "\n") == []


def test_ssh_key_for_root_goes_through_the_same_rule() -> None:
    assert errors(MINIMAL + f'sshkey --username=root "{KEY}"\n') == []
