"""YAML config loading into frozen dataclasses, reporting every problem at once.

A config is a tree of frozen dataclasses; their type hints are the schema. `load_config` walks the
YAML against them and adds one Problem per bad field (unknown key with a suggestion, missing key,
wrong type, value not allowed, bad size) instead of stopping at the first. Per-field checks go in
`field(metadata={"check": fn})`, where fn returns an error message or None.

No string anywhere in a config may hold a control character (`check_text`): a newline in a bond
option or a DNS scope id would become a new line of a NetworkManager keyfile, of fstab or of
chpasswd's input. Fields that really are multi-line (script bodies) say so with `MULTILINE`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from nodecore import rules
from nodecore.errors import InvalidInput
from nodecore.inputs import InputError, read_input_text
from nodecore.report import ValidationReport
from nodecore.secrets import MASK, Secret

T = TypeVar("T")

_SIZE_RE = re.compile(r" *(\d+(?:\.\d+)?) *([KMGTP]?)(i?B?)? *", re.IGNORECASE)
MAX_SIZE = 2**63  # what LVM, XFS and the kernel take as a byte count
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


class Size(int):
    """A size in bytes, written in YAML as 512, "100G", "1.5TiB", "20 GiB" (binary units)."""

    @classmethod
    def parse(cls, value: object) -> Size:
        if isinstance(value, bool):
            raise ValueError(f"not a size: {value!r}")
        if isinstance(value, int):
            if not 0 <= value < MAX_SIZE:
                raise ValueError(f"size {value} is out of range (0 to 8 EiB)")
            return cls(value)
        match = _SIZE_RE.fullmatch(str(value))
        if not match:
            raise ValueError(f"not a size: {value!r} (write e.g. 512M, 100G, 2T)")
        number, unit = float(match.group(1)), match.group(2).upper()
        size = number * _UNITS[unit]
        if not size < MAX_SIZE:  # also inf: float("9" * 400)
            raise ValueError(f"size {value!r} is too large")
        return cls(int(size))

    def human(self) -> str:
        for unit in ("P", "T", "G", "M", "K"):
            if self >= _UNITS[unit]:
                return f"{self / _UNITS[unit]:.1f}".removesuffix(".0") + f"{unit}iB"
        return f"{int(self)}B"


def human_size(n: int) -> str:
    return Size(n).human()


# Bounds for untrusted YAML: PyYAML composes nodes recursively (1000 nested lists is a
# RecursionError) and int() refuses more than 4300 digits with a ValueError. No config of ours
# nests deeper than a dozen levels or holds a number wider than a 64-bit one.
MAX_YAML_DEPTH = 64
MAX_INT_DIGITS = 40


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader with a nesting depth and integer size limit, each a YAMLError at its line."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_YAML_DEPTH} levels",
                                                  self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: Any) -> Any:
        if sum(c.isdigit() for c in str(node.value)) > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(None, None, f"a number of more than {MAX_INT_DIGITS} digits",
                                                    node.start_mark)
        return super().construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


class _UniqueKeyLoader(_BoundedLoader):
    """SafeLoader that refuses a mapping with a key given twice (PyYAML lets the last one win
    silently, so a `wipe: true` further down would override an earlier `wipe: false`)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:
                continue  # an unhashable key: construct_mapping below reports it
            if first != line:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"key {key!r} is given twice (first on line {first})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        report = ValidationReport(source)
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
        report.error(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                     "check indentation and quoting at that line")
        raise InvalidInput(report) from None


def load_yaml_file(path: str) -> Any:
    try:
        text = read_input_text(path)
    except InputError as exc:
        report = ValidationReport(path)
        report.error("(file)", f"cannot read: {exc.reason}", "check the path")
        raise InvalidInput(report) from None
    return load_yaml_text(text, path)


def load_config(cls: type[T], data: Any, report: ValidationReport, path: str = "") -> T | None:
    """Convert YAML data into dataclass `cls`; problems go to `report`; None if it could not."""
    value = _convert(cls, data, report, path)
    if isinstance(value, _Invalid):
        return None
    text_report = ValidationReport()
    check_text(value, text_report, path)
    report.extend(text_report)
    return value if text_report.ok else None


def load_config_file(cls: type[T], file_path: str) -> T:
    """Load and convert, raising InvalidInput with every problem found."""
    report = ValidationReport(file_path)
    config = load_config(cls, load_yaml_file(file_path), report)
    report.raise_if_errors()
    assert config is not None
    return config


class _Invalid:
    pass


INVALID = _Invalid()


