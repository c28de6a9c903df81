"""The HTTP service through a real uvicorn on loopback: end to end on Ray, errors, auth, overload, restart."""

from __future__ import annotations

import io
import json
import re
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from live_server import finished, free_port, process, running, wait_for
from prometheus_client import CollectorRegistry, Counter, generate_latest

from api.cli import main
from api.metrics import Metrics
from api.results import summary_document
from api.schema import parse_request
from api.settings import Settings
from api.store import JobStore
from forecaster import MODEL_VERSION, BacktestRequest, Calibration, forecast, run_backtest, track_record

BODY = {"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"], "horizon_years": 10,
        "draws": 1000, "seed": 7}


@pytest.fixture(scope="module")
def ray_service(ray_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("ray-service"), executor="ray")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("service"), executor="serial",
                        max_draws=50_000, max_horizon_years=40)
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def expected_summary(body: dict[str, Any], calibration: Calibration) -> Any:
    """What the summary endpoint must serve: a direct serial forecast, through JSON."""
    request = parse_request(json.loads(json.dumps(body)))
    return json.loads(json.dumps(summary_document(forecast(request, calibration).summary)))


def test_submit_poll_and_fetch_every_result_on_ray(
    ray_service: httpx.Client, calibration: Calibration
) -> None:
    submitted = ray_service.post("/v1/forecasts", json=BODY)
    assert submitted.status_code == 202
    job = submitted.json()["id"]
    assert submitted.headers["location"] == f"/v1/forecasts/{job}"
    record = finished(ray_service, job)
    assert record["status"] == "succeeded" and record["progress"] == 1.0 and record["error"] is None
    assert record["created_at"] <= record["started_at"] <= record["finished_at"]

    summary = ray_service.get(f"/v1/forecasts/{job}/summary").json()
    assert summary == expected_summary(record["request"], calibration)  # Ray = serial, bit for bit
    assert summary["coords"]["economy"] == ["CHN", "USA", "EU"]
    quantiles = np.array(summary["variables"]["tfp_quantile"]["values"])
    assert summary["variables"]["tfp_quantile"]["dims"] == ["quantile", "year", "economy"]
    assert np.all(np.diff(quantiles, axis=0) >= 0)
    assert {"prob_beats_baseline", "diff_tfp_mean", "diff_real_income_mean", "diff_static_gain_mean",
            "channel_growth_mean", "tfp_growth_prob_above_mcse"} <= set(summary["variables"])

    netcdf = ray_service.get(f"/v1/forecasts/{job}/data", params={"format": "netcdf"})
    assert netcdf.headers["content-type"] == "application/x-netcdf"
    draws = xr.open_dataset(io.BytesIO(netcdf.content), engine="scipy")
    assert draws.sizes["draw"] == 1000 and list(draws.economy.values) == ["CHN", "USA", "EU"]
    csv = pd.read_csv(io.StringIO(ray_service.get(f"/v1/forecasts/{job}/data?format=csv").text))
    assert {"variable", "value", "year", "economy"} <= set(csv.columns)
    chart = ray_service.get(f"/v1/forecasts/{job}/fanchart.png", params={"economy": "USA"})
    assert chart.headers["content-type"] == "image/png" and chart.content.startswith(b"\x89PNG")

    again = ray_service.post("/v1/forecasts", json=BODY)
    assert again.status_code == 200 and again.json()["id"] == job  # same request and seed: same job
    echoed = ray_service.post("/v1/forecasts", json=record["request"])  # the record, posted back
    assert echoed.status_code == 200 and echoed.json()["id"] == job
    metrics = ray_service.get("/metrics").text
    assert "forecaster_draws_simulated_total 1000.0" in metrics
    assert 'forecaster_jobs{state="succeeded"} 1.0' in metrics
    assert 'forecaster_http_requests_total{method="POST",route="/v1/forecasts",status="202"} 1.0' in metrics
    assert "forecaster_ray_cpus 2.0" in metrics
    available = re.search(r"^forecaster_ray_cpus_available (\S+)$", metrics, re.MULTILINE)
    assert available is not None and 0 <= float(available[1]) <= 2  # Ray may not have freed them yet
    post_202 = '{method="POST",route="/v1/forecasts",status="202"} 1.0'
    assert f"forecaster_http_request_duration_seconds_count{post_202}" in metrics
    assert "forecaster_simulation_duration_seconds_count 1.0" in metrics
    assert ray_service.get("/readyz").json() == {"status": "ready"}


