"""Runs queued jobs (forecasts and analyses), one at a time, on a background thread.

One job at a time because each job already uses the whole cluster (its blocks
run in parallel on Ray). The queue is the store itself, so any replica sharing
it may run any job: the runner claims the oldest one under a lease
(:meth:`api.store.JobStore.claim`), renews the lease while the job runs, and
every write of the run is fenced by its attempt number. A job whose replica
died is taken over when its lease runs out and rerun with the same seeds, so
its result is bit-identical; a run that lost its lease (cancelled from any
replica, or taken over) stops and writes nothing. The queue is bounded by the
store's capacity check, so the backlog never grows without limit. Nothing
accepted is lost: a job interrupted by a shutdown goes back to ``queued`` at
once (results are deterministic, so the rerun gives the same result). Nothing a
job does stops the runner: a job whose files cannot be written fails with the
reason, and a store that cannot be written for a while (locked, full disk) is
retried. When the Ray cluster is
lost (its head gone), submissions are refused, the running job goes back to the
queue, and the runner reconnects (where the service owns the connection) before
it runs the next job.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from api.jobs import JobSpec
from api.metrics import Metrics, RunOutcome
from api.results import MEGABYTE, ResultFiles, check_storage, estimated_bytes
from api.settings import Settings
from api.store import LEASE_SECONDS, Claim, JobRecord, JobStatus, JobStore, StoreUnavailableError, job_id
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
#: Longest wait between two looks at the store for a job (a submit to this replica wakes it at once).
POLL_SECONDS = 0.5
#: Partial result directories untouched for longer belong to no living writer.
STALE_PARTIAL_SECONDS = 3600.0
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
    lease_seconds : float
        How long a claimed job stays this runner's without a heartbeat (renewed every third).
    """

    def __init__(
        self, store: JobStore, settings: Settings, calibration: Calibration, executor: Executor,
        metrics: Metrics, store_retry_seconds: float = STORE_RETRY_SECONDS,
        cluster_problem: ClusterProblem | None = None, reconnect: Callable[[], None] | None = None,
        lease_seconds: float = LEASE_SECONDS,
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
        self.lease_seconds = lease_seconds
        #: The jobs' files, written here and served by the routes.
        self.results = ResultFiles(settings.results_dir, store, metrics, settings.results_url)
        #: Who this runner is, in the store's leases: host, process and a random tag.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        #: Set by a submit to this replica, so that the runner looks at the store at once.
        self._wake = threading.Event()
        #: Jobs cancelled here while queued or running; the running job polls this between blocks
        #: (a cancel on another replica reaches it through its next heartbeat).
        self._cancelled: set[str] = set()
        #: Makes "claim a job and forget an old cancel" one step against :meth:`cancel`.
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._work, name="forecast-jobs", daemon=True)

    def start(self) -> None:
        """Expire old results, remove stale partial files, start working."""
        if not self.store.shared:  # one process per SQLite store: a job left running has no process
            self.store.release_leases()
        self.expire()
        # Files of writes that a dead process did not finish (it was killed, the disk filled);
        # a fresh one may be another replica's write in progress.
        for partial in self.settings.results_dir.glob("*.partial"):
            if time.time() - partial.stat().st_mtime > STALE_PARTIAL_SECONDS:
                shutil.rmtree(partial, ignore_errors=True)
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
            self._wake.set()
        return record, queued

    def cancel(self, job: str) -> JobRecord:
        """Cancel a queued or running job (see :meth:`JobStore.cancel` for the errors)."""
        with self._lock:
            record = self.store.cancel(job)
            self._cancelled.add(job)
        return record

    def expire(self) -> None:
        """Delete jobs, and their files, that finished more than ``retention_days`` ago."""
        retention = timedelta(days=self.settings.retention_days)
        for job in self.store.expire(retention):
            self.results.delete(job)
        self.results.prune_cache(retention.total_seconds())  # copies of jobs another replica expired

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
            if not self._cluster_ready():
                continue  # queued jobs stay queued in the store: run them once the cluster is back
            try:
                with self._lock:
                    claim = self.store.claim(self.owner, self.lease_seconds)
                    if claim is not None:  # a cancel recorded before was for an earlier run
                        self._cancelled.discard(claim.job)
            except StoreUnavailableError:
                log.warning("job store unavailable; looking again", exc_info=True)
                self._stopping.wait(1.0)
                continue
            if claim is None:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            try:
                self._run(claim)
                self.expire()
            except Exception:  # nothing a job or the store does may stop the runner
                log.exception("job %s: the store could not record its state; it runs again once its lease "
                              "runs out", claim.job)

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

    def _run(self, claim: Claim) -> None:
        """Run a claimed job, renewing its lease until it ends; stop if the lease is lost."""
        lost = threading.Event()  # cancelled on another replica, or taken over
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_seconds / 3):
                try:
                    if not self.store.heartbeat(claim, self.lease_seconds):
                        lost.set()
                        return
                except StoreUnavailableError:  # one missed beat; the lease has two more to spare
                    log.warning("job %s: lease not renewed", claim.job, exc_info=True)

        heart = threading.Thread(target=beat, name=f"lease-{claim.job[:8]}", daemon=True)
        heart.start()
        outcome: RunOutcome = "failed"  # unless the run says otherwise (an exception the runner logs)
        try:
            outcome = self._run_claimed(claim, lost)
        finally:
            self.metrics.runs.labels(outcome).inc()
            done.set()
            heart.join()
            self._cancelled.discard(claim.job)  # a cancel of this run has done its work

    def _run_claimed(self, claim: Claim, lost: threading.Event) -> RunOutcome:
        """Run a claimed job to one of its ends; return which (:data:`api.metrics.RUN_OUTCOMES`)."""
        job = claim.job
        record = self.store.get(job)
        assert record is not None
        spec = JobSpec.from_dict(record.request)
        reported = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            if done == total or done / total - reported >= 0.01:  # at most ~100 writes a job
                reported = done / total
                try:
                    self.store.set_progress(claim, reported)
                except StoreUnavailableError:  # progress is a courtesy: the next report catches up
                    log.warning("job %s: progress not recorded", job, exc_info=True)

        def finish(status: JobStatus, error: str | None = None, files: dict[str, str] | None = None) -> bool:
            return self._persist(lambda: self.store.finish(claim, status, error, files))

        lost_cluster: list[str] = []  # what went wrong with the cluster while the job ran
        next_check = time.monotonic() + CLUSTER_CHECK_SECONDS

        def cluster_lost() -> bool:
            nonlocal next_check
            if self.cluster_problem is None or time.monotonic() < next_check:
                return bool(lost_cluster)
            next_check = time.monotonic() + CLUSTER_CHECK_SECONDS
            problem = self.cluster_problem()
            if problem is not None:
                lost_cluster.append(problem)
            return bool(lost_cluster)

        started = time.perf_counter()
        try:
            self._check_storage(spec)  # the disk may have filled since it was accepted
            result = spec.run(
                self.calibration, self.executor, on_progress=progress,
                should_cancel=lambda: (self._stopping.is_set() or job in self._cancelled or lost.is_set()
                                       or cluster_lost()),
            )
            if lost.is_set():  # cancelled elsewhere or taken over while the last block ran
                return "discarded"
            files = self.results.write(job, result, writer=f"attempt{claim.attempt}")
        except CancelledError:
            if lost.is_set():
                return "stopped"  # the store says cancelled, or another replica runs the job now
            if self._stopping.is_set():
                self.store.requeue(claim)  # the service is stopping: any replica may run it again
                return "requeued"
            if lost_cluster and job not in self._cancelled:
                log.warning("job %s interrupted, the Ray cluster was lost (%s): queued again", job,
                            lost_cluster[0])
                self.store.requeue(claim)
                self._wake.set()
                return "requeued"
            return "cancelled"  # the store already says so
        except ForecasterError as error:
            finish("failed", str(error))
            return "failed"
        except OSError as error:  # the results could not be written (their partial files are gone)
            log.exception("job %s: results not written", job)
            finish("failed", f"the results could not be written: {error}")
            return "failed"
        except Exception as error:  # a job must end in a state, whatever went wrong
            log.exception("job %s failed", job)
            finish("failed", f"internal error: {type(error).__name__}: {error}")
            return "failed"
        if not finish("succeeded", files=files):  # cancelled after its last block, or taken over
            now = self.store.get(job)
            if now is None or now.attempt == claim.attempt:  # cancelled: nobody else wrote these files
                self.results.delete(job)
            return "discarded"  # else they are the new run's too (same seeds, same bytes): keep them
        self.metrics.draws.inc(spec.request.n_draws)
        self.metrics.simulation.observe(time.perf_counter() - started)
        return "succeeded"
