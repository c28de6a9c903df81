"""Benchmark of the backtest: 4 origins x 2,000 draws x 12 economies x 10 years, serial and on Ray.

Run as ``flock /tmp/nqpf-ray.lock .venv/bin/python benchmarks/bench_backtest.py`` (it starts an
embedded Ray with 2 CPUs; the lock keeps Ray workloads apart on a shared machine). Prints the
wall time of ``forecaster.run_backtest`` with the default request (origins 1990, 1995, 2000,
2005; 10 years; 2,000 draws), best of 3, serial and with ``cluster.RayExecutor``, against the
target of 60 s on 2 CPUs, and checks that both give the same scores.
"""

import time

import xarray as xr

from cluster import RayExecutor, RaySettings, connect
from forecaster import BacktestRequest, Executor, SerialExecutor, run_backtest

TARGET_SECONDS = 60.0
REPEATS = 3


def best_time(executor: Executor) -> tuple[float, xr.Dataset]:
    """Best wall time of the default backtest on ``executor``, and its scores."""
    times, scores = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        scores = run_backtest(BacktestRequest(), executor)
        times.append(time.perf_counter() - start)
    assert scores is not None
    return min(times), scores


def main() -> None:
    serial_time, serial = best_time(SerialExecutor())
    connect(RaySettings(num_cpus=2))
    ray_time, on_ray = best_time(RayExecutor())
    xr.testing.assert_identical(serial, on_ray)
    print(f"{'backtest (4 origins x 2,000 draws x 12 economies x 10 years)':<64}{'seconds':>8}{'target':>8}")
    for label, seconds in (("serial, 1 process", serial_time), ("Ray, 2 CPUs", ray_time)):
        verdict = "ok" if seconds <= TARGET_SECONDS else "MISS"
        print(f"{label:<64}{seconds:>8.2f}{TARGET_SECONDS:>8.0f}  {verdict}")
    print("serial and Ray scores identical: yes")


if __name__ == "__main__":
    main()
