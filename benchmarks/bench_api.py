"""Benchmark of the HTTP service: submit-to-result latency, and summary requests per second.

Run as ``flock /tmp/nqpf-ray.lock .venv/bin/python benchmarks/bench_api.py`` (about two
minutes; it starts an embedded Ray, and the lock keeps Ray workloads apart on a shared
machine). ``--jobs N`` sets the number of timed jobs (default 30), ``--seconds S`` the length
of each throughput run (default 5).

The service is ``api.app.create_app`` under a real uvicorn on 127.0.0.1 (a free port), in a
thread of this process, with a fresh data directory, as ``tests/live_server.py`` runs it.
First on the embedded Ray (``cluster.connect(RaySettings(num_cpus=2))``, then
``executor="ray"``), then, for comparison, with ``executor="serial"``.

Workload: ``POST /v1/forecasts`` with ``{"policy": "high-level-opening", "horizon_years": 10,
"draws": 1000, "seed": S}``: all 12 economies, and the baseline simulated on the same draws
(the default), so one block of 1,000 draws and one Ray task running the kernel twice.

- **latency**: a warm-up of 3 jobs (Ray's workers start and import the code), then N jobs with
  distinct seeds, one at a time: the time from sending the POST (answered 202) to the first
  ``GET /v1/forecasts/{id}`` that says ``succeeded``, polling every 10 ms. The target is
  p50 <= 500 ms on a warm cluster.
- **where the time goes**, per job, from the job's own timestamps (milliseconds, the same clock
  as this process): POST sent -> ``created_at`` (validation, store), ``created_at`` ->
  ``started_at`` (the runner picking the job up), ``started_at`` -> ``finished_at`` (the
  forecast on the executor, then the result files), ``finished_at`` -> seen (the polling).
  Inside the run, the runner's ``forecast()`` and ``write_results`` calls are timed by
  wrapping them in this process (``RunnerClock``; the service's code is not changed).
  After the services stop, the same request is run in this process through ``forecast()``
  (Ray and serial) and ``api.results.write_results`` to split the run further, and an empty
  Ray task gives Ray's round trip.
- **summary requests per second**: ``GET /v1/forecasts/{id}/summary`` of a finished job (all
  12 economies x 10 years: a JSON file of about 0.3 MB served from disk) by 1 and by 4
  concurrent clients for a few seconds each. Every client is its own process (one
  ``httpx.Client`` each, keep-alive), so clients and server do not share a GIL; on a 2-CPU
  machine they share the CPUs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

PRESET = "high-level-opening"
DRAWS = 1_000
HORIZON = 10
WARMUP_JOBS = 3
POLL = 0.010
SLOW_POLL = 0.100
LATENCY_TARGET = 0.500
CLIENTS = (1, 4)
RAY_CPUS = 2


def body(seed: int) -> dict[str, Any]:
    """The benchmark's request with seed ``seed``."""
    return {"policy": PRESET, "horizon_years": HORIZON, "draws": DRAWS, "seed": seed}


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