def _type_name(tp: Any) -> str:
    if tp is Size:
        return "size"
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(tp: Any, data: Any, report: ValidationReport, path: str) -> Any:
    where = path or "(top)"
    origin = get_origin(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if data is None and type(None) in options:
            return None
        non_none = [o for o in options if o is not type(None)]
        if len(non_none) == 1:
            return _convert(non_none[0], data, report, path)
        for option in non_none:  # first option that converts without problems
            trial = ValidationReport()
            value = _convert(option, data, trial, path)
            if trial.ok:
                return value
        report.error(where, f"expected {' or '.join(_type_name(o) for o in non_none)}, got {data!r}")
        return INVALID
    if origin is Literal:
        allowed = get_args(tp)
        if data not in allowed:
            report.error(where, f"{data!r} is not allowed", "use one of: " + ", ".join(map(str, allowed)))
            return INVALID
        return data
    if origin is tuple:
        item_type = get_args(tp)[0]
        if data is None:
            return ()
        if not isinstance(data, list):
            report.error(where, f"expected a list, got {type(data).__name__}")
            return INVALID
        items = [_convert(item_type, item, report, f"{path}[{i}]") for i, item in enumerate(data)]
        return INVALID if any(isinstance(i, _Invalid) for i in items) else tuple(items)
    if origin in (dict, Mapping) or tp is dict:
        key_type, value_type = get_args(tp) or (str, Any)
        if data is None:
            return {}
        if not isinstance(data, dict):
            report.error(where, f"expected a mapping, got {type(data).__name__}")
            return INVALID
        out = {str(k): _convert(value_type, v, report, f"{path}.{k}" if path else str(k))
               for k, v in data.items()}
        return INVALID if any(isinstance(v, _Invalid) for v in out.values()) else out
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, data, report, path)
    if tp is Size:
        try:
            return Size.parse(data)
        except ValueError as exc:
            report.error(where, str(exc))
            return INVALID
    if tp is Secret:
        if not isinstance(data, (str, int)) or isinstance(data, bool):
            report.error(where, "expected a string")
            return INVALID
        return Secret(str(data))
    if tp is bool:
        if not isinstance(data, bool):
            report.error(where, f"expected true or false, got {data!r}")
            return INVALID
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            report.error(where, f"expected a whole number, got {data!r}")
            return INVALID
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            report.error(where, f"expected a number, got {data!r}")
            return INVALID
        return float(data)
    if tp is str:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return str(data)  # YAML turns 0644 or 10 into numbers; a string field takes them as written
        if not isinstance(data, str):
            report.error(where, f"expected a string, got {type(data).__name__}")
            return INVALID
        return data
    raise TypeError(f"config schema: unsupported type {tp!r} at {where}")


def _convert_dataclass(cls: Any, data: Any, report: ValidationReport, path: str) -> Any:
    where = path or "(top)"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        report.error(where, f"expected a mapping, got {type(data).__name__}")
        return INVALID
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    given = {str(k).replace("-", "_"): (str(k), v) for k, v in data.items()}
    kwargs: dict[str, Any] = {}
    bad = False
    for key, (raw_key, _) in given.items():
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(sorted(fields))
            report.error(f"{path}.{raw_key}" if path else raw_key, "unknown key", hint)
            bad = True
    for name, f in fields.items():
        sub = f"{path}.{name}" if path else name
        if name not in given:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                report.error(sub, "missing required key")
                bad = True
            continue
        value = _convert(hints[name], given[name][1], report, sub)
        if isinstance(value, _Invalid):
            bad = True
            continue
        check = f.metadata.get("check")
        if check is not None and value is not None:
            message = check(value)
            if message:
                report.error(sub, message)
                bad = True
                continue
        kwargs[name] = value
    if bad:
        return INVALID
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        report.error(where, str(exc))
        return INVALID


MULTILINE = {"multiline": True}  # field metadata: newlines and tabs are part of the value


def check_text(value: Any, report: ValidationReport, path: str = "", multiline: bool = False) -> None:
    """Report every string in a config tree (dataclasses, tuples, mappings and their keys) that
    holds a control character; the one rule for every string field of every config."""
    where = path or "(top)"
    if isinstance(value, str):
        rules.add(report, where, rules.control_chars(value, multiline))
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            check_text(getattr(value, f.name), report, f"{path}.{f.name}" if path else f.name,
                       bool(f.metadata.get("multiline")))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_text(item, report, f"{path}[{i}]", multiline)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{path}.{k!r}" if path else repr(k)
            check_text(k, report, sub)
            check_text(v, report, f"{path}.{k}" if path else str(k), multiline)


def to_data(value: Any) -> Any:
    """Dataclass tree back to YAML-able data (Size as int, secrets masked)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_data(v) for k, v in value.items()}
    if isinstance(value, Size):
        return int(value)
    return MASK if isinstance(value, Secret) else value


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(to_data(value), sort_keys=False, default_flow_style=False)
