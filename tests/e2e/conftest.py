"""Fixtures for VM tests: a VM factory that cleans up and keeps logs of failed tests.

Logs of a failed test (serial console, QEMU command line, HTTP access log) are copied to
build/e2e-logs/<test name>/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.vm import APPLIANCE, BUILD, NODE_ISO, PXE_DIR, VM

LOG_ROOT = BUILD / "e2e-logs"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def _need(path: Path, target: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make {target}` first (make e2e builds it)")
    return path


@pytest.fixture
def node_iso() -> Path:
    return _need(NODE_ISO, "iso")


@pytest.fixture
def pxe_dir() -> Path:
    return _need(PXE_DIR / "boot.ipxe", "pxe").parent


@pytest.fixture
def appliance_image() -> Path:
    return _need(APPLIANCE, "appliance")


@pytest.fixture
def vm_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., VM]]:
    """vm_factory(name, **VM fields) -> VM (not started). All are killed when the test ends."""
    made: list[VM] = []

    def make(name: str, **kwargs: Any) -> VM:
        vm = VM(name=name, workdir=tmp_path / name, **kwargs)
        made.append(vm)
        return vm

    yield make
    for vm in made:
        vm.kill()
    failed = any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))
    if failed:
        dest = LOG_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        shutil.rmtree(dest, ignore_errors=True)
        for vm in made:
            if vm.workdir.exists():
                shutil.copytree(vm.workdir, dest / vm.name, ignore=shutil.ignore_patterns(
                    "*.qcow2", "*.img", "*.fd", "srv", "media", "*.sock"), dirs_exist_ok=True)