def submit_and_wait(client: httpx.Client, seed: int, poll: float) -> dict[str, float]:
    """Submit one job, poll until it succeeds; return its latency and the parts of it (seconds)."""
    sent = time.time()
    started = time.perf_counter()
    response = client.post("/v1/forecasts", json=body(seed))
    if response.status_code != 202:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text}")
    job = response.json()["id"]
    while True:
        record = client.get(f"/v1/forecasts/{job}").json()
        if record["status"] == "succeeded":
            latency = time.perf_counter() - started
            seen = time.time()
            break
        if record["status"] in ("failed", "cancelled"):
            raise RuntimeError(f"job {job} {record['status']}: {record['error']}")
        time.sleep(poll)
    created, begun, finished = (_epoch(record[key]) for key in ("created_at", "started_at", "finished_at"))
    return {
        "latency": latency,
        "submit": created - sent,
        "queue": begun - created,
        "run": finished - begun,
        "poll": seen - finished,
        "job": job,  # type: ignore[dict-item]
    }


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of ``values`` (numpy's default method)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _gather(results: Any, processes: Sequence[Any], timeout: float) -> list[Any]:
    """One item from ``results`` per process; fail if a process dies first or ``timeout`` passes."""
    gathered: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(gathered) < len(processes):
        try:
            gathered.append(results.get(timeout=1))
        except queue.Empty:
            if time.monotonic() > deadline or not all(process.is_alive() for process in processes):
                raise RuntimeError("a client process failed or timed out (its error is above)") from None
    for process in processes:
        process.join(30)
    return gathered


def _latency_client(url: str, seeds: Sequence[int], warmup: Sequence[int], poll: float, results: Any) -> None:
    """The latency client, in its own process: warm up, then time one job per seed, one at a time."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for seed in warmup:
            submit_and_wait(client, seed, poll)
        results.put([submit_and_wait(client, seed, poll) for seed in seeds])


def measure_latency(
    url: str, seeds: Sequence[int], warmup: Sequence[int], poll: float
) -> list[dict[str, float]]:
    """Run the latency client in a child process (so it shares no GIL with the service)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_latency_client, args=(url, seeds, warmup, poll, results))
    process.start()
    rows: list[dict[str, float]] = _gather(results, [process], timeout=900)[0]
    return rows


def _client(url: str, path: str, seconds: float, barrier: Any, results: Any) -> None:
    """One client process: GET ``path`` as fast as answered for ``seconds``; report counts."""
    latencies: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get(path)  # connect, and fail early if something is wrong
        barrier.wait()
        end = time.perf_counter() + seconds
        while (now := time.perf_counter()) < end:
            response = client.get(path)
            latencies.append(time.perf_counter() - now)
            if response.status_code != 200 or not response.content:
                errors += 1
    results.put((len(latencies), errors, latencies))


def measure_throughput(url: str, path: str, clients: int, seconds: float) -> dict[str, float]:
    """Requests per second of ``clients`` concurrent client processes, and their latencies."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_client, args=(url, path, seconds, barrier, results)) for _ in range(clients)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=120)
    started = time.perf_counter()
    gathered = _gather(results, processes, timeout=seconds + 120)
    elapsed = time.perf_counter() - started
    count = sum(item[0] for item in gathered)
    latencies = [value for item in gathered for value in item[2]]
    return {
        "clients": clients,
        "requests": count,
        "errors": sum(item[1] for item in gathered),
        "rps": count / elapsed,
        "p50": quantile(latencies, 0.5),
        "p95": quantile(latencies, 0.95),
    }


class RunnerClock:
    """Time the job runner's two steps inside the service: ``forecast()`` and ``write_results``.

    It wraps the two names in ``api.runner``'s namespace (this process only; the service's code
    is unchanged), so each job's steps are timed where and as the service runs them.
    """

    def __init__(self) -> None:
        import api.runner

        self.times: dict[str, list[float]] = {"forecast": [], "write": []}
        for key, name in (("forecast", "forecast"), ("write", "write_results")):
            setattr(api.runner, name, self._timing(getattr(api.runner, name), self.times[key]))

    @staticmethod
    def _timing(function: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                into.append(time.perf_counter() - started)

        return timed_call

    def attach(self, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        """Add the last ``len(rows)`` jobs' step times to ``rows`` (jobs ran one at a time, in order)."""
        for key, values in self.times.items():
            for row, value in zip(rows, values[-len(rows):], strict=True):
                row[key] = value
        return rows


