"""Benchmark of the job store: SQLite against a real PostgreSQL, per operation and per job.

Run as ``.venv/bin/python benchmarks/bench_store.py`` (it starts a PostgreSQL server from the
``pgserver`` package, on a Unix socket, in a temporary directory). For each backend, prints the
median and 95th percentile of each store call a job makes (submit, claim, 100 progress
writes counted as one, finish, get) over 300 jobs, and of the whole sequence: what the store
adds to a job's submit-to-result time. Target (issue: scale-out): PostgreSQL adds at most
20 ms a job against SQLite.
"""

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from api.jobs import JobSpec
from api.store import Claim, JobStore
from forecaster import PRESETS, ForecastRequest

JOBS = 300
TARGET_MS = 20.0
SPEC = JobSpec("forecast", ForecastRequest(policy=PRESETS["digital"], n_draws=1000, horizon_years=10))


def timed(call: Callable[[str], object], job: str) -> float:
    start = time.perf_counter()
    call(job)
    return 1000 * (time.perf_counter() - start)


def measure(store: JobStore) -> dict[str, list[float]]:
    """Milliseconds of each step of :data:`JOBS` jobs' lives in ``store``."""
    files = {"summary.nc": "0" * 64}

    claims: dict[str, Claim] = {}

    def claim(job: str) -> None:
        taken = store.claim("bench", job=job)
        assert taken is not None
        claims[job] = taken

    def progress(job: str) -> None:  # about what a job writes: at most every 1% of its blocks
        for done in range(100):
            store.set_progress(claims[job], done / 100)

    steps: dict[str, Callable[[str], object]] = {
        "submit": lambda job: store.submit(job, SPEC, capacity=10),
        "claim": claim,
        "progress x100": progress,
        "finish": lambda job: store.finish(claims[job], "succeeded", files=files),
        "get": store.get,
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for index in range(JOBS):
        for name, step in steps.items():
            times[name].append(timed(step, f"job{index:05d}"))
    times["whole job"] = [sum(values) for values in zip(*times.values(), strict=True)]
    return times


def main() -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver

    with tempfile.TemporaryDirectory() as scratch:
        sqlite = measure(JobStore(Path(scratch) / "jobs.sqlite3"))
        server = pgserver.get_server(Path(scratch) / "postgres", cleanup_mode="stop")
        try:
            url = server.get_uri()
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("CREATE DATABASE bench")
            store = JobStore(url.replace("/postgres?", "/bench?", 1))
            postgres = measure(store)
            store.close()
        finally:
            server.cleanup()
    print(f"{JOBS} jobs, ms per call{'':<14}{'SQLite p50':>11}{'p95':>8}{'PostgreSQL p50':>16}{'p95':>8}")
    for step in sqlite:
        lite, pg = sqlite[step], postgres[step]
        quantiles = [statistics.quantiles(values, n=20)[18] for values in (lite, pg)]
        print(f"{step:<38}{statistics.median(lite):>11.2f}{quantiles[0]:>8.2f}"
              f"{statistics.median(pg):>16.2f}{quantiles[1]:>8.2f}")
    added = statistics.median(postgres["whole job"]) - statistics.median(sqlite["whole job"])
    verdict = "ok" if added <= TARGET_MS else "MISS"
    print(f"PostgreSQL adds {added:+.1f} ms a job (median) against SQLite "
          f"(target <= {TARGET_MS:.0f}): {verdict}")


if __name__ == "__main__":
    main()
