"""The job runner's cancels against the runs they are meant for, with an executor the test steers."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from live_server import wait_for

from api.jobs import JobSpec
from api.metrics import Metrics
from api.runner import JobRunner
from api.settings import Settings
from api.store import JobStore
from forecaster import PRESETS, Calibration, ForecastRequest, SerialExecutor
from forecaster.plan import Block

REQUEST = ForecastRequest(policy=PRESETS["digital"], n_draws=300, horizon_years=3, block_size=100,
                          economies=("CHN", "USA"))
SPEC = JobSpec("forecast", REQUEST)


class SteeredExecutor:
    """Runs groups serially, but first waits at a gate; records how each run ended."""

    def __init__(self) -> None:
        self.at_gate = threading.Event()
        self.gate = threading.Event()
        self.outcomes: list[str] = []
        #: Called after the last group's result, before the run returns.
        self.after_last: Callable[[], None] = lambda: None

    def run(
        self, task: Callable[[Any, Sequence[Block]], Any], inputs: Any, groups: Sequence[Sequence[Block]]
    ) -> Iterator[tuple[int, Any]]:
        self.at_gate.set()
        assert self.gate.wait(30)
        try:
            yield from SerialExecutor().run(task, inputs, groups)
        except GeneratorExit:  # closed by the engine: the run was cancelled
            self.outcomes.append("cancelled")
            raise
        self.after_last()
        self.outcomes.append("ran to the end")


@pytest.fixture
def steered(
    tmp_path: Path, calibration: Calibration
) -> Iterator[tuple[JobRunner, SteeredExecutor, JobStore]]:
    settings = Settings(data_dir=tmp_path, executor="serial")
    store = JobStore(tmp_path / "jobs.sqlite3")
    executor = SteeredExecutor()
    runner = JobRunner(store, settings, calibration, executor, Metrics())
    runner.start()
    yield runner, executor, store
    executor.gate.set()
    runner.stop()


def _status(store: JobStore, job: str) -> str:
    record = store.get(job)
    assert record is not None
    return record.status


def test_a_cancelled_run_stops_even_if_the_job_is_submitted_again(
    steered: tuple[JobRunner, SteeredExecutor, JobStore],
) -> None:
    runner, executor, store = steered
    job = runner.submit(SPEC)[0].id
    assert executor.at_gate.wait(30)  # the first run has started
    runner.cancel(job)
    assert runner.submit(SPEC)[1] is True  # queued again while the first run is still going
    executor.gate.set()
    wait_for(lambda: _status(store, job) == "succeeded", timeout=60)
    assert executor.outcomes == ["cancelled", "ran to the end"]  # the second run alone finished


def test_a_cancel_after_the_last_block_keeps_no_results(
    steered: tuple[JobRunner, SteeredExecutor, JobStore], tmp_path: Path,
) -> None:
    runner, executor, store = steered
    job = runner.submit(SPEC)[0].id

    def cancel_once() -> None:  # too late to stop the run: it goes on to write its files
        executor.after_last = lambda: None
        runner.cancel(job)

    executor.after_last = cancel_once
    executor.gate.set()
    later = runner.submit(JobSpec("forecast", dataclasses.replace(REQUEST, seed=1)))[0].id
    wait_for(lambda: _status(store, later) == "succeeded", timeout=60)  # so the first run has ended
    assert executor.outcomes == ["ran to the end", "ran to the end"]
    assert _status(store, job) == "cancelled"
    results_dir = Settings(data_dir=tmp_path, executor="serial").results_dir
    assert not (results_dir / job).exists() and (results_dir / later).exists()


def test_a_run_that_lost_its_job_unnoticed_leaves_the_new_runs_files(
    tmp_path: Path, calibration: Calibration
) -> None:
    # A lease long enough that the stale run reaches its end before any heartbeat tells it.
    settings = Settings(data_dir=tmp_path, executor="serial")
    store = JobStore(tmp_path / "jobs.sqlite3")
    executor = SteeredExecutor()
    metrics = Metrics()
    runner = JobRunner(store, settings, calibration, executor, metrics, lease_seconds=300)
    runner.start()
    try:
        job = runner.submit(SPEC)[0].id
        assert executor.at_gate.wait(30)  # this replica's run (attempt 1) has started
        with store._connect() as db:  # its lease runs out, as if it had stalled
            db.execute("UPDATE jobs SET lease_until = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (job,))
        other = store.claim("another replica", job=job)
        assert other is not None and other.attempt == 2
        result = SPEC.run(calibration, SerialExecutor(), on_progress=None, should_cancel=lambda: False)
        files = runner.results.write(job, result, writer="attempt2")
        assert store.finish(other, "succeeded", files=files)
        executor.gate.set()  # the stale run goes on, writes the same files, and cannot record them
        wait_for(lambda: metrics.runs.labels("discarded")._value.get() == 1, timeout=60)
        record = store.get(job)
        assert record is not None and (record.status, record.attempt, record.files) == ("succeeded", 2, files)
        assert runner.results.path(record, "summary.json").exists()  # still there, still intact
    finally:
        runner.stop()
        store.close()


def test_files_written_again_by_another_run_stay_in_place_unless_damaged(
    tmp_path: Path, calibration: Calibration
) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial")
    store = JobStore(tmp_path / "jobs.sqlite3")
    try:
        results = JobRunner(store, settings, calibration, SerialExecutor(), Metrics()).results
        result = SPEC.run(calibration, SerialExecutor(), on_progress=None, should_cancel=lambda: False)
        first = results.write("job", result, writer="attempt1")
        directory = settings.results_dir / "job"
        (directory / "summary.csv").write_text("derived on a first read")
        before = directory.stat().st_ino
        # A second run of the same job (a stale replica's) never takes the files away, even briefly.
        assert results.write("job", result, writer="attempt2") == first
        assert directory.stat().st_ino == before and (directory / "summary.csv").exists()
        assert not list(settings.results_dir.glob("*.partial"))
        (directory / "summary.json").write_text("{}")  # damaged: the next write replaces the files
        assert results.write("job", result, writer="attempt3") == first
        assert directory.stat().st_ino != before and not (directory / "summary.csv").exists()
    finally:
        store.close()
