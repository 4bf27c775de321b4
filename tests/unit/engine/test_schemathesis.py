"""Property-based run against the served OpenAPI document (bounded, fixed seed): no request makes a
500, and without credentials no admin or agent operation answers anything but 401/403."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings

from tests.unit.engine.conftest import Engine

PUBLIC = {"/health", "/api/v1/ca", "/api/v1/join"}


def _operations(engine: Engine) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", engine.app)
    return [op.ok() for op in schema.get_all_operations()]


@pytest.mark.parametrize("credentials", ["none", "admin"])
def test_no_500_and_no_way_past_auth(engine: Engine, credentials: str) -> None:
    ops = _operations(engine)
    assert len(ops) >= 14
    for op in ops:
        @seed(1313)
        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            headers = {}
            if credentials == "admin":
                import base64

                headers["Authorization"] = "Basic " + base64.b64encode(f"admin:{engine.admin[1]}".encode()).decode()
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text)
            if credentials == "none" and case.path not in PUBLIC:
                assert response.status_code in (401, 403, 429), (case.method, case.path, response.status_code)

        run()