def test_a_different_seed_is_a_different_job(service: httpx.Client) -> None:
    small = {**BODY, "draws": 50, "horizon_years": 5}
    first = service.post("/v1/forecasts", json=small).json()["id"]
    second = service.post("/v1/forecasts", json={**small, "seed": 8}).json()["id"]
    assert first != second


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"policy": "utopia"}, "body.policy.preset", "known presets"),
        ({"policy": {"digital": {"intensity": 1.5}}}, "body.policy.digital.intensity", "[0.0, 1.0]"),
        ({"policy": {"hardware": {"start_year": 1900}}}, "body.policy.hardware.start_year", "1990"),
        ({"policy": {"software": {"phase_in_years": 99}}}, "body.policy.software.phase_in_years", "50"),
        ({"policy": {"industrial": {"intensity": 1, "enacting": ["ATLANTIS"]}}},
         "body.policy.industrial.enacting", "ATLANTIS"),
        ({"policy": {"digital": {"colour": "red"}}}, "body.policy.digital.colour", "unknown field"),
        ({"policy": "digital", "economies": ["USA", "EU"]}, "body.policy.digital.enacting",
         "'CHN' is not among the simulated economies ['USA', 'EU']"),
        ({"economies": ["CHN", "XXX"]}, "body.economies", "XXX"),
        ({"economies": ["CHN", "USA", "CHN"]}, "body.economies", "['CHN'] more than once"),
        ({"economies": ["CHN"]}, "body.economies", "at least two"),
        ({"policy": {"digital": {"intensity": 1, "partners": ["ATLANTIS"]}}}, "body.policy.digital.partners",
         "ATLANTIS"),
        ({"policy": {"fragmentation": {"intensity": 2}}}, "body.policy.fragmentation.intensity",
         "[0.0, 1.0]"),
        ({"policy": {"name": "x" * 65}}, "body.policy.name", "1 to 64 characters"),
        ({"policy": {"name": "two\nlines"}}, "body.policy.name", "no control characters"),
        ({"horizon_years": 0}, "body.horizon_years", "[1, 100]"),
        ({"horizon_years": 41}, "body.horizon_years", "at most 40"),
        ({"draws": 0}, "body.draws", "[1, 1000000]"),
        ({"draws": 50_001}, "body.draws", "at most 50000"),
        ({"draws": 2.5}, "body.draws", "integer"),
        ({"seed": -1}, "body.seed", "2**63"),
        ({"seed": 2**63}, "body.seed", "2**63"),
        ({"quantiles": [0.5, 1.2]}, "body.quantiles", "(0, 1)"),
        ({"thresholds": [3]}, "body.thresholds", "[-1, 1]"),
        ({"compare_to_baseline": "maybe"}, "body.compare_to_baseline", "boolean"),
        ({"compare_to_baseline": 1}, "body.compare_to_baseline", "boolean"),
        ({"draws": "100"}, "body.draws", "integer"),
        ({"draws": True}, "body.draws", "integer"),
        ({"horizon": 10}, "body.horizon", "unknown field"),
    ],
)
def test_bad_input_names_the_field_and_the_limit(
    service: httpx.Client, body: dict[str, Any], field: str, words: str
) -> None:
    response = service.post("/v1/forecasts", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["type"] == "/problems/invalid-request"
    assert any(error["field"] == field and words in error["message"] for error in problem["errors"]), problem


def test_bad_query_parameters_name_the_parameter(service: httpx.Client) -> None:
    job = service.post("/v1/forecasts", json={**BODY, "draws": 50, "horizon_years": 3}).json()["id"]
    assert finished(service, job)["status"] == "succeeded"
    for path, field, words in [
        (f"/v1/forecasts/{job}/data?format=xlsx", "query.format", "'netcdf' or 'csv'"),
        (f"/v1/forecasts/{job}/fanchart.png?economy=JPN", "query.economy", "['CHN', 'USA', 'EU']"),
    ]:
        response = service.get(path)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert any(error["field"] == field and words in error["message"] for error in errors), errors


def test_the_economy_cap_counts_all_economies_when_none_are_listed(tmp_path: Path) -> None:
    with running(Settings(data_dir=tmp_path, executor="serial", max_economies=2)) as url:
        for body, count in (({"economies": ["CHN", "USA", "EU"]}, 3), ({}, 12)):
            problem = httpx.post(f"{url}/v1/forecasts", json=body).json()
            assert problem["errors"] == [
                {"field": "body.economies", "message": f"must be at most 2 on this service, got {count}"}
            ]


def test_malformed_and_oversized_bodies_are_problems(service: httpx.Client) -> None:
    broken = service.post("/v1/forecasts", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.headers["content-type"] == "application/problem+json"
    undecodable = service.post("/v1/forecasts", content=b"\xff", headers={"content-type": "application/json"})
    assert undecodable.status_code == 400 and undecodable.json()["title"] == "Bad request"
    assert undecodable.headers["content-type"] == "application/problem+json"
    big = service.post("/v1/forecasts", content=b" " * 70_000, headers={"content-type": "application/json"})
    assert big.status_code == 413 and "65536 bytes" in big.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while streaming
        for _ in range(10):
            yield b" " * 10_000

    streamed = service.post("/v1/forecasts", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    missing = service.get("/v1/forecasts/0123456789abcdef")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    assert service.get("/nowhere").headers["content-type"] == "application/problem+json"


def test_cancel_a_running_job(service: httpx.Client) -> None:
    big = {"draws": 50_000, "horizon_years": 40, "seed": 99}
    job = service.post("/v1/forecasts", json=big).json()["id"]
    wait_for(lambda: service.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)  # running
    cancelled = service.delete(f"/v1/forecasts/{job}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert finished(service, job)["status"] == "cancelled"
    assert service.delete(f"/v1/forecasts/{job}").status_code == 409
    assert service.get(f"/v1/forecasts/{job}/summary").status_code == 409
    # Resubmitting a cancelled job queues it again; cancel it for good.
    assert service.post("/v1/forecasts", json=big).status_code == 202
    assert service.delete(f"/v1/forecasts/{job}").status_code == 200


def test_catalogue_endpoints(service: httpx.Client, calibration: Calibration) -> None:
    presets = service.get("/v1/presets").json()
    assert "high-level-opening" in presets and presets["digital"]["policy"]["digital"]["intensity"] == 1.0
    levers = service.get("/v1/levers").json()
    assert set(levers) == {"hardware", "software", "digital", "industrial"}
    assert levers["digital"]["ranges"]["intensity"] == [0, 1]
    economies = service.get("/v1/economies").json()
    assert list(economies["economies"]) == list(calibration.economies)
    assert economies["sha256"] == calibration.digest
    assert {"value", "source", "year"} <= set(economies["economies"]["CHN"]["data"]["rd_intensity"])
    assert service.get("/healthz").json() == {"status": "ok"}
    record = service.get("/v1/track-record").json()  # the backtest's headline, as the CLI prints it
    assert record == {**track_record(run_backtest(BacktestRequest())), **{
        key: record[key] for key in ("best_benchmark", "skill_vs_best", "origins", "horizon_years",
                                     "n_draws", "model_version")}}
    assert record["origins"] == [1990, 1995, 2000, 2005] and record["model_version"] == MODEL_VERSION
    assert record["skill_vs_best"] == record[f"skill_vs_{record['best_benchmark']}"]


def test_api_keys(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", api_keys=("first-key", "second-key"))
    with running(settings) as url, httpx.Client(base_url=url) as client:
        refused = client.get("/v1/presets")
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert "X-API-Key" in refused.json()["detail"]
        assert client.get("/v1/presets", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/presets", headers={"X-API-Key": "second-key"}).status_code == 200
        assert client.post("/v1/forecasts", json={"draws": 10}).status_code == 401
        assert client.get("/healthz").status_code == 200  # probes need no key


def test_an_invalid_setting_is_named_and_exits_2(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FORECASTER_MAX_DRAWS", "0")
    assert main(["serve"]) == 2
    assert "FORECASTER_MAX_DRAWS" in capsys.readouterr().err


def test_api_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECASTER_API_KEYS", " a-key, another ,")
    monkeypatch.setenv("FORECASTER_MAX_DRAWS", "5000")
    settings = Settings()
    assert settings.api_keys == ("a-key", "another") and settings.max_draws == 5000


def test_overload_is_refused_with_retry_after_and_nothing_accepted_is_lost(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", max_active_jobs=2, retry_after_seconds=7)
    bodies = [{"draws": 4000, "horizon_years": 20, "seed": seed} for seed in range(8)]
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        responses: list[httpx.Response] = []
        lock = threading.Lock()

        def submit(body: dict[str, Any]) -> None:
            response = client.post("/v1/forecasts", json=body)
            with lock:
                responses.append(response)

        threads = [threading.Thread(target=submit, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(response.status_code for response in responses)
        assert len(statuses) == 8 and set(statuses) <= {202, 503}, statuses
        refused = [response for response in responses if response.status_code == 503]
        assert refused and all(response.headers["retry-after"] == "7" for response in refused)
        assert all(response.json()["type"] == "/problems/overloaded" for response in refused)
        accepted = [response.json()["id"] for response in responses if response.status_code == 202]
        assert 2 <= len(accepted) <= 6
        for job in accepted:
            assert finished(client, job)["status"] == "succeeded"


@pytest.mark.parametrize(("stop", "left"), [(signal.SIGKILL, "running"), (signal.SIGTERM, "queued")],
                         ids=["killed", "stopped"])
@pytest.mark.slow  # restarts a service process
def test_a_job_survives_a_stopped_server(
    tmp_path: Path, calibration: Calibration, stop: signal.Signals, left: str
) -> None:
    """Killed, the job is left running and requeued at the next start; stopped, it is requeued at once."""
    body = {"policy": "digital", "draws": 20_000, "horizon_years": 30, "seed": 11}  # a few seconds
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process(tmp_path, port) as child, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=body).json()["id"]
        wait_for(lambda: client.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
        child.send_signal(stop)
        assert child.wait(60) == -stop  # uvicorn re-raises SIGTERM once it has stopped gracefully
    record = JobStore(tmp_path / "jobs.sqlite3").get(job)
    assert record is not None and record.status == left
    with process(tmp_path, port), httpx.Client(base_url=url, timeout=30) as client:
        record = finished(client, job, timeout=300)
        assert record["status"] == "succeeded"
        summary = client.get(f"/v1/forecasts/{job}/summary").json()
    assert summary == expected_summary(record["request"], calibration)
@pytest.mark.slow  # restarts a service process
def test_the_service_starts_its_own_ray_and_stops_gracefully(tmp_path: Path) -> None:
    """No Ray in the process before: the lifespan starts an embedded one and runs jobs on it; SIGTERM
    still stops the service gracefully (``ray.init`` installs a handler that exits at once)."""
    port = free_port()
    env = {"FORECASTER_EXECUTOR": "ray", "FORECASTER_RAY_NUM_CPUS": "1"}
    with process(tmp_path, port, **env) as child, httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                               timeout=30) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        assert "forecaster_ray_cpus 1.0" in client.get("/metrics").text
        job = client.post("/v1/forecasts", json={"draws": 200, "horizon_years": 3}).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
        job = client.post("/v1/forecasts", json={"draws": 20_000, "horizon_years": 30}).json()["id"]
        wait_for(lambda: client.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
        child.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down gracefully; Ray's handler would exit(15).
        assert child.wait(60) == -signal.SIGTERM
    record = JobStore(tmp_path / "jobs.sqlite3").get(job)
    assert record is not None and record.status == "queued"  # the lifespan's shutdown requeued it


def test_created_series_are_left_out_of_the_service_metrics_only() -> None:
    """The service's registry drops ``_created`` series; other registries of the process keep theirs."""
    metrics = Metrics()
    metrics.damaged_results.inc()
    served = generate_latest(metrics.registry).decode()
    assert "forecaster_damaged_results_total 1.0" in served and "_created" not in served
    own = CollectorRegistry()
    Counter("user_events", "a user's own counter", registry=own).inc()
    assert "user_events_created" in generate_latest(own).decode()
