import json

import pytest

from nodecore.errors import EXIT_INVALID, InvalidInput
from nodecore.report import ValidationReport


def sample() -> ValidationReport:
    r = ValidationReport("spec.yaml")
    r.warning("volumes[0].replica", "replica 1 has no redundancy", "use 3 hosts for production")
    r.error("hosts[1].address", "198.51.100.300 is not an IP address", "write e.g. 198.51.100.12")
    r.error("hosts[2].disks[0]", "/dev/sdz does not exist on host3")
    return r


def test_render_text_lists_errors_before_warnings_with_field_and_hint():
    text = sample().render_text()
    lines = text.splitlines()
    assert lines[0] == "spec.yaml: 2 error(s), 1 warning(s)"
    assert lines[1] == ("  error: hosts[1].address: 198.51.100.300 is not an IP address "
                        "(write e.g. 198.51.100.12)")
    assert lines[3].startswith("  warning: volumes[0].replica")


def test_render_lines_wraps_for_the_console():
    lines = sample().render_lines(40)
    assert all(len(line) <= 40 for line in lines)
    assert lines[0].startswith("error: hosts[1].address:")
    assert any(line.startswith("    ") for line in lines)


def test_ok_and_raise():
    r = ValidationReport("x")
    r.warning("a", "only a warning")
    assert r.ok
    r.raise_if_errors()
    with pytest.raises(InvalidInput) as info:
        sample().raise_if_errors()
    assert info.value.exit_code == EXIT_INVALID
    assert "hosts[2].disks[0]" in str(info.value)


def test_json_form():
    data = json.loads(sample().to_json())
    assert data["ok"] is False
    assert [p["field"] for p in data["problems"]] == ["volumes[0].replica", "hosts[1].address", "hosts[2].disks[0]"]


def test_extend_prefixes_fields():
    outer = ValidationReport("all")
    outer.extend(sample(), prefix="cluster")
    assert outer.problems[1].field == "cluster.hosts[1].address"


def test_the_headline_and_json_never_show_url_credentials_or_secrets():
    from nodecore.secrets import Secret

    Secret("Hint-secret-5")
    report = ValidationReport("ftp://u:Head-pw-5@h.example/ks?token=Head-tok-5")
    report.error("kickstart", "bad", "not Hint-secret-5")
    for text in (report.render_text(), report.to_json(), ValidationReport(report.source).render_text()):
        assert not any(s in text for s in ("Head-pw-5", "Head-tok-5", "Hint-secret-5")), text
    assert json.loads(report.to_json())["source"].startswith("ftp://u:")
