"""Prometheus metrics of the service (prometheus-client), one registry per app.

Names follow Prometheus conventions: the ``forecaster_`` prefix, base units
(seconds), ``_total`` on counters, and low-cardinality labels whatever clients
send: the method from a fixed set (:data:`KNOWN_METHODS`, else ``other``), the
route template, never the raw path; the status code; the job state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.store import JobStore

#: HTTP methods counted by name (RFC 9110 and PATCH); any other is counted as ``other``, so that
#: clients cannot grow the label set of the request metrics, whatever method they send.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"})
#: Latency buckets of HTTP requests, in seconds.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Reads the Ray cluster's CPUs, all and not in use (None while Ray is not ready).
RayCpus = Callable[[], tuple[float, float] | None]
#: How a replica's run of a job ends: its result recorded (``succeeded``, ``failed``), cancelled
#: here, ``stopped`` because the store no longer held it for this run (cancelled on another
#: replica, or taken over after a lost lease), ``requeued`` (the service stopping, the Ray cluster
#: lost), or ``discarded``: run to the end but no longer this run's to record.
RunOutcome = Literal["succeeded", "failed", "cancelled", "stopped", "requeued", "discarded"]
RUN_OUTCOMES: tuple[RunOutcome, ...] = get_args(RunOutcome)
#: Buckets of one job's simulation time, in seconds.
SIMULATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


class _StateCollector(Collector):
    """Gauges read when scraped: jobs by state, queue depth, Ray CPUs (all and not in use)."""

    def __init__(self, store: JobStore, ray_cpus: RayCpus | None) -> None:
        self.store = store
        self.ray_cpus = ray_cpus

    def collect(self) -> Iterator[Metric]:
        counts = self.store.counts()
        jobs = GaugeMetricFamily("forecaster_jobs", "Jobs in the store by state", labels=["state"])
        for state, count in counts.items():
            jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily("forecaster_queue_depth", "Jobs queued, not running", value=counts["queued"])
        cpus = None if self.ray_cpus is None else self.ray_cpus()
        if cpus is not None:
            total, available = cpus
            yield GaugeMetricFamily("forecaster_ray_cpus", "CPUs of the connected Ray cluster", value=total)
            yield GaugeMetricFamily("forecaster_ray_cpus_available", "CPUs of the Ray cluster not in use",
                                    value=available)


class WithoutCreated(CollectorRegistry):
    """A registry that leaves out the ``_created`` series: they double the output and no dashboard reads them.

    Filtered here rather than with ``prometheus_client.disable_created_metrics()``, which would
    switch them off for every registry of the process, the user's own included.
    """

    def collect(self) -> Iterator[Metric]:
        """Yield every metric of the registry, without its ``_created`` samples."""
        for metric in super().collect():
            metric.samples = [sample for sample in metric.samples if not sample.name.endswith("_created")]
            yield metric


class Metrics:
    """The service's instruments, registered in their own :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = WithoutCreated()
        self.requests = Counter(
            "forecaster_http_requests", "HTTP requests by method, route and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "forecaster_http_request_duration_seconds", "HTTP request latency by method, route and status",
            ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=self.registry,
        )
        self.draws = Counter(
            "forecaster_draws_simulated", "Monte-Carlo draws requested by jobs that succeeded "
            "(once per analysis)", registry=self.registry,
        )
        self.runs = Counter(
            "forecaster_job_runs", "Runs of jobs on this replica by how they ended (RUN_OUTCOMES)",
            ["outcome"], registry=self.registry,
        )
        for outcome in RUN_OUTCOMES:  # every outcome reported from the start, as 0 until it happens
            self.runs.labels(outcome)
        self.damaged_results = Counter(
            "forecaster_damaged_results", "Result files found missing or not matching their recorded SHA-256",
            registry=self.registry,
        )
        self.simulation = Histogram(
            "forecaster_simulation_duration_seconds", "Wall time of one job's simulation",
            buckets=SIMULATION_BUCKETS, registry=self.registry,
        )

    def watch(self, store: JobStore, ray_cpus: RayCpus | None) -> Collector:
        """Also report, when scraped, the store's jobs and Ray's CPUs (if given); return the collector."""
        collector = _StateCollector(store, ray_cpus)
        self.registry.register(collector)
        return collector


class MetricsMiddleware:
    """Count and time every HTTP request by its route template (pure ASGI)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, then record the request under its route template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before sending a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            labels = (method, template, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
