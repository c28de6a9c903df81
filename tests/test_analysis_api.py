"""Analysis jobs over real HTTP: attributions, comparisons and sensitivities, and the list of jobs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import xarray as xr
from live_server import finished, running

from api.results import summary_document
from api.settings import Settings
from forecaster import PRESETS, Calibration, ForecastRequest, attribute, compare, policy_from_dict
from forecaster.sensitivity import sensitivity

RUN = {"economies": ["CHN", "USA"], "horizon_years": 4, "draws": 300, "seed": 3}
REQUEST = ForecastRequest(economies=("CHN", "USA"), horizon_years=4, n_draws=300, seed=3)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("analyses"), executor="serial")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _document(result: xr.Dataset) -> Any:
    return json.loads(json.dumps(summary_document(result)))


def _run(service: httpx.Client, collection: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    submitted = service.post(f"/v1/{collection}", json=body)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]
    assert submitted.headers["location"] == f"/v1/{collection}/{job}"
    record = finished(service, job, collection=collection)
    assert record["status"] == "succeeded", record
    return job, record


def test_an_attribution_job_serves_what_the_library_computes(
    service: httpx.Client, calibration: Calibration
) -> None:
    job, record = _run(service, "attributions", {"policy": "high-level-opening", **RUN})
    assert record["kind"] == "attribution" and record["request"]["levers"] is None
    expected = attribute(ForecastRequest(policy=PRESETS["high-level-opening"], economies=("CHN", "USA"),
                                         horizon_years=4, n_draws=300, seed=3), calibration=calibration)
    assert service.get(f"/v1/attributions/{job}/result").json() == _document(expected)
    netcdf = service.get(f"/v1/attributions/{job}/data")
    written = xr.open_dataset(io.BytesIO(netcdf.content), engine="scipy")
    np.testing.assert_allclose(written.tfp.sum("lever"), written.tfp_total, rtol=1e-9, atol=1e-12)
    assert "tfp_interaction" in service.get(f"/v1/attributions/{job}/data?format=csv").text
    chart = service.get(f"/v1/attributions/{job}/chart.png", params={"economy": "USA"})
    assert chart.headers["content-type"] == "image/png" and chart.content.startswith(b"\x89PNG")
    again = service.post("/v1/attributions", json=record["request"])  # the record, posted back
    assert again.status_code == 200 and again.json()["id"] == job


def test_a_comparison_job_takes_presets_and_policy_objects(
    service: httpx.Client, calibration: Calibration
) -> None:
    mine = {"name": "half-digital", "digital": {"intensity": 0.5, "enacting": ["CHN"]}}
    job, record = _run(service, "comparisons", {"policies": ["baseline", mine], **RUN})
    assert record["links"]["chart"] is None and [p["name"] for p in record["request"]["policies"]] == [
        "baseline", "half-digital"]
    result = service.get(f"/v1/comparisons/{job}/result").json()
    expected = compare(REQUEST, [PRESETS["baseline"], policy_from_dict(mine)], calibration=calibration)
    assert result == _document(expected)
    first = np.array(result["variables"]["prob_first"]["values"])
    np.testing.assert_allclose(first.sum(axis=0), 1.0)


def test_a_sensitivity_job_serves_indices_and_a_tornado(
    service: httpx.Client, calibration: Calibration
) -> None:
    body = {"policy": "digital", "groups": ["beta", "macro", "efficacy"], **RUN}
    job, _ = _run(service, "sensitivities", body)
    expected = sensitivity(ForecastRequest(policy=PRESETS["digital"], economies=("CHN", "USA"),
                                           horizon_years=4, n_draws=300, seed=3),
                           groups=("beta", "macro", "efficacy"), calibration=calibration)
    assert service.get(f"/v1/sensitivities/{job}/result").json() == _document(expected)
    chart = service.get(f"/v1/sensitivities/{job}/chart.png")
    assert chart.content.startswith(b"\x89PNG")


def test_jobs_are_listed_newest_first_and_found_only_under_their_kind(service: httpx.Client) -> None:
    forecast_job, _ = _run(service, "forecasts", {"policy": "digital", **RUN})
    listed = service.get("/v1/jobs", params={"limit": 200}).json()
    assert listed[0]["id"] == forecast_job and listed[0]["kind"] == "forecast"
    times = [job["created_at"] for job in listed]
    assert times == sorted(times, reverse=True)
    assert {"attribution", "comparison", "sensitivity"} <= {job["kind"] for job in listed}
    analysis = next(job for job in listed if job["kind"] == "attribution")
    assert service.get(f"/v1/forecasts/{analysis['id']}").status_code == 404
    assert service.get(f"/v1/attributions/{forecast_job}").status_code == 404
    assert service.get(f"/v1/comparisons/{analysis['id']}/result").status_code == 404
    assert service.get("/v1/jobs", params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(
    ("collection", "body", "field", "words"),
    [
        ("comparisons", {"policies": ["baseline"]}, "body.policies", "must be 2 to 6 policies, got 1"),
        ("comparisons", {"policies": ["digital"] * 7}, "body.policies", "must be 2 to 6 policies, got 7"),
        ("comparisons", {"policies": ["digital", "digital"]}, "body.policies", "must have distinct names"),
        ("comparisons", {"policies": ["digital", {"digital": {"intensity": 2}}]},
         "body.policies[1].digital.intensity", "must be in [0.0, 1.0]"),
        ("comparisons", {"policy": "digital", "policies": ["baseline", "digital"]}, "body.policy",
         "unknown field"),
        ("attributions", {"policy": "baseline"}, "body.policy", "sets no lever above intensity 0"),
        ("attributions", {"levers": ["tariffs"]}, "body.levers", "must be distinct names among"),
        ("attributions", {"policy": "high-level-opening", "draws": 100_000, "horizon_years": 30},
         "body.draws", "x 16 policy mixes"),
        ("sensitivities", {"groups": ["weather"]}, "body.groups", "must be distinct names among"),
        ("sensitivities", {"quantiles": [0.5]}, "body.quantiles", "unknown field"),
    ],
)
def test_bad_analyses_are_refused_naming_the_field_and_nothing_is_queued(
    service: httpx.Client, collection: str, body: dict[str, Any], field: str, words: str
) -> None:
    before = len(service.get("/v1/jobs", params={"limit": 200}).json())
    answer = service.post(f"/v1/{collection}", json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-request" and problem["errors"][0]["field"] == field
    assert words in problem["errors"][0]["message"]
    assert len(service.get("/v1/jobs", params={"limit": 200}).json()) == before
