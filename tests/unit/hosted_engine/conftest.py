import copy
from pathlib import Path
from typing import Any

import pytest

from nodecore.config import load_yaml_file

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
