"""nodecore.rules and the loader's shared checks: duplicate YAML keys, control characters, full matches."""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

import pytest

from nodecore import rules
from nodecore.config import MULTILINE, check_text, load_config, load_yaml_text
from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_duplicate_yaml_key_is_refused_naming_key_and_lines() -> None:
    with pytest.raises(InvalidInput) as exc:
        load_yaml_text("disks:\n  wipe: false\n  size: 1\n  wipe: true\n", "spec.yaml")
    text = exc.value.report.render_text()
    assert "line 4" in text and "key 'wipe' is given twice (first on line 2)" in text


def test_same_key_in_different_mappings_is_fine() -> None:
    assert load_yaml_text("a: {x: 1}\nb: {x: 2}\nl: [{x: 1}, {x: 2}]\n", "t") == {
        "a": {"x": 1}, "b": {"x": 2}, "l": [{"x": 1}, {"x": 2}]}


@dataclass(frozen=True)
class _Conf:
    name: str = ""
    opts: dict[str, str] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    body: str = field(default="", metadata=MULTILINE)


@pytest.mark.parametrize("data,where", [
    ({"name": "a\nb"}, "name"),
    ({"name": "bond0\x1b[2J"}, "name"),
    ({"opts": {"k": "v\n[connection]"}}, "opts.k"),
    ({"opts": {"k\nx": "v"}}, "opts.'k\\nx'"),
    ({"items": ["ok", "bad\t"]}, "items[1]"),
    ({"body": "line1\nline2\x00"}, "body"),
])
def test_every_string_field_refuses_control_characters(data: dict[str, object], where: str) -> None:
    report = ValidationReport()
    assert load_config(_Conf, data, report) is None
    assert [p.field for p in report.errors] == [where], report.render_text()
    assert "control character" in report.errors[0].message


def test_multiline_fields_keep_newlines_and_tabs() -> None:
    report = ValidationReport()
    check_text(_Conf(body="#!/bin/sh\n\techo hi\r\n"), report)
    assert report.ok


@pytest.mark.parametrize("name", ["eth0\n", "a" * 16, "eth0:1", "eth 0", "..", "", "bond/0"])
def test_bad_interface_names(name: str) -> None:
    assert rules.ifname(name) is not None


@pytest.mark.parametrize("value", ["us", "de", "de-nodeadkeys", "fr", "gb", "us-intl"])
def test_keyboard_layouts_the_image_knows(value: str) -> None:
    assert rules.keyboard(value) is None


@pytest.mark.parametrize("value,words", [("DE", "did you mean 'de'"), ("xx", "not one the node knows"),
                                         ("de-bogus", "no variant")])
def test_keyboard_layouts_refused(value: str, words: str) -> None:
    bad = rules.keyboard(value)
    assert bad is not None and words in bad.message + bad.hint


@pytest.mark.parametrize("value", ["192.0.2.1", "2001:db8::1", "fe80::1%eth0"])
def test_addresses(value: str) -> None:
    assert rules.ip_address(value) is None


@pytest.mark.parametrize("value", ["fe80::1%eth0\n", "fe80::1%a b", "192.0.2.1%eth0", "dns.example"])
def test_bad_addresses(value: str) -> None:
    assert rules.ip_address(value) is not None


def test_hostname_trailing_newline_refused() -> None:
    assert rules.hostname("node1\n") is not None and rules.hostname("node1.example.com") is None


def test_no_anchored_re_match_left_in_the_tree() -> None:
    """re.match(r"^...$") lets "value\\n" through ($ matches before a final newline): use re.fullmatch."""
    offenders = []
    for pkg in ("nodecore", "installer", "node_setup", "tui", "gluster_setup", "image_recipes"):
        for path in (ROOT / pkg).rglob("*.py"):
            text = path.read_text()
            anchored = {m.group(1) for m in re.finditer(r"""(_?[A-Z_]+_RE|[A-Z_]+) = re\.compile\(r?["'][^\n]*\$["']""",
                                                        text)}
            for n, line in enumerate(text.splitlines(), 1):
                if re.search(r"""re\.match\(r?["'][^"']*\$["']""", line) or any(
                        f"{name}.match(" in line for name in anchored):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert offenders == []
