"""Schemathesis against the service's own OpenAPI schema, through a real uvicorn: no server errors.

Every operation gets generated requests, valid and invalid; each answer must
not be a 5xx, must use a status code the schema documents, and must have the
documented content type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import running
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from api.settings import Settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # Small caps and a deep queue, so every valid generated request is cheap and accepted.
    service = Settings(data_dir=tmp_path_factory.mktemp("openapi"), executor="serial", max_draws=20,
                       max_horizon_years=8, max_active_jobs=10_000)
    with running(service) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_no_server_errors_and_documented_responses(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
