"""Options for the whole test tree."""

from __future__ import annotations

import os

import pytest

from tests.goldenfiles import ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regenerate", action="store_true",
                     help="rewrite the golden files under tests/golden instead of comparing (review the git diff)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--regenerate"):
        os.environ[ENV] = "1"
