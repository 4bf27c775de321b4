"""Options and fixtures for the whole test tree."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

import nodecore.secrets
from tests.goldenfiles import ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regenerate", action="store_true",
                     help="rewrite the golden files under tests/golden instead of comparing (review the git diff)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--regenerate"):
        os.environ[ENV] = "1"
    # Code under test that sets up logging without a test's own HCINODE_LOG_DIR must not write the
    # machine's /var/log/hcinode: the canary test searches it, and the test run is not the node.
    if "HCINODE_LOG_DIR" not in os.environ:
        os.environ["HCINODE_LOG_DIR"] = tempfile.mkdtemp(prefix="hcinode-test-log-")


@pytest.fixture(autouse=True)
def fixed_secret_key() -> Iterator[bytes]:
    """Step ids and password salts of secrets are HMACs under a per-machine key (nodecore.secrets):
    tests use a fixed one, so golden plans are the same on every machine and no test writes the
    key of the machine it runs on."""
    key = b"hcinode-test-key-".ljust(32, b"0")
    saved = nodecore.secrets._key
    nodecore.secrets._key = key
    yield key
    nodecore.secrets._key = saved
