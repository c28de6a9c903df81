"""Benchmark of where result files live: the data directory against S3-compatible object storage.

Run as ``.venv/bin/python benchmarks/bench_results.py``. It computes one forecast of 1,000 draws
x 12 economies x 10 years with its baseline (the job of ``bench_api.py``), then, 20 times each,
writes its files through :class:`api.results.ResultFiles` to a local directory and to a bucket of
moto's S3 server on loopback, and reads ``summary.json`` back into an empty cache (the first read
on another replica). Prints the median and 95th percentile in ms. Moto is an emulator on the
same machine: the figures are this code's cost, not a real network's (add a region's round
trips, typically 10-50 ms per request to S3 from the same region).
"""

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from api.metrics import Metrics
from api.results import SUMMARY_JSON, ResultFiles
from api.store import JobRecord, JobStore
from forecaster import PRESETS, ForecastRequest, forecast, load_calibration

RUNS = 20


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://{host}:{port}")
    boto3.client("s3").create_bucket(Bucket="bench")
    request = ForecastRequest(policy=PRESETS["high-level-opening"], n_draws=1000, horizon_years=10,
                              compare_to_baseline=True)
    result = forecast(request, load_calibration())
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        store = JobStore(Path(scratch) / "jobs.sqlite3")
        for label, url in (("data directory", None), ("S3 (moto, loopback)", "s3://bench/results")):
            writes, reads, size = [], [], 0
            for run in range(RUNS):
                cache = Path(scratch) / uuid.uuid4().hex
                files = ResultFiles(cache, store, Metrics(), url)
                job = f"job{run:03d}"
                start = time.perf_counter()
                digests = files.write(job, result)
                writes.append(1000 * (time.perf_counter() - start))
                size = sum(path.stat().st_size for path in (cache / job).iterdir())
                if url is None:
                    continue
                reader = ResultFiles(Path(scratch) / uuid.uuid4().hex, store, Metrics(), url)
                record = JobRecord(job, {}, "succeeded", 1.0, "", None, None, None, files=digests)
                start = time.perf_counter()
                reader.path(record, SUMMARY_JSON)
                reads.append(1000 * (time.perf_counter() - start))
            rows.append((label, writes, reads, size))
        store.close()
    server.stop()
    print(f"one job's files ({rows[0][3] / 1e6:.1f} MB), ms over {RUNS} runs")
    print(f"{'':<24}{'write p50':>10}{'p95':>8}{'first read p50':>16}{'p95':>8}")
    for label, writes, reads, _ in rows:
        def p95(values: list[float]) -> float:
            return statistics.quantiles(values, n=20)[18]
        read = f"{statistics.median(reads):>16.1f}{p95(reads):>8.1f}" if reads else f"{'(local)':>16}{'':>8}"
        print(f"{label:<24}{statistics.median(writes):>10.1f}{p95(writes):>8.1f}{read}")


if __name__ == "__main__":
    main()
