import yaml

from hosted_engine import answers
from hosted_engine.spec import parse_spec
from nodecore.secrets import Secret
from tests.goldenfiles import assert_golden
from tests.unit.hosted_engine.conftest import DATA

TEXT = (DATA / "answers.conf").read_text()
PASSWORD = "Correct-Horse-Battery-42"


def test_an_ovirt_answer_file_becomes_a_valid_spec():
    conv = answers.convert(TEXT, "answers.conf", "/var/lib/hcinode/hosted-engine/admin-password")
    assert conv.report.ok, conv.report.render_text()
    assert conv.spec is not None
    spec, report = parse_spec(conv.spec)
    assert spec is not None, report.render_text()
    assert spec.engine.fqdn == "engine.example.com"
    assert (spec.network.ip, spec.network.prefix, spec.network.gateway) == ("192.0.2.10", 24, "192.0.2.1")
    assert spec.network.dns == ("192.0.2.53", "192.0.2.54")
    assert spec.network.mac == "00:16:3e:4f:df:93"
    assert (spec.vm.memory_mib, spec.vm.vcpus, spec.vm.disk_gib) == (8192, 4, 58)
    assert (spec.storage.server, spec.storage.volume) == ("host1.example.com", "engine")
    assert spec.storage.backup_servers == ("host2.example.com", "host3.example.com")
    assert (spec.bridge.name, spec.bridge.nic) == ("ovirtmgmt", "eth0")
    assert spec.engine.hosts == {"engine.example.com": "192.0.2.10"}
    assert conv.password == Secret(PASSWORD)


def test_the_printed_spec_holds_no_password_and_is_golden():
    conv = answers.convert(TEXT, "answers.conf", "/var/lib/hcinode/hosted-engine/admin-password")
    assert conv.spec is not None
    text = answers.render(conv.spec, "answers.conf")
    assert PASSWORD not in text and "Root-Secret-Pw-77" not in text
    assert yaml.safe_load(text)["engine"]["admin_password_file"] == "/var/lib/hcinode/hosted-engine/admin-password"
    assert_golden("hosted_engine/import-answers.yaml", text.rstrip("\n"))


def test_ovirt_keys_without_a_use_are_ignored_and_named():
    conv = answers.convert(TEXT, "answers.conf", "/pw")
    assert "OVEHOSTED_NOTIF/smtpServer" in conv.ignored
    assert "OVEHOSTED_VDSM/consoleType" in conv.ignored
    assert "OVEHOSTED_VM/cloudinitRootPwd" in conv.ignored
    assert not any(k in conv.ignored for k in answers.MAPPED)


def test_unknown_and_misspelt_keys_are_errors_naming_them():
    text = TEXT + "OVEHOSTED_NETWORK/fqnd=str:x\nMY_OWN/key=str:y\n"
    conv = answers.convert(text, "answers.conf", "/pw")
    assert conv.spec is None
    problems = {p.field: p for p in conv.report.errors}
    assert problems["OVEHOSTED_NETWORK/fqnd"].hint == "did you mean OVEHOSTED_NETWORK/fqdn?"
    assert "not an oVirt" in problems["MY_OWN/key"].message


def test_bad_values_name_their_answer_key():
    text = (TEXT.replace("vmMemSizeMB=int:8192", "vmMemSizeMB=int:lots")
            .replace("str:host1.example.com:/engine", "str:nfs-only")
            .replace("domainType=str:glusterfs", "domainType=str:nfs"))
    conv = answers.convert(text, "answers.conf", "/pw")
    fields = {p.field for p in conv.report.errors}
    assert {"OVEHOSTED_VM/vmMemSizeMB", "OVEHOSTED_STORAGE/storageDomainConnection",
            "OVEHOSTED_STORAGE/domainType"} <= fields


def test_spec_problems_after_conversion_name_the_answer_key():
    text = TEXT.replace("OVEHOSTED_VM/vmVCpus=str:4", "OVEHOSTED_VM/vmVCpus=str:0").replace(
        "OVEHOSTED_NETWORK/bridgeIf=str:eth0\n", "")
    conv = answers.convert(text, "answers.conf", "/pw")
    fields = [p.field for p in conv.report.errors]
    assert "OVEHOSTED_VM/vmVCpus (spec vm.vcpus)" in fields
    assert "OVEHOSTED_NETWORK/bridgeIf (spec bridge.nic)" in fields


def test_an_empty_cidr_means_dhcp_and_a_vlan_interface_splits():
    text = (TEXT.replace("cloudinitVMStaticCIDR=str:192.0.2.10/24", "cloudinitVMStaticCIDR=str:")
            .replace("gateway=str:192.0.2.1", "gateway=str:").replace("bridgeIf=str:eth0", "bridgeIf=str:bond0.100"))
    conv = answers.convert(text, "answers.conf", "/pw")
    assert conv.spec is not None, conv.report.render_text()
    assert conv.spec["network"]["mode"] == "dhcp"
    assert conv.spec["bridge"] == {"nic": "bond0", "vlan": 100, "name": "ovirtmgmt"}


def test_the_file_format_is_checked_line_by_line():
    report = answers.ValidationReport("x")
    got = answers.parse_answers("OVEHOSTED_NETWORK/fqdn=str:a\n[environment:default]\nnonsense\n"
                                "OVEHOSTED_VM/vmVCpus=float:2\nOVEHOSTED_VM/x=bool:yes\n", "x", report)
    assert got == {}
    messages = " | ".join(p.message for p in report.errors)
    assert "outside any [environment" in messages
    assert "not KEY=type:value" in messages
    assert "unknown otopi type" in messages
    assert "not True or False" in messages


def test_later_sections_win():
    report = answers.ValidationReport("x")
    got = answers.parse_answers("[environment:default]\nOVEHOSTED_VM/vmVCpus=str:2\n"
                                "[environment:override]\nOVEHOSTED_VM/vmVCpus=str:6\n", "x", report)
    assert got["OVEHOSTED_VM/vmVCpus"].value == "6"


def test_the_password_file_is_0600_from_the_start(tmp_path):
    path = tmp_path / "d" / "admin-password"
    answers.write_password_file(str(path), Secret(PASSWORD))
    assert path.read_text() == PASSWORD + "\n"
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_docs_list_every_mapped_key():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "hosted-engine.md").read_text()
    for key in answers.MAPPED:
        assert f"| `{key}` |" in docs, key
