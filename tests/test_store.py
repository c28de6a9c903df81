"""The job store, SQLite and a real PostgreSQL alike: ids, capacity, state changes, recovery, retention."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from live_server import backdate, finished, running

from api.jobs import JobSpec
from api.metrics import Metrics
from api.runner import JobRunner
from api.settings import Settings
from api.store import MIGRATIONS, JobStateError, JobStore, SQLiteBackend, StoreFullError, job_id
from forecaster import PRESETS, Calibration, ForecastRequest, SerialExecutor

REQUEST = ForecastRequest(policy=PRESETS["digital"], n_draws=100, horizon_years=5)
SPEC = JobSpec("forecast", REQUEST)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """A fresh store of each backend: behaviour must not depend on which."""
    sqlite = request.param == "sqlite"
    where = tmp_path / "jobs.sqlite3" if sqlite else request.getfixturevalue("database_url")
    opened = JobStore(where)
    yield opened
    opened.close()


def test_ids_hash_everything_that_determines_the_result() -> None:
    same = ForecastRequest(policy=PRESETS["digital"], n_draws=100, horizon_years=5)
    assert job_id(SPEC, "abc") == job_id(JobSpec("forecast", same), "abc")
    assert job_id(SPEC, "abc") != job_id(SPEC, "abd")  # another calibration
    for other in (ForecastRequest(policy=PRESETS["digital"], n_draws=100, horizon_years=5, seed=1),
                  ForecastRequest(policy=PRESETS["software"], n_draws=100, horizon_years=5),
                  ForecastRequest(policy=PRESETS["digital"], n_draws=100, horizon_years=5, quantiles=(0.1,))):
        assert job_id(JobSpec("forecast", other), "abc") != job_id(SPEC, "abc")


def test_capacity_counts_queued_and_running_jobs(store: JobStore) -> None:
    store.submit("a", SPEC, capacity=2)
    store.submit("b", SPEC, capacity=2)
    assert store.submit("a", SPEC, capacity=2)[1] is False  # existing job: no slot needed
    with pytest.raises(StoreFullError):
        store.submit("c", SPEC, capacity=2)
    claim = store.claim("test")
    assert claim is not None and claim.job == "a"
    store.finish(claim, "succeeded")
    assert store.submit("c", SPEC, capacity=2)[1] is True  # a finished job frees its slot


def test_cancel_stands_against_a_late_finish(store: JobStore) -> None:
    store.submit("a", SPEC, capacity=5)
    claim = store.claim("test")
    assert claim is not None
    assert store.cancel("a").status == "cancelled"
    assert store.heartbeat(claim) is False  # the run learns it has lost the job
    assert store.finish(claim, "succeeded") is False  # the worker finished just after the cancel
    assert store.get("a").status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(JobStateError):
        store.cancel("a")
    with pytest.raises(KeyError):
        store.cancel("missing")
    record, queued = store.submit("a", SPEC, capacity=5)  # resubmitting queues it again
    assert queued and record.status == "queued"


def test_claims_take_the_oldest_job_and_a_dead_runs_job_once_its_lease_runs_out(store: JobStore) -> None:
    for name in ("first", "second"):
        store.submit(name, SPEC, capacity=5)
    dead = store.claim("replica-a", lease_seconds=0.2)
    assert dead is not None and (dead.job, dead.attempt) == ("first", 1)
    store.set_progress(dead, 0.4)
    other = store.claim("replica-b", lease_seconds=30)
    assert other is not None and other.job == "second"  # "first" is leased
    assert store.claim("replica-b") is None
    time.sleep(0.3)  # replica-a died: no heartbeat
    taken = store.claim("replica-b", lease_seconds=30)
    assert taken is not None and (taken.job, taken.attempt) == ("first", 2)
    record = store.get("first")
    assert record is not None and record.lease_owner == "replica-b" and record.progress == 0
    # The dead run's writes are fenced off: it can neither renew, report, requeue nor finish.
    assert store.heartbeat(dead) is False
    store.set_progress(dead, 0.9)
    store.requeue(dead)
    assert store.finish(dead, "failed", "stale") is False
    record = store.get("first")
    assert record is not None and record.status == "running" and record.progress == 0
    assert store.heartbeat(taken) and store.finish(taken, "succeeded", files={"summary.nc": "0" * 64})
    assert store.get("first").status == "succeeded"  # type: ignore[union-attr]


def test_concurrent_claims_take_each_job_once(store: JobStore) -> None:
    for index in range(12):
        store.submit(f"job{index:02d}", SPEC, capacity=20)
    taken: list[str] = []

    def worker(name: str) -> None:
        while (claim := store.claim(name)) is not None:
            taken.append(claim.job)

    threads = [threading.Thread(target=worker, args=(f"replica-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(taken) == [f"job{index:02d}" for index in range(12)]


def test_expire_deletes_only_old_finished_jobs(store: JobStore) -> None:
    for name in ("old", "recent", "active"):
        store.submit(name, SPEC, capacity=5)
    for name in ("old", "recent"):
        claim = store.claim("test", job=name)
        assert claim is not None
        store.finish(claim, "succeeded")
    backdate(store, "old")
    assert store.expire(timedelta(days=30)) == ["old"]
    assert store.get("old") is None and store.get("recent") is not None and store.get("active") is not None
    assert store.counts() == {"queued": 1, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}


def test_retention_deletes_old_jobs_with_their_files(
    store: JobStore, tmp_path: Path, calibration: Calibration
) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", retention_days=30)
    runner = JobRunner(store, settings, calibration, SerialExecutor(), Metrics())
    for name in ("old", "recent"):
        store.submit(name, SPEC, capacity=5)
        claim = store.claim("test", job=name)
        assert claim is not None
        store.finish(claim, "succeeded")
        (settings.results_dir / name).mkdir(parents=True)
        (settings.results_dir / name / "summary.json").write_text("{}")
    backdate(store, "old")
    runner.expire()
    assert store.get("old") is None and not (settings.results_dir / "old").exists()
    assert store.get("recent") is not None and (settings.results_dir / "recent" / "summary.json").exists()


def test_a_store_made_before_checksums_gets_the_column_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:  # the schema of stores written before result checksums
        db.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, request TEXT NOT NULL, status TEXT NOT NULL, "
                   "progress REAL NOT NULL DEFAULT 0, created_at TEXT NOT NULL, started_at TEXT, "
                   "finished_at TEXT, error TEXT)")
        db.execute("INSERT INTO jobs (id, request, status, created_at) "
                   "VALUES ('old', '{}', 'succeeded', 't')")
    store = JobStore(path)
    record = store.get("old")
    assert record is not None and record.status == "succeeded" and record.files is None


def test_the_capacity_holds_under_concurrent_submits(store: JobStore) -> None:
    """Twenty threads race for ten slots: exactly ten jobs are queued, the others are refused."""
    outcomes: list[str] = []

    def submit(index: int) -> None:
        try:
            outcomes.append("queued" if store.submit(f"job{index}", SPEC, capacity=10)[1] else "existing")
        except StoreFullError:
            outcomes.append("full")

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["full"] * 10 + ["queued"] * 10
    assert store.counts()["queued"] == 10


def test_migrations_run_once_and_a_store_reopens_with_its_jobs(store: JobStore, tmp_path: Path) -> None:
    store.submit("kept", SPEC, capacity=5)
    where = store.backend.path if isinstance(store.backend, SQLiteBackend) else None
    reopened = JobStore(where) if where is not None else None
    if reopened is None:  # PostgreSQL: a second replica opening the same database
        with store._connect() as db:
            versions = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [row["version"] for row in versions] == list(range(1, len(MIGRATIONS) + 1))
        return
    with sqlite3.connect(where) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert reopened.get("kept") is not None


def test_the_service_keeps_its_jobs_in_postgresql_across_restarts(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "made" / "yet"  # the service makes it: no SQLite file does
    settings = Settings(data_dir=data_dir, executor="serial", database_url=database_url)
    body = {"policy": "digital", "economies": ["CHN", "USA"], "horizon_years": 3, "draws": 200}
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/readyz").json() == {"status": "ready"}  # before any job wrote a file
        job = client.post("/v1/forecasts", json=body).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
    assert not (data_dir / "jobs.sqlite3").exists()  # the records are in the database
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:  # a new process
        assert client.get(f"/v1/forecasts/{job}").json()["status"] == "succeeded"
        assert client.get(f"/v1/forecasts/{job}/summary").status_code == 200
        assert client.post("/v1/forecasts", json=body).status_code == 200  # the same job, not rerun


def test_a_sqlite_service_reruns_at_once_the_job_its_dead_process_was_running(
    tmp_path: Path, calibration: Calibration
) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial")
    store = JobStore(settings.store_location)
    try:
        job = job_id(SPEC, calibration.digest)
        store.submit(job, SPEC, capacity=5)
        crashed = store.claim("a process killed mid-run", lease_seconds=3600)
        assert crashed is not None and not store.shared
    finally:
        store.close()
    # Restarted on the same SQLite file: no other process can hold it, so no lease to wait out.
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        record = finished(client, job, timeout=60)
    assert record["status"] == "succeeded"
