from dataclasses import dataclass, field
from typing import Literal

import pytest

from nodecore.config import Size, dump_yaml, load_config, load_config_file, load_yaml_text
from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport
from nodecore.secrets import MASK, Secret


def _positive(v: int) -> str | None:
    return None if v > 0 else "must be greater than 0"


@dataclass(frozen=True)
class Disk:
    path: str
    size: Size = Size(0)


@dataclass(frozen=True)
class Host:
    name: str
    disks: tuple[Disk, ...] = ()
    role: Literal["storage", "arbiter"] = "storage"


@dataclass(frozen=True)
class Spec:
    hosts: tuple[Host, ...]
    replica: int = field(default=3, metadata={"check": _positive})
    password: Secret | None = None
    wipe: bool = False
    labels: dict[str, str] = field(default_factory=dict)


def load(text: str) -> tuple[Spec | None, ValidationReport]:
    report = ValidationReport("spec.yaml")
    return load_config(Spec, load_yaml_text(text, "spec.yaml"), report), report


def test_valid_config_becomes_frozen_dataclasses():
    spec, report = load("""
hosts:
  - name: h1
    disks: [{path: /dev/sdb, size: 100G}]
  - name: h2
    role: arbiter
replica: 3
password: "sw0rdfish-x"
labels: {site: a}
""")
    assert report.ok, report.render_text()
    assert spec.hosts[0].disks[0].size == 100 * 1024**3
    assert spec.hosts[1].role == "arbiter"
    assert spec.password.reveal() == "sw0rdfish-x"
    with pytest.raises(AttributeError):
        spec.replica = 2  # type: ignore[misc]


def test_every_problem_is_reported_at_once():
    spec, report = load("""
hosts:
  - name: h1
    disk: [/dev/sdb]
    role: witness
  - disks: [{path: /dev/sdc, size: lots}]
replica: 0
wipe: "yes"
colour: blue
""")
    assert spec is None
    fields = {(p.field, p.message.split(":")[0]) for p in report.errors}
    assert ("hosts[0].disk", "unknown key") in fields
    assert ("hosts[0].role", "'witness' is not allowed") in fields
    assert ("hosts[1].name", "missing required key") in fields
    assert ("hosts[1].disks[0].size", "not a size") in fields
    assert ("replica", "must be greater than 0") in fields
    assert ("wipe", "expected true or false, got 'yes'") in fields
    assert ("colour", "unknown key") in fields
    disk_typo = next(p for p in report.errors if p.field == "hosts[0].disk")
    assert "did you mean 'disks'" in disk_typo.hint


def test_dashes_in_keys_are_accepted():
    @dataclass(frozen=True)
    class C:
        rollback_timeout: int = 120

    report = ValidationReport()
    assert load_config(C, {"rollback-timeout": 30}, report) == C(30)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(InvalidInput) as info:
        load_yaml_text("hosts:\n  - name: a\n   bad: [\n", "bad.yaml")
    assert "line" in info.value.report.errors[0].field


def test_missing_file_is_invalid_input(tmp_path):
    with pytest.raises(InvalidInput, match="cannot read"):
        load_config_file(Spec, str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("text,expected", [
    ("512", 512), (512, 512), ("1K", 1024), ("100G", 100 * 1024**3), ("1.5TiB", int(1.5 * 1024**4)),
    ("20 GiB", 20 * 1024**3), ("4m", 4 * 1024**2),
])
def test_size_parse(text, expected):
    assert Size.parse(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "10X", True, "1.2.3G"])
def test_size_rejects(text):
    with pytest.raises(ValueError):
        Size.parse(text)


def test_size_human():
    assert Size(100 * 1024**3).human() == "100GiB"
    assert Size(int(23.5 * 1024**3)).human() == "23.5GiB"
    assert Size(12).human() == "12B"


def test_dump_masks_secrets():
    spec = Spec(hosts=(Host("h1"),), password=Secret("zz-top-secret"))
    text = dump_yaml(spec)
    assert "zz-top-secret" not in text and MASK in text


def test_yaml_nested_1000_deep_is_a_named_error_not_a_recursion_error() -> None:
    with pytest.raises(InvalidInput) as info:
        load_yaml_text("a: " + "[" * 1000 + "]" * 1000, "deep.yaml")
    text = info.value.report.render_text()
    assert "line 1" in text and "nested deeper than" in text


def test_yaml_integer_of_4301_digits_is_a_named_error() -> None:
    with pytest.raises(InvalidInput) as info:
        load_yaml_text("x: 1\nhosts: " + "9" * 4301, "big.yaml")
    text = info.value.report.render_text()
    assert "line 2" in text and "digits" in text
    assert load_yaml_text("n: 18446744073709551615", "ok.yaml") == {"n": 2**64 - 1}


@pytest.mark.parametrize("value", ["9" * 400 + "G", 2**70, -1], ids=["400 digits", "2**70", "negative"])
def test_sizes_out_of_range_are_value_errors(value: object) -> None:
    with pytest.raises(ValueError):
        Size.parse(value)
