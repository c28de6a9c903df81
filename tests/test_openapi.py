"""Schemathesis against the service's own OpenAPI schema, through a real uvicorn: no server errors.

Every operation gets generated requests, valid and invalid (schemathesis's
positive and negative modes), and the operations on one job get them also
for a job that exists and has succeeded, so that its files are fetched; each
answer must not be a 5xx, must use a status code the schema documents, and
must have the documented content type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import finished, running
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from api.settings import Settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """The service's schema, and the id of a job of it that has succeeded."""
    # Small caps and a deep queue, so every valid generated request is cheap and accepted.
    service = Settings(data_dir=tmp_path_factory.mktemp("openapi"), executor="serial", max_draws=20,
                       max_horizon_years=8, max_active_jobs=10_000)
    with running(service) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json={"draws": 20, "horizon_years": 5, "economies": ["CHN", "EU"]})
        assert finished(client, job.json()["id"])["status"] == "succeeded"
        yield schemathesis.openapi.from_url(f"{url}/openapi.json"), job.json()["id"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_documented_responses(served: tuple[Any, str], mode: GenerationMode) -> None:
    api_schema, job = served
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        inputs = {parameter["name"] for parameter in operation.definition.raw.get("parameters", [])}
        if "requestBody" in operation.definition.raw:
            inputs.add("body")
        strategies = []
        # Negative mode needs an input to make invalid (with the job fixed, one more than it).
        if mode is GenerationMode.POSITIVE or inputs:
            strategies.append(operation.as_strategy(mode))
        if "job" in inputs and (mode is GenerationMode.POSITIVE or len(inputs) > 1):
            strategies.append(operation.as_strategy(mode, path_parameters={"job": job}))
        for strategy in strategies:

            @given(case=strategy)
            @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                case.call_and_validate(checks=CHECKS)

            check()
