"""Debian's headless Chromium logs into the dashboard and reads the hosts table (docs/img screenshot)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests import engine_harness as h
from tests.engine_client import join

pytestmark = pytest.mark.integration

SCREENSHOT = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "img", "engine-dashboard.png")


def test_dashboard_in_headless_chromium(tmp_path: Any) -> None:
    data_dir = str(tmp_path / "engine")
    with h.served(data_dir, h.init_engine(data_dir)) as engine:
        ca = requests.get(engine.url + "/api/v1/ca", verify=False, timeout=10).json()["ca"]
        for name in ("node1.example.test", "node2.example.test"):
            r, node = join(engine.url, ca, engine.token(), name, str(tmp_path / name))
            assert node
            node.heartbeat({"vms": [{"name": f"vm-{name[:5]}", "uuid": "u", "state": "running", "vcpus": 2,
                                     "memory_kib": 2097152, "cpu_time_ns": 1}]})
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tempfile.mkdtemp(dir=str(tmp_path))}", "--window-size=1280,800"):
            options.add_argument(flag)
        # the test's CA is not in the browser's store; the engine's own tests check the certificate
        options.accept_insecure_certs = True
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.set_page_load_timeout(60)
            driver.get(engine.url + "/")
            driver.find_element(By.ID, "password").send_keys(h.PASSWORD)
            driver.find_element(By.ID, "submit").click()
            # the click returns before the dashboard page has loaded: wait for its rows, not a fixed sleep
            rows = WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#hosts tbody tr"))
            table = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
            assert [r[0] for r in table] == ["node1.example.test", "node2.example.test"]
            assert all(r[1] == "Up" for r in table)
            # the docs' screenshot is refreshed on request only: a test run leaves the work tree as it was
            driver.save_screenshot(SCREENSHOT if os.environ.get("HCINODE_SCREENSHOTS") else str(tmp_path / "d.png"))
        finally:
            driver.quit()
