"""Fixtures for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nodecore.secrets


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
