"""Kickstart parsing: real-world style files parse clean and round-trip; bad ones give the expected messages."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from installer import checks, kickstart
from nodecore.facts import HostFacts

DATA = Path(__file__).resolve().parents[2] / "data"
GOOD = sorted((DATA / "kickstart" / "good").glob("*.ks"))
BAD = sorted((DATA / "kickstart" / "bad").glob("*.ks"))

# which captured machine each good kickstart is written for
FACTS_FOR = {
    "4kn-disk": "sas-4kn-raid", "plain-partitions": "sas-4kn-raid", "bond-vlan": "nvme-server",
    "bridge": "nvme-server", "multi-disk": "nvme-server",
}


def facts(name: str) -> HostFacts:
    return HostFacts.load(str(DATA / "facts" / f"{name}.json"))


def single_disk_vm() -> HostFacts:
    vm = facts("qemu-virtio")
    return dataclasses.replace(vm, disks=tuple(d for d in vm.disks if d.name == "vda"))


def parse_file(path: Path, **kw: object) -> kickstart.ParsedKickstart:
    return kickstart.parse(path.read_text(), source=path.name, **kw)  # type: ignore[arg-type]


def test_there_are_enough_real_world_kickstarts() -> None:
    assert len(GOOD) >= 15
    assert len(BAD) >= 10


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_kickstart_is_valid_and_fits_its_machine(path: Path) -> None:
    parsed = parse_file(path)
    report = checks.validate(parsed.config, parsed.report)
    assert report.ok, report.render_text()
    if path.stem == "pre-include":
        return  # its storage comes from the %pre-generated include (see test_pre_generated_include)
    host = facts(FACTS_FOR[path.stem]) if path.stem in FACTS_FOR else single_disk_vm()
    report = checks.check_host(parsed.config, host)
    assert report.ok, report.render_text()


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_round_trip_kickstart_config_kickstart(path: Path) -> None:
    first = parse_file(path).config
    text = kickstart.render(first, reveal_secrets=True)
    again = kickstart.parse(text)
    assert again.report.ok, again.report.render_text() + "\n" + text
    assert again.config == first
    # and the rendered form is a fixed point
    assert kickstart.render(again.config, reveal_secrets=True) == text


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_kickstart_reports_every_expected_problem(path: Path) -> None:
    text = path.read_text()
    expected = re.findall(r"^# expect: (.+)$", text, re.M)
    assert expected, "a bad kickstart must say what it expects"
    parsed = kickstart.parse(text, source=path.name)
    rendered = checks.validate(parsed.config, parsed.report).render_text()
    for line in expected:
        assert line in rendered, f"missing {line!r} in:\n{rendered}"


def test_plaintext_password_is_hashed_at_once_and_never_written_back() -> None:
    parsed = kickstart.parse("rootpw --plaintext Corr3ct-horse\nuser --name=ops --password=Battery-staple9\n")
    assert parsed.config.rootpw.hash.startswith("$y$")
    text = kickstart.render(parsed.config)
    assert "Corr3ct-horse" not in text and "Battery-staple9" not in text
    assert "rootpw --iscrypted" in text and "--iscrypted --password=" in text
    assert "Corr3ct-horse" not in repr(parsed.config)


def test_join_token_is_secret_in_render() -> None:
    parsed = parse_file(DATA / "kickstart" / "good" / "hcinode-section.ks")
    assert parsed.config.node.join_token is not None
    assert parsed.config.node.join_token.reveal() == "tok9f2.c4e1d7a0b1c2d3e4f5a6b7c8d9e0f1a2"
    assert "tok9f2.c4e1d7a0b1c2d3e4f5a6b7c8d9e0f1a2" not in kickstart.render(parsed.config)
    assert "tok9f2.c4e1d7a0b1c2d3e4f5a6b7c8d9e0f1a2" in kickstart.render(parsed.config, reveal_secrets=True)
    assert parsed.config.node.gluster_role == "replica"
    assert parsed.config.node.engine_url == "https://engine.example.com/"


def test_bonds_and_vlans_are_translated() -> None:
    cfg = parse_file(DATA / "kickstart" / "good" / "bond-vlan.ks").config
    bond, mgmt, storage = cfg.network.devices
    assert bond.kind == "bond" and bond.bondslaves == ("ens1f0", "ens1f1") and bond.mtu == 9000
    assert "mode=802.3ad" in bond.bondopts and bond.noipv4
    assert mgmt.kind == "vlan" and mgmt.vlanid == 100 and mgmt.connection_name == "bond0.100"
    assert mgmt.nameservers == ("192.0.2.53", "192.0.2.54")
    assert storage.connection_name == "storage0"
    assert cfg.hostname == "hv21.dc1.example.com"
    assert cfg.time.ntpservers == ("ntp1.example.com", "ntp2.example.com")


def test_static_ipv6() -> None:
    cfg = parse_file(DATA / "kickstart" / "good" / "static-ipv6.ks").config
    (nic,) = cfg.network.devices
    assert nic.ipv6 == "2001:db8:10::21/64" and nic.ipv6gateway == "2001:db8:10::1" and nic.noipv4


def test_scripts_keep_their_options() -> None:
    cfg = parse_file(DATA / "kickstart" / "good" / "post-scripts.ks").config
    nochroot, py = cfg.scripts_of("post")
    assert nochroot.nochroot and nochroot.log.endswith("ks-post-nochroot.log")
    assert py.interpreter == "/usr/bin/python3" and not py.nochroot
    assert len(cfg.scripts_of("onerror")) == 1
    assert cfg.finish == "poweroff"


def test_pre_generated_include(tmp_path: Path) -> None:
    """Pass 1 without includes; the %pre writes the include; pass 2 reads it (as anaconda does)."""
    from installer.scripts import run_pre_scripts
    from nodecore.runner import LocalRunner

    path = DATA / "kickstart" / "good" / "pre-include.ks"
    include = Path("/tmp/hcinode-test-part-include")
    first = parse_file(path)
    assert first.includes == (str(include),) and not first.config.storage.explicit
    include.unlink(missing_ok=True)
    try:
        run_pre_scripts(first.config, LocalRunner(), log_dir=str(tmp_path))
        second = parse_file(path, follow_includes=True)
        assert second.report.ok, second.report.render_text()
        assert second.includes == (str(include),)
        storage = second.config.storage
        assert storage.only_use == ("vda",) and [v.name for v in storage.volgroups] == ["data"]
        assert checks.check_host(second.config, single_disk_vm()).ok
        assert (tmp_path / "ks-script-pre-1.log").exists()
    finally:
        include.unlink(missing_ok=True)


def test_missing_include_is_an_error_naming_the_line() -> None:
    parsed = kickstart.parse("rootpw --lock\n%include /nonexistent/part-include\n", follow_includes=True)
    assert not parsed.report.ok
    assert "kickstart:2" in parsed.report.render_text() or "part-include" in parsed.report.render_text()


def _errors(parsed: kickstart.ParsedKickstart) -> list[str]:
    return [f"{p.field}: {p.message}" for p in parsed.report.errors]


def test_an_unclosed_quote_is_an_error_at_its_line_not_a_traceback() -> None:
    parsed = kickstart.parse('lang en_US.UTF-8\nrootpw --plaintext "abc\n')
    assert any(e.startswith("kickstart:2: No closing quotation") for e in _errors(parsed)), _errors(parsed)
    assert not any("abc" in e for e in _errors(parsed))  # never echoes the (secret) value


def test_an_include_loop_is_an_error_at_its_line(tmp_path) -> None:
    loop = tmp_path / "loop.ks"
    loop.write_text(f"%include {loop}\n")
    parsed = kickstart.parse(f"rootpw --lock\n%include {loop}\n", follow_includes=True)
    assert any(e.startswith("kickstart:") and "nested deeper than" in e for e in _errors(parsed)), _errors(parsed)


def test_an_include_of_a_device_or_a_quote_error_inside_an_include_is_named(tmp_path) -> None:
    parsed = kickstart.parse("rootpw --lock\n%include /dev/zero\n", follow_includes=True)
    assert any(e.startswith("kickstart:2:") and "not a regular file" in e for e in _errors(parsed)), _errors(parsed)
    inc = tmp_path / "parts.ks"
    inc.write_text("part / --size=1\npart '/boot\n")
    parsed = kickstart.parse(f"rootpw --lock\n%include {inc}\n", follow_includes=True)
    assert any("No closing quotation (in an %include at its line 2)" in e for e in _errors(parsed)), _errors(parsed)
    inc.write_text("ignoredisk --only-use=vda\n")  # a relative %include still resolves next to the kickstart
    parsed = kickstart.parse(f"rootpw --lock\n%include {inc}\n", follow_includes=True)
    assert not any("include" in e for e in _errors(parsed)), _errors(parsed)


def test_timezone_with_extra_words_is_an_error_not_a_traceback() -> None:
    # found by tests/unit/nodecore/test_fuzz_inputs.py: the zone came through as a list
    parsed = kickstart.parse("rootpw --lock\ntimezone Europe/Berlin \x7f-utc\n")
    assert _errors(parsed) == ["kickstart:2: One or zero arguments are expected for the timezone command"]
    assert not checks.validate(parsed.config, parsed.report).ok


@pytest.mark.parametrize("where", ["top", "include"])
def test_ksappend_is_refused_naming_its_line_not_ignored(tmp_path: Path, where: str) -> None:
    """pykickstart skips %ksappend (anaconda's preprocess step pastes the file in; we do not run it)."""
    line = "%ksappend http://192.0.2.1/storage.ks\n"
    if where == "top":
        parsed = kickstart.parse(f"rootpw --lock\n{line}")
    else:
        inc = tmp_path / "inc.ks"
        inc.write_text(f"lang en_US.UTF-8\n{line}")
        parsed = kickstart.parse(f"rootpw --lock\n%include {inc}\n", follow_includes=True)
    found = [p.render() for p in parsed.report.errors]
    assert any(e.startswith("error: kickstart:2: ") and "%ksappend is not supported" in e and "%include" in e
               for e in found), found


def test_an_error_inside_an_include_names_the_include_line_and_the_included_line(tmp_path: Path) -> None:
    inc = tmp_path / "inc.ks"
    inc.write_text("lang en_US.UTF-8\nfirewall --disabled\n")
    parsed = kickstart.parse(f"rootpw --lock\n\n\n%include {inc}\n", follow_includes=True)
    assert _errors(parsed) == [f"kickstart:4: command 'firewall' is not supported by the hcinode installer "
                               f"(in %include {inc} at its line 2)"]


def test_a_bare_include_is_a_named_error_not_an_empty_message(tmp_path: Path) -> None:
    assert _errors(kickstart.parse("rootpw --lock\n%include\n", follow_includes=True)) == [
        "kickstart:2: %include needs a file or URL"]
    inc = tmp_path / "inc.ks"
    inc.write_text("lang C.UTF-8\n%include\n")
    assert _errors(kickstart.parse(f"rootpw --lock\n%include {inc}\n", follow_includes=True)) == [
        f"kickstart:2: %include needs a file or URL (in %include {inc} at its line 2)"]
