import copy
from pathlib import Path
from typing import Any

import pytest

from nodecore.config import load_yaml_file
from tests.unit.hosted_engine.he_hosts import buffered

DATA = Path(__file__).resolve().parents[2] / "data" / "hosted_engine"
SPEC_FILE = DATA / "spec.yaml"


def base_data() -> dict[str, Any]:
    return copy.deepcopy(load_yaml_file(str(SPEC_FILE)))


@pytest.fixture
def spec_data() -> dict[str, Any]:
    return base_data()


@pytest.fixture
def spec():
    from hosted_engine.spec import parse_spec

    parsed, report = parse_spec(base_data())
    assert parsed is not None, report.render_text()
    return parsed


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    from hosted_engine import hosts, maintenance

    monkeypatch.setattr(hosts, "_metadata", buffered)
    monkeypatch.setattr(maintenance, "_metadata", buffered)
    return tmp_path
