"""Two service replicas, real `forecaster serve` processes, sharing one PostgreSQL and one results directory.

Jobs are claimed under leases: a replica killed mid-run loses its job to the other once its lease
runs out, and the rerun is bit-identical; a replica paused past its lease cannot write over the
run that took its job; concurrent submits run each job exactly once; a rolling restart loses no job;
the active-job cap is counted across replicas, and a cancel on one stops the run on the other.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import finished, free_port, process, stored, wait_for
from prometheus_client.parser import text_string_to_metric_families

from api.results import summary_document
from api.schema import parse_request
from api.store import JobStore
from forecaster import Calibration, forecast

pytestmark = pytest.mark.slow
#: Short leases, so that a dead replica's job is taken over within seconds.
LEASE = "2"
LONG = {"policy": "digital", "draws": 20_000, "horizon_years": 30, "seed": 11}  # a few seconds


def _environment(database_url: str, **overrides: str) -> dict[str, str]:
    """What every replica of a test is told: the shared store, short leases, room for many jobs."""
    return {"FORECASTER_DATABASE_URL": database_url, "FORECASTER_LEASE_SECONDS": LEASE,
            "FORECASTER_MAX_ACTIVE_JOBS": "64", **overrides}


@contextmanager
def replicas(
    data_dir: Path, database_url: str, count: int = 2, **overrides: str
) -> Iterator[list[tuple[Any, httpx.Client]]]:
    """Start ``count`` replicas on free ports; yield each one's process and client."""
    env = _environment(database_url, **overrides)
    with ExitStack() as stack:
        started = []
        for _ in range(count):
            port = free_port()
            child = stack.enter_context(process(data_dir, port, **env))
            client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30))
            started.append((child, client))
        yield started


def _expected(body: dict[str, Any], calibration: Calibration) -> Any:
    request = parse_request(json.loads(json.dumps(body)))
    return json.loads(json.dumps(summary_document(forecast(request, calibration).summary)))


