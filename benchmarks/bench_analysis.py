"""Benchmark of the analyses against one forecast: 1,000 draws x 12 economies x 10 years.

Run as ``flock /tmp/nqpf-ray.lock .venv/bin/python benchmarks/bench_analysis.py`` (it starts an
embedded Ray with 2 CPUs). Prints the wall time, best of 3, of one forecast of the
``high-level-opening`` preset with its baseline (the reference), of the attribution of its four
levers (16 sub-mixes), of a comparison of four policies, and of the Sobol' indices of all
seven groups (9 designs x 2 scenarios per base draw), serially and on Ray, each as a multiple
of the forecast's time on the same executor. Target (issue 13): an attribution of a four-lever
mix in at most 16 times a single forecast's time on 2 CPUs. Checks that serial and Ray agree.
"""

import time
from collections.abc import Callable

import xarray as xr

from cluster import RayExecutor, RaySettings, connect
from forecaster import PRESETS, Executor, ForecastRequest, SerialExecutor, attribute, compare, forecast
from forecaster.calibration import load_calibration
from forecaster.sensitivity import sensitivity

REQUEST = ForecastRequest(policy=PRESETS["high-level-opening"], horizon_years=10, n_draws=1000, seed=1)
POLICIES = [PRESETS[name] for name in ("baseline", "digital", "software", "high-level-opening")]
ATTRIBUTION_TARGET = 16.0
REPEATS = 3


def best_time(run: Callable[[], object]) -> tuple[float, object]:
    """Best wall time of ``run()`` over :data:`REPEATS`, and its last result."""
    times, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def measure(executor: Executor) -> dict[str, tuple[float, object]]:
    calibration = load_calibration()
    return {
        "forecast (policy and baseline)": best_time(lambda: forecast(REQUEST, calibration, executor).summary),
        "attribute (4 levers, 16 mixes)": best_time(lambda: attribute(REQUEST, None, calibration, executor)),
        "compare (4 policies)": best_time(lambda: compare(REQUEST, POLICIES, calibration, executor)),
        "sensitivity (7 groups, 18 runs)": best_time(
            lambda: sensitivity(REQUEST, None, calibration, executor)
        ),
    }


def main() -> None:
    serial = measure(SerialExecutor())
    connect(RaySettings(num_cpus=2))
    on_ray = measure(RayExecutor())
    for name in serial:
        xr.testing.assert_identical(serial[name][1], on_ray[name][1])  # type: ignore[arg-type]
    print(f"{'1,000 draws x 12 economies x 10 years':<34}{'serial s':>10}{'x forecast':>12}"
          f"{'Ray 2 CPUs s':>14}{'x forecast':>12}")
    reference = {"serial": serial["forecast (policy and baseline)"][0],
                 "ray": on_ray["forecast (policy and baseline)"][0]}
    for name in serial:
        s, r = serial[name][0], on_ray[name][0]
        print(f"{name:<34}{s:>10.2f}{s / reference['serial']:>12.1f}{r:>14.2f}{r / reference['ray']:>12.1f}")
    ratio = on_ray["attribute (4 levers, 16 mixes)"][0] / reference["ray"]
    verdict = "ok" if ratio <= ATTRIBUTION_TARGET else "MISS"
    print(f"attribution on Ray: {ratio:.1f} x a forecast (target <= {ATTRIBUTION_TARGET:.0f}): {verdict}")
    print("serial and Ray results identical: yes")


if __name__ == "__main__":
    main()
