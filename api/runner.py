"""Runs queued forecast jobs, one at a time, on a background thread.

One job at a time because each job already uses the whole cluster (its blocks
run in parallel on Ray). The queue is bounded by the store's capacity check, so
the backlog never grows without limit. Nothing accepted is lost: a job
interrupted by a shutdown goes back to ``queued`` and, like any job still
queued, is run again when the service starts (results are deterministic, so
the rerun gives the same result).
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from datetime import timedelta

from api.metrics import Metrics
from api.results import write_results
from api.settings import Settings
from api.store import JobRecord, JobStore, job_id
from forecaster import Calibration, CancelledError, Executor, ForecasterError, ForecastRequest, forecast

log = logging.getLogger(__name__)


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
    """

    def __init__(
        self, store: JobStore, settings: Settings, calibration: Calibration, executor: Executor,
        metrics: Metrics,
    ) -> None:
        self.store = store
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
        """Expire old results, requeue jobs a previous process left unfinished, start working."""
        self.expire()
        for job in self.store.recover():
            self._queue.put(job)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Interrupt the running job (it goes back to the queue) and stop the thread."""
        self._stopping.set()
        self._thread.join(timeout)

    def submit(self, request: ForecastRequest) -> tuple[JobRecord, bool]:
        """Queue a request unless the same job exists; return its record and whether it was queued.

        Raises
        ------
        api.store.StoreFullError
            If the store already holds ``max_active_jobs`` queued or running jobs.
        """
        job = job_id(request, self.calibration.digest)
        record, queued = self.store.submit(job, request, self.settings.max_active_jobs)
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

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._run(job)
            self.expire()

    def _run(self, job: str) -> None:
        # Jobs run one at a time on this thread, so a cancel recorded before this start was
        # meant for an earlier run of the same job (cancelled, then submitted again).
        with self._lock:
            claimed = self.store.start(job)
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
        request = ForecastRequest.from_dict(record.request)
        reported = 0.0

        def progress(done: int, total: int) -> None:
            nonlocal reported
            if done == total or done / total - reported >= 0.01:  # at most ~100 writes a job
                reported = done / total
                self.store.set_progress(job, reported)

        started = time.perf_counter()
        try:
            result = forecast(
                request, self.calibration, self.executor, on_progress=progress,
                should_cancel=lambda: self._stopping.is_set() or job in self._cancelled,
            )
            write_results(self.settings.results_dir / job, result)
        except CancelledError:
            if self._stopping.is_set():
                self.store.requeue(job)  # the service is stopping: run it again at the next start
            return  # otherwise the store already says cancelled
        except ForecasterError as error:
            self.store.finish(job, "failed", str(error))
            return
        except Exception as error:  # a job must end in a state, whatever went wrong
            log.exception("job %s failed", job)
            self.store.finish(job, "failed", f"internal error: {type(error).__name__}: {error}")
            return
        if not self.store.finish(job, "succeeded"):  # cancelled after its last block
            shutil.rmtree(self.settings.results_dir / job, ignore_errors=True)
            return
        self.metrics.draws.inc(request.n_draws)
        self.metrics.simulation.observe(time.perf_counter() - started)
