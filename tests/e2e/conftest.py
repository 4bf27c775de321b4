"""Fixtures for VM tests: a VM factory that cleans up and keeps logs of failed tests.

Logs of a failed test (serial console, QEMU command line, HTTP access log) are copied to
build/e2e-logs/<test name>/.

`installed_node` (session): one PXE unattended install per session; tests boot overlays of its
disk. For working on the tests that use it, HCINODE_E2E_INSTALLED=DIR keeps the install in DIR and
reuses it while DIR/installed.json exists (delete DIR after a new `make iso pxe`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_appliance_boot import JOIN_TEST, Engine, boot_engine, keep_engine_logs
from tests.e2e.test_install import InstalledNode, pxe_install
from tests.e2e.vm import APPLIANCE, BUILD, NODE_ISO, PXE_DIR, VM, make_ssh_key

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


def _keep_logs(dest: Path, workdirs: list[Path]) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    for workdir in workdirs:
        if workdir.exists():
            shutil.copytree(workdir, dest / workdir.name, ignore=shutil.ignore_patterns(
                "*.qcow2", "*.img", "*.raw", "*.fd", "srv", "media", "*.sock", "id_ed25519*"), dirs_exist_ok=True)


@pytest.fixture(scope="session")
def engine_appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The engine appliance booted once per session with a seed, serving /health (test_appliance_boot.py)."""
    _need(APPLIANCE, "appliance")
    work = tmp_path_factory.mktemp("engine-appliance")
    engine = None
    try:
        engine = boot_engine(work)
        yield engine
    except BaseException:
        keep_engine_logs(work, LOG_ROOT / "engine_appliance")
        raise
    finally:
        if engine is not None:
            engine.vm.kill()


@pytest.fixture(scope="session")
def installed_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> InstalledNode:
    """The node installed once per session by PXE + kickstart (with the session's ssh key for root),
    with `%hcinode` join settings for the session's engine appliance: test_appliance_boot.py boots
    an overlay that reaches the engine. When the appliance cannot boot, the install goes on without
    them (the other tests still run; the join test fails on the appliance's own error)."""
    _need(PXE_DIR / "boot.ipxe", "pxe")
    keep = os.environ.get("HCINODE_E2E_INSTALLED", "")
    work = Path(keep) if keep else tmp_path_factory.mktemp("installed-node")
    record = work / "installed.json"
    if keep and record.exists():
        return InstalledNode(work / "disk0.qcow2", make_ssh_key(work), json.loads(record.read_text()))
    join = None
    # only a session that runs the join test (make e2e does) gives the install the appliance's token
    if APPLIANCE.exists() and any(JOIN_TEST in item.nodeid for item in request.session.items):
        try:
            join = request.getfixturevalue("engine_appliance").join_settings()
        except Exception as exc:  # noqa: BLE001 - reported by the join test; the install must go on
            print(f"installed_node: no engine appliance, installing without %hcinode join settings: {exc}")
    try:
        node = pxe_install(work, join=join)
    except BaseException:
        _keep_logs(LOG_ROOT / "installed_node", [work / "install"])
        raise
    record.write_text(json.dumps(node.timings))
    return node


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
        _keep_logs(dest, [vm.workdir for vm in made])