def test_a_job_of_a_killed_replica_is_finished_by_the_other_bit_for_bit(
    tmp_path: Path, database_url: str, calibration: Calibration
) -> None:
    with replicas(tmp_path, database_url) as started:
        a = started[0][1]
        job = a.post("/v1/forecasts", json=LONG).json()["id"]
        wait_for(lambda: a.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
        store = JobStore(database_url)
        try:
            holder = store.get(job)  # either replica may have claimed it: both poll the store
            assert holder is not None and holder.attempt == 1 and holder.status == "running"
            killed, survivor = started if str(started[0][0].pid) in str(holder.lease_owner) else started[::-1]
            killed[0].send_signal(signal.SIGKILL)
            record = finished(survivor[1], job, timeout=300)
            assert record["status"] == "succeeded"
            taken = store.get(job)
            assert taken is not None and taken.attempt == 2 and str(survivor[0].pid) in str(taken.lease_owner)
        finally:
            store.close()
        summary = survivor[1].get(f"/v1/forecasts/{job}/summary").json()
        assert summary == _expected(record["request"], calibration)


def test_a_paused_replica_cannot_write_over_the_run_that_took_its_job(
    tmp_path: Path, database_url: str
) -> None:
    with replicas(tmp_path, database_url) as [(first, a), (second, b)]:
        job = a.post("/v1/forecasts", json=LONG).json()["id"]
        wait_for(lambda: a.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
        store = JobStore(database_url)
        try:
            holder = store.get(job)
            assert holder is not None and holder.lease_owner is not None
            paused = first if str(first.pid) in holder.lease_owner else second
            paused.send_signal(signal.SIGSTOP)  # a replica stalled (GC pause, a frozen VM) past its lease
            try:
                record = finished(b if paused is first else a, job, timeout=300)
                assert record["status"] == "succeeded"
                taken = store.get(job)
                assert taken is not None and taken.attempt == 2
            finally:
                paused.send_signal(signal.SIGCONT)
            # Awake again, the stale run learns at its next heartbeat that it lost the job, and stops.
            wait_for(lambda: not any(p.name.endswith(".attempt1.partial")
                                     for p in (tmp_path / "results").iterdir()), timeout=60)
            after = store.get(job)
            assert after is not None and (after.status, after.attempt, after.files) == (
                "succeeded", 2, taken.files)
        finally:
            store.close()


def test_concurrent_submits_over_both_replicas_run_each_job_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    small = {"policy": "digital", "economies": ["CHN", "USA"], "horizon_years": 3, "draws": 200}
    bodies = [{**small, "seed": seed} for seed in range(40)]
    with replicas(tmp_path, database_url) as started:
        clients = [client for _, client in started]
        ids: list[str] = [""] * len(bodies)

        def submit(index: int) -> None:
            answer = clients[index % 2].post("/v1/forecasts", json=bodies[index])
            assert answer.status_code == 202, answer.text
            ids[index] = answer.json()["id"]

        threads = [threading.Thread(target=submit, args=(index,)) for index in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert all(ids) and len(set(ids)) == 40
        for index, job in enumerate(ids):
            assert finished(clients[index % 2], job, timeout=300)["status"] == "succeeded"
    records = [stored(database_url, job) for job in ids]
    assert all(record is not None and record.attempt == 1 for record in records)  # one run per id
    owners = {str(record.lease_owner).split(":")[1] for record in records if record is not None}
    assert owners <= {str(child.pid) for child, _ in started}


def test_a_rolling_restart_of_both_replicas_loses_no_job(tmp_path: Path, database_url: str) -> None:
    bodies = [{**LONG, "draws": 6000, "seed": seed} for seed in range(6)]
    env = _environment(database_url)
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        running = [stack.enter_context(process(tmp_path, port, **env)) for port in ports]
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30) as client:
            ids = [client.post("/v1/forecasts", json=body).json()["id"] for body in bodies]
        for index, port in enumerate(ports):  # one replica at a time, as a RollingUpdate does
            running[index].send_signal(signal.SIGTERM)
            assert running[index].wait(60) == -signal.SIGTERM
            running[index] = stack.enter_context(process(tmp_path, port, **env))
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as client:
            for job in ids:
                assert finished(client, job, timeout=300)["status"] == "succeeded"
    assert os.listdir(tmp_path / "results") and not list((tmp_path / "results").glob("*.partial"))


def _runs(client: httpx.Client, outcome: str) -> float:
    """This replica's ``forecaster_job_runs_total`` for ``outcome``, read from its /metrics."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "forecaster_job_runs_total" and sample.labels["outcome"] == outcome:
                return sample.value
    raise AssertionError(f"no forecaster_job_runs_total{{outcome={outcome!r}}}")


def test_the_cap_and_cancellation_hold_across_replicas(tmp_path: Path, database_url: str) -> None:
    # Long enough (about 20 s serial) that a run which ignored a cancel would be seen to finish.
    slow = [{**LONG, "draws": 100_000, "seed": seed} for seed in range(3)]
    cap = {"FORECASTER_MAX_ACTIVE_JOBS": "2", "FORECASTER_RETRY_AFTER_SECONDS": "7"}
    with replicas(tmp_path, database_url, **cap) as started:
        (_, a), (_, b) = started
        first, second = (a.post("/v1/forecasts", json=body) for body in slow[:2])
        assert (first.status_code, second.status_code) == (202, 202)
        refused = b.post("/v1/forecasts", json=slow[2])  # two active jobs, counted in the database
        assert refused.status_code == 503 and refused.headers["retry-after"] == "7", refused.text
        job = first.json()["id"]
        wait_for(lambda: a.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
        holder = stored(database_url, job)
        assert holder is not None and holder.lease_owner is not None
        running, other = started if str(started[0][0].pid) in holder.lease_owner else started[::-1]
        cancelled = other[1].delete(f"/v1/forecasts/{job}")  # on the replica that is not running it
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        # The running replica learns of it at its next heartbeat and stops the run mid-way.
        wait_for(lambda: _runs(running[1], "stopped") == 1, timeout=60)
        assert _runs(running[1], "discarded") == 0 and _runs(running[1], "succeeded") == 0
        assert running[1].get(f"/v1/forecasts/{job}").json()["status"] == "cancelled"
        assert not (tmp_path / "results" / job).exists()
        # A place is free again, on either replica.
        assert b.post("/v1/forecasts", json=slow[2]).status_code == 202


def test_a_database_restart_loses_no_job(
    tmp_path: Path, calibration: Calibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", os.environ.get("XDG_RUNTIME_DIR", str(tmp_path)))  # as conftest
    import pgserver  # a server of this test's own: it is stopped and started again

    server = pgserver.get_server(tmp_path / "postgres", cleanup_mode="stop")
    url = server.get_uri()
    try:
        port = free_port()
        with process(tmp_path / "data", port, **_environment(url)), \
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            body = {**LONG, "draws": 30_000}
            job = client.post("/v1/forecasts", json=body).json()["id"]
            wait_for(lambda: client.get(f"/v1/forecasts/{job}").json()["progress"] > 0, timeout=120)
            server.cleanup()  # the last handle: the server stops (pg_ctl stop), its data stays
            down = client.post("/v1/forecasts", json={**body, "seed": 12})
            assert down.status_code == 503 and "retry-after" in down.headers, down.text
            assert client.get("/readyz").status_code == 503
            server = pgserver.get_server(tmp_path / "postgres", cleanup_mode="stop")  # back, same data
            assert server.get_uri() == url
            record = finished(client, job, timeout=300)
            assert record["status"] == "succeeded"
            summary = client.get(f"/v1/forecasts/{job}/summary").json()
            assert summary == _expected(record["request"], calibration)
            again = client.post("/v1/forecasts", json={**body, "seed": 12})
            assert again.status_code == 202
            assert finished(client, again.json()["id"], 300)["status"] == "succeeded"
            assert client.get("/readyz").status_code == 200
    finally:
        server.cleanup()
