"""Result files in object storage (``FORECASTER_RESULTS_URL``), against a real S3-compatible server.

Replicas that share no volume serve each other's results: every file is uploaded, with its SHA-256
recorded, before the job is marked succeeded, and downloaded into a replica's cache on first read.
A missing or changed object is never served; an unreachable store answers 503 and fails nothing.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import fsspec
import httpx
import pytest
from conftest import S3_ENVIRONMENT, s3_server
from live_server import backdate, finished, running, stored

from api.settings import Settings
from api.store import JobStore

BODY = {"policy": "digital", "economies": ["CHN", "USA"], "horizon_years": 3, "draws": 200}


def _objects(results_url: str, job: str) -> dict[str, str]:
    """SHA-256 of each object under the job's prefix, by file name."""
    filesystem, root = fsspec.core.url_to_fs(results_url, skip_instance_cache=True)
    return {Path(key).name: hashlib.sha256(filesystem.cat_file(key)).hexdigest()
            for key in filesystem.find(f"{root}/{job}")}


def test_a_replica_without_the_files_serves_them_from_object_storage(
    tmp_path: Path, database_url: str, results_url: str
) -> None:
    first, second = (Settings(data_dir=tmp_path / name, executor="serial", database_url=database_url,
                              results_url=results_url) for name in ("a", "b"))
    with running(first) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=BODY).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
        summary = client.get(f"/v1/forecasts/{job}/summary").content
    record = stored(database_url, job)
    assert record is not None and record.files is not None
    assert _objects(results_url, job) == record.files  # every file uploaded, as recorded
    with running(second) as url, httpx.Client(base_url=url, timeout=30) as client:  # shares no volume
        assert not (second.results_dir / job).exists()
        assert client.get(f"/v1/forecasts/{job}/summary").content == summary
        chart = client.get(f"/v1/forecasts/{job}/fanchart.png", params={"economy": "USA"})
        assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
        assert client.get(f"/v1/forecasts/{job}/data", params={"format": "csv"}).status_code == 200
    assert (second.results_dir / job / "summary.json").read_bytes() == summary  # now in B's cache


def test_a_changed_or_missing_object_is_never_served(tmp_path: Path, results_url: str) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", results_url=results_url)
    filesystem, root = fsspec.core.url_to_fs(results_url, skip_instance_cache=True)
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        changed, missing = (client.post("/v1/forecasts", json={**BODY, "seed": seed}).json()["id"]
                            for seed in (1, 2))
        for job in (changed, missing):
            assert finished(client, job)["status"] == "succeeded"
        filesystem.pipe_file(f"{root}/{changed}/summary.json", b"{}")
        filesystem.rm_file(f"{root}/{missing}/summary.json")
        for job in (changed, missing):
            (settings.results_dir / job / "summary.json").unlink()  # the cache no longer has it
            answer = client.get(f"/v1/forecasts/{job}/summary")
            assert answer.status_code == 500 and answer.json()["type"] == "/problems/damaged-results"
            assert client.get(f"/v1/forecasts/{job}").json()["status"] == "failed"


def test_an_unreachable_object_store_fails_no_stored_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with s3_server() as endpoint:  # a server of this test's own, stopped half-way
        # One attempt per request (botocore's default is several, with back-off): the same answers, sooner.
        for name, value in {**S3_ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint, "AWS_MAX_ATTEMPTS": "1"}.items():
            monkeypatch.setenv(name, value)
        fsspec.filesystem("s3", skip_instance_cache=True).mkdir("outage")
        settings = Settings(data_dir=tmp_path, executor="serial", results_url="s3://outage/results")
        with running(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
            job = client.post("/v1/forecasts", json=BODY).json()["id"]
            assert finished(client, job)["status"] == "succeeded"
    with running(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        (settings.results_dir / job / "summary.json").unlink()
        answer = client.get(f"/v1/forecasts/{job}/summary")
        assert answer.status_code == 503 and "retry-after" in answer.headers, answer.text
        assert "s3://outage/results" in answer.json()["detail"]
        assert client.get(f"/v1/forecasts/{job}").json()["status"] == "succeeded"  # not failed: unreachable
        later = client.post("/v1/forecasts", json={**BODY, "seed": 3}).json()["id"]
        record = finished(client, later, timeout=300)  # its files cannot be uploaded
        assert record["status"] == "failed" and "result store s3://outage/results" in record["error"]
        assert not (settings.results_dir / later).exists()


def test_retention_deletes_the_objects_and_old_cached_copies(tmp_path: Path, results_url: str) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", results_url=results_url, retention_days=1)
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=BODY).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
    assert _objects(results_url, job)
    store = JobStore(settings.store_location)
    try:
        backdate(store, job)
    finally:
        store.close()
    stale = settings.results_dir / "expired-by-another-replica"  # a copy whose job is gone elsewhere
    stale.mkdir()
    os.utime(stale, (0, 0))
    with running(settings):  # a replica expires old jobs as it starts
        pass
    assert _objects(results_url, job) == {} and not (settings.results_dir / job).exists()
    assert not stale.exists()
