"""Runs queued jobs (forecasts and analyses), one at a time, on a background thread.

One job at a time because each job already uses the whole cluster (its blocks
run in parallel on Ray). The queue is bounded by the store's capacity check, so
the backlog never grows without limit. Nothing accepted is lost: a job
interrupted by a shutdown goes back to ``queued`` and, like any job still
queued, is run again when the service starts (results are deterministic, so
the rerun gives the same result). Nothing a job does stops the runner: a job
whose files cannot be written fails with the reason, and a store that cannot
be written for a while (locked, full disk) is retried. When the Ray cluster is
lost (its head gone), submissions are refused, the running job goes back to the
queue, and the runner reconnects (where the service owns the connection) before
it runs the next job.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from api.jobs import JobSpec
from api.metrics import Metrics
from api.results import MEGABYTE, check_storage, estimated_bytes, write_results
from api.settings import Settings
from api.store import JobRecord, JobStatus, JobStore, StoreUnavailableError, job_id
from cluster import ClusterUnavailableError
from forecaster import Calibration, CancelledError, Executor, ForecasterError

log = logging.getLogger(__name__)
T = TypeVar("T")
#: How long the runner keeps retrying a store it cannot write before it gives the job up (it stays
#: ``running`` in the store, so a restart runs it again).
STORE_RETRY_SECONDS = 60.0
#: Least time between two attempts to reconnect to a lost Ray cluster, and between two checks of
#: it while a job runs.
RECONNECT_SECONDS = 5.0
CLUSTER_CHECK_SECONDS = 1.0
#: What is wrong with the Ray cluster (None when it is usable).
ClusterProblem = Callable[[], str | None]


class JobRunner:
    """Queue, run, cancel and expire jobs.

    Parameters
    ----------
    store : JobStore
    settings : Settings
    calibration : Calibration
    executor : Executor
        Where each job's blocks run (Ray in production).
    metrics : Metrics
    store_retry_seconds : float
        How long a store write is retried while the store is unavailable.
    cluster_problem : callable, optional
        Says what is wrong with the Ray cluster jobs run on, or None when it is usable; None
        (the default) for an executor that needs no cluster.
    reconnect : callable, optional
        Connects to the cluster again after it was lost; None when the service does not own
        the connection (then it only waits for the cluster to come back).
    """

    def __init__(
        self, store: JobStore, settings: Settings, calibration: Calibration, executor: Executor,
        metrics: Metrics, store_retry_seconds: float = STORE_RETRY_SECONDS,
        cluster_problem: ClusterProblem | None = None, reconnect: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.store_retry_seconds = store_retry_seconds
        self.cluster_problem = cluster_problem
        self.reconnect = reconnect
        self._next_reconnect = 0.0
        self.settings = settings
        self.calibration = calibration
        self.executor = executor
        self.metrics = metrics
        self._queue: queue.Queue[str] = queue.Queue()
        #: Jobs cancelled while queued or running; the running job polls this between blocks.
        self._cancelled: set[str] = set()
        #: Makes "start a job and forget an old cancel" one step against :meth:`cancel`.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="forecast-jobs", daemon=True)

    def start(self) -> None:
        """Expire old results, remove partial files, requeue unfinished jobs, start working."""
        self.expire()
        # Files of writes that a previous process did not finish (it was killed, the disk filled).
        for partial in self.settings.results_dir.glob("*.partial"):
            shutil.rmtree(partial, ignore_errors=True)
        for job in self.store.recover():
            self._queue.put(job)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Interrupt the running job (it goes back to the queue) and stop the thread."""
        self._stopping.set()
        self._thread.join(timeout)

    def submit(self, spec: JobSpec) -> tuple[JobRecord, bool]:
        """Queue a job unless the same job exists; return its record and whether it was queued.

        Raises
        ------
        api.store.StoreFullError
            If the store already holds ``max_active_jobs`` queued or running jobs.
        api.results.ResultTooLargeError, api.results.InsufficientStorageError
            If its files would exceed the size cap, or not fit on the data volume above
            the free-space floor (checked before it is queued).
        cluster.ClusterUnavailableError
            If the Ray cluster is lost: nothing is queued until it is back.
        """
        problem = None if self.cluster_problem is None else self.cluster_problem()
        if problem is not None:
            raise ClusterUnavailableError(problem)
        job = job_id(spec, self.calibration.digest)
        existing = self.store.get(job)
        if existing is None or existing.status in ("failed", "cancelled"):
            self._check_storage(spec)
        record, queued = self.store.submit(job, spec, self.settings.max_active_jobs)
        if queued:
            self._queue.put(job)
        return record, queued

    def cancel(self, job: str) -> JobRecord:
        """Cancel a queued or running job (see :meth:`JobStore.cancel` for the errors)."""
        with self._lock:
            record = self.store.cancel(job)
            self._cancelled.add(job)
        return record

    def expire(self) -> None:
        """Delete jobs, and their files, that finished more than ``retention_days`` ago."""
        for job in self.store.expire(timedelta(days=self.settings.retention_days)):
            shutil.rmtree(self.settings.results_dir / job, ignore_errors=True)

    def _check_storage(self, spec: JobSpec) -> None:
        economies = len(spec.request.economies or self.calibration.economies)
        settings = self.settings
        check_storage(estimated_bytes(spec, economies), settings.results_dir,
                      settings.max_result_megabytes * MEGABYTE, settings.min_free_megabytes * MEGABYTE)

    def _persist(self, write: Callable[[], T]) -> T:
        """Run a store write, retrying while the store is unavailable (locked, full disk)."""
        deadline = time.monotonic() + self.store_retry_seconds
        while True:
            try:
                return write()
            except StoreUnavailableError:
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise
                log.warning("job store unavailable; retrying", exc_info=True)
                time.sleep(1.0)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if not self._cluster_ready():
                self._queue.put(job)  # it stays queued in the store too: run it once the cluster is back
                continue
            try:
                self._run(job)
                self.expire()
            except Exception:  # nothing a job or the store does may stop the runner
                log.exception("job %s: the store could not record its state; it runs again at restart", job)

    def _cluster_ready(self) -> bool:
        """Return True when jobs can run; else try to reconnect (at most every few seconds) and wait."""
        check = self.cluster_problem
        if check is None or (problem := check()) is None:
            return True
        if self.reconnect is not None and time.monotonic() >= self._next_reconnect:
            self._next_reconnect = time.monotonic() + RECONNECT_SECONDS
            log.warning("Ray cluster lost (%s): connecting again", problem)
            try:
                self.reconnect()
            except ClusterUnavailableError:
                log.exception("could not connect to the Ray cluster again; retrying")
            else:
                return check() is None
        self._stopping.wait(1.0)
        return False

    def _run(self, job: str) -> None:
        # Jobs run one at a time on this thread, so a cancel recorded before this start was
        # meant for an earlier run of the same job (cancelled, then submitted again).
        with self._lock:
            claimed = self._persist(lambda: self.store.start(job))
            self._cancelled.discard(job)
        if not claimed:
            return  # cancelled while it waited
        try:
            self._run_claimed(job)
        finally:
            self._cancelled.discard(job)  # a cancel of this run has done its work

    def _run_claimed(self, job: str) -> None:
        record = self.store.get(job)
        assert record is not None
        spec = JobSpec.from_dict(record.request)
        reported = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            if done == total or done / total - reported >= 0.01:  # at most ~100 writes a job
                reported = done / total
                try:
                    self.store.set_progress(job, reported)
                except StoreUnavailableError:  # progress is a courtesy: the next report catches up
                    log.warning("job %s: progress not recorded", job, exc_info=True)

        def finish(status: JobStatus, error: str | None = None, files: dict[str, str] | None = None) -> bool:
            return self._persist(lambda: self.store.finish(job, status, error, files))

        lost: list[str] = []  # what went wrong with the cluster while the job ran
        next_check = time.monotonic() + CLUSTER_CHECK_SECONDS

        def cluster_lost() -> bool:
            nonlocal next_check
            if self.cluster_problem is None or time.monotonic() < next_check:
                return bool(lost)
            next_check = time.monotonic() + CLUSTER_CHECK_SECONDS
            problem = self.cluster_problem()
            if problem is not None:
                lost.append(problem)
            return bool(lost)

        started = time.perf_counter()
        try:
            self._check_storage(spec)  # the disk may have filled since it was accepted
            result = spec.run(
                self.calibration, self.executor, on_progress=progress,
                should_cancel=lambda: self._stopping.is_set() or job in self._cancelled or cluster_lost(),
            )
            files = write_results(self.settings.results_dir / job, result)
        except CancelledError:
            if self._stopping.is_set():
                self.store.requeue(job)  # the service is stopping: run it again at the next start
            elif lost and job not in self._cancelled:
                log.warning("job %s interrupted, the Ray cluster was lost (%s): queued again", job, lost[0])
                self.store.requeue(job)
                self._queue.put(job)
            return  # otherwise the store already says cancelled
        except ForecasterError as error:
            finish("failed", str(error))
            return
        except OSError as error:  # the results could not be written (their partial files are gone)
            log.exception("job %s: results not written", job)
            finish("failed", f"the results could not be written: {error}")
            return
        except Exception as error:  # a job must end in a state, whatever went wrong
            log.exception("job %s failed", job)
            finish("failed", f"internal error: {type(error).__name__}: {error}")
            return
        if not finish("succeeded", files=files):  # cancelled after its last block
            shutil.rmtree(self.settings.results_dir / job, ignore_errors=True)
            return
        self.metrics.draws.inc(spec.request.n_draws)
        self.metrics.simulation.observe(time.perf_counter() - started)