def timed(function: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``function()`` over ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def breakdown(repeat: int) -> dict[str, float]:
    """Median times of the job's parts, run in this process (Ray still connected)."""
    import ray

    from api.results import summary_document, write_results
    from cluster import RayExecutor
    from forecaster import (
        PRESETS,
        ForecastRequest,
        SerialExecutor,
        forecast,
        load_calibration,
        run_forecast,
        summarize,
        write_netcdf,
    )
    from forecaster.report import write_summary_csv

    calibration = load_calibration()
    request = ForecastRequest(policy=PRESETS[PRESET], horizon_years=HORIZON, n_draws=DRAWS, seed=123)
    ray_executor, serial_executor = RayExecutor(), SerialExecutor()
    result = forecast(request, calibration, ray_executor)
    draws = result.draws
    assert draws is not None

    @ray.remote(num_cpus=1)
    def nothing() -> None:
        return None

    ray.get(nothing.remote())
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        count = iter(range(10**6))

        def fresh(name: str) -> Path:
            return directory / f"{next(count)}-{name}"

        return {
            "forecast_ray": timed(lambda: forecast(request, calibration, ray_executor), repeat),
            "forecast_serial": timed(lambda: forecast(request, calibration, serial_executor), repeat),
            "run_ray": timed(lambda: run_forecast(request, calibration, ray_executor), repeat),
            "run_serial": timed(lambda: run_forecast(request, calibration, serial_executor), repeat),
            "summarize": timed(lambda: summarize(draws, request.quantiles, request.thresholds), repeat),
            "write_results": timed(lambda: write_results(fresh("job"), result), repeat),
            "write_csv": timed(lambda: write_summary_csv(result.summary, fresh("summary.csv")), repeat),
            "write_draws": timed(lambda: write_netcdf(draws, fresh("draws.nc")), repeat),
            "write_summary_nc": timed(lambda: write_netcdf(result.summary, fresh("summary.nc")), repeat),
            "summary_json": timed(lambda: json.dumps(summary_document(result.summary)), repeat),
            "ray_round_trip": timed(lambda: ray.get(nothing.remote()), repeat * 5),
        }


def stats(rows: list[dict[str, float]], key: str) -> dict[str, float]:
    """p50, p95, min and max of ``key`` over ``rows``."""
    values = [row[key] for row in rows]
    return {"p50": quantile(values, 0.5), "p95": quantile(values, 0.95),
            "min": min(values), "max": max(values)}


def machine() -> str:
    """CPU model, logical CPUs, kernel."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def load() -> str:
    """The 1, 5 and 15-minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30, help="timed jobs per run (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput run")
    args = parser.parse_args(argv)

    import fastapi
    import numpy
    import ray
    import uvicorn

    from api.settings import Settings
    from cluster import RaySettings, connect

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from live_server import running  # the tests' real uvicorn on a loopback port, in a thread

    load_before = load()
    started = time.perf_counter()
    connect(RaySettings(num_cpus=RAY_CPUS))
    ray_start = time.perf_counter() - started
    seeds = list(range(1000, 1000 + args.jobs))
    other_seeds = list(range(2000, 2000 + args.jobs))
    warmup = list(range(WARMUP_JOBS))
    throughput: list[dict[str, float]] = []
    runs: dict[str, list[dict[str, float]]] = {}
    clock = RunnerClock()
    with tempfile.TemporaryDirectory() as scratch:
        with running(Settings(data_dir=Path(scratch) / "ray", executor="ray")) as url:
            runs["ray"] = clock.attach(measure_latency(url, seeds, warmup, POLL))
            slow = measure_latency(url, other_seeds, [], SLOW_POLL)
            runs[f"ray, poll {SLOW_POLL * 1000:.0f} ms"] = clock.attach(slow)
            path = f"/v1/forecasts/{runs['ray'][0]['job']}/summary"
            summary_ray = httpx.get(url + path).content
            for clients in CLIENTS:
                throughput.append(measure_throughput(url, path, clients, args.seconds))
        with running(Settings(data_dir=Path(scratch) / "serial", executor="serial")) as url:
            runs["serial"] = clock.attach(measure_latency(url, seeds, warmup, POLL))
            summary_serial = httpx.get(f"{url}/v1/forecasts/{runs['serial'][0]['job']}/summary").content
    parts = breakdown(repeat=10)
    load_after = load()
    ray.shutdown()

    ms = 1000.0
    print(f"date       {datetime.date.today().isoformat()}")
    print(f"machine    {machine()}")
    print(f"load avg   {load_before} before, {load_after} after (1, 5, 15 min)")
    print(f"software   Python {platform.python_version()}, numpy {numpy.__version__}, ray {ray.__version__}, "
          f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, httpx {httpx.__version__}")
    shown = json.dumps(body(0))[:-2] + "S}"
    print(f"workload   POST /v1/forecasts {shown}, {args.jobs} seeds S, one job at a time: 12 economies, "
          f"baseline compared; {WARMUP_JOBS} warm-up jobs first")
    print(f"service    uvicorn in this process on 127.0.0.1, clients in their own processes; "
          f"ray: embedded, {RAY_CPUS} CPUs (start {ray_start:.1f} s, not timed)")
    same = "identical" if summary_ray == summary_serial else "DIFFERENT"
    print(f"results    summary JSON of seed {seeds[0]}: ray and serial {same}")
    print()
    print(f"Submit-to-result latency (ms), POST to the first GET status saying succeeded, polling every "
          f"{POLL * ms:.0f} ms unless said")
    print()
    print("| executor         | p50    | p95    | min    | max    | target p50 | result |")
    print("|------------------|--------|--------|--------|--------|------------|--------|")
    for name, rows in runs.items():
        row = stats(rows, "latency")
        target = f"<= {LATENCY_TARGET * ms:.0f}" if name == "ray" else ""
        outcome = ("PASS" if row["p50"] <= LATENCY_TARGET else "MISS") if name == "ray" else ""
        print(f"| {name:<16} | {row['p50'] * ms:>6.0f} | {row['p95'] * ms:>6.0f} | {row['min'] * ms:>6.0f} "
              f"| {row['max'] * ms:>6.0f} | {target:<10} | {outcome:<6} |")
    print()
    print("Where the time goes: median per job (ms), from the jobs' timestamps and, indented, the "
          "runner's two steps timed in the service")
    print()
    names = list(runs)
    header = " | ".join(f"{name:<16}" for name in names)
    print(f"| part                                        | {header} |")
    print("|---------------------------------------------|" + "|".join("-" * 18 for _ in names) + "|")
    for key, label in (
        ("submit", "POST sent -> created_at (validate, store)"),
        ("queue", "created_at -> started_at (runner picks up)"),
        ("run", "started_at -> finished_at (forecast, files)"),
        ("forecast", "  forecast(): simulate, summarize"),
        ("write", "  write_results: the job's files"),
        ("poll", "finished_at -> seen succeeded (polling)"),
        ("latency", "total"),
    ):
        cells = " | ".join(f"{stats(runs[name], key)['p50'] * ms:>16.0f}" for name in names)
        print(f"| {label:<43} | {cells} |")
    print()
    print("The same request's parts, timed in this process with the services stopped (median of 10, ms)")
    print()
    print("| part                                                  | ms     |")
    print("|-------------------------------------------------------|--------|")
    for key, label in (
        ("forecast_ray", "forecast() on RayExecutor: simulate + summarize"),
        ("run_ray", "  run_forecast() on Ray: 1 task (kernel x 2), dataset"),
        ("forecast_serial", "forecast() on SerialExecutor"),
        ("run_serial", "  run_forecast() on SerialExecutor"),
        ("summarize", "  summarize() (quantiles, means, MCSE, probabilities)"),
        ("write_results", "write_results: the job's files"),
        ("write_draws", "  draws.nc (every draw)"),
        ("write_summary_nc", "  summary.nc"),
        ("summary_json", "  summary.json (summary_document + json.dumps)"),
        ("write_csv", "summary.csv, written at its first GET, not by the job"),
        ("ray_round_trip", "an empty Ray task, submit to get (median of 50)"),
    ):
        print(f"| {label:<53} | {parts[key] * ms:>6.1f} |")
    print()
    print(f"GET /v1/forecasts/{{id}}/summary: {len(summary_ray) / 1e6:.2f} MB of JSON, "
          f"{args.seconds:.0f} s per run, each client its own process with one keep-alive connection")
    print()
    print("| clients | requests | errors | requests/s | p50 ms | p95 ms |")
    print("|---------|----------|--------|------------|--------|--------|")
    for row in throughput:
        print(f"| {row['clients']:>7} | {row['requests']:>8} | {row['errors']:>6} | {row['rps']:>10.0f} "
              f"| {row['p50'] * ms:>6.1f} | {row['p95'] * ms:>6.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
