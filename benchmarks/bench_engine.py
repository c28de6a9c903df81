"""Benchmark of the forecast engine against the plain-loop reference and a numpy floor.

Run as ``.venv/bin/python benchmarks/bench_engine.py`` (or ``make bench``). Workload:
10,000 draws x 12 economies x 30 years of the ``high-level-opening`` preset, on one core.

- engine: drawing shocks + ``kernel.simulate`` for 10 blocks of 1,000 draws (the production
  block size, via ``SerialExecutor`` with no baseline run), best of 3; also the kernel alone
  on pre-drawn shocks.
- reference loop: ``forecaster.reference.simulate_loop`` on the first draws of block 0,
  best of 3, scaled linearly to 10,000 draws.
- floor: two ``np.power`` passes over a float64 (10000, 12, 12) array per year for 30 years
  (the transcendental work per year any implementation of the diffusion step has to do),
  best of 3.
- peak memory: the resident-set high-water mark of a fresh subprocess that runs the engine
  once (whole process: interpreter, libraries and the 10 blocks' results), read from
  ``VmHWM`` in ``/proc/self/status``; and ``tracemalloc``'s peak (numpy and Python
  allocations only) in this process. ``getrusage(RUSAGE_SELF).ru_maxrss`` is the same
  high-water mark but on Linux it carries the parent's peak over fork + exec, so in a child
  of this (by then large) process it reports the parent's peak; it is used only where
  ``/proc`` is missing.
"""

import os

# One core: set before numpy (and its BLAS) is imported anywhere.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import datetime
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from forecaster import PRESETS, SerialExecutor, load_calibration
from forecaster.engine import run_tasks
from forecaster.kernel import simulate
from forecaster.params import ModelParams, build_params
from forecaster.plan import BlockResult, SimulationInputs, plan_blocks, simulate_blocks
from forecaster.reference import simulate_loop
from forecaster.shocks import draw_shocks

PRESET = "high-level-opening"
N_DRAWS = 10_000
BLOCK_SIZE = 1_000
HORIZON_YEARS = 30
SEED = 0
REPEATS = 3
LOOP_DRAWS = 20
GIB = 2**30
MIB = 2**20
# Targets.
ENGINE_SECONDS = 1.5
LOOP_SPEEDUP = 100.0
FLOOR_RATIO = 3.0
PEAK_BYTES = GIB
PEAK_RSS_FLAG = "--peak-rss"


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Shortest wall time of ``repeats`` calls of ``run``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def make_params() -> ModelParams:
    return build_params(load_calibration(), PRESETS[PRESET], horizon_years=HORIZON_YEARS)


def run_engine(params: ModelParams) -> object:
    """The production path of one forecast: per block, draw its shocks and simulate them."""
    results: list[BlockResult] = []
    blocks = plan_blocks(N_DRAWS, SEED, BLOCK_SIZE)
    inputs = SimulationInputs(params, None)
    run_tasks(SerialExecutor(), simulate_blocks, inputs, [[block] for block in blocks], results.extend)
    return results


def high_water_rss() -> int:
    """Peak resident set size of this process so far, in bytes."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def peak_rss_child() -> None:
    """Run in a fresh subprocess: print peak RSS after imports and after one engine run (bytes)."""
    params = make_params()
    before = high_water_rss()
    results = run_engine(params)
    after = high_water_rss()
    del results
    print(before, after)


def peak_rss() -> tuple[int, int]:
    child = subprocess.run(
        [sys.executable, __file__, PEAK_RSS_FLAG], check=True, capture_output=True, text=True,
        env=os.environ,
    )
    before, after = child.stdout.split()
    return int(before), int(after)


def peak_traced(params: ModelParams) -> int:
    tracemalloc.start()
    results = run_engine(params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del results
    return peak


def floor_seconds(rng: np.random.Generator, theta: np.ndarray, beta: np.ndarray) -> float:
    shape = (N_DRAWS, 12, 12)
    x = rng.uniform(0.5, 1.5, shape)
    y = rng.uniform(0.01, 1.0, shape)
    out = np.empty(shape)
    minus_theta = -theta[:, None, None]
    one_minus_beta = 1.0 - beta[:, None, None]

    def run() -> None:
        for _ in range(HORIZON_YEARS):
            np.power(x, minus_theta, out=out)
            np.power(y, one_minus_beta, out=out)

    return best_of(REPEATS, run)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    params = make_params()
    n = params.n_economies
    print(f"date       {datetime.date.today().isoformat()}")
    print(f"machine    {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} "
          f"{platform.release()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"software   Python {platform.python_version()}, numpy {np.__version__}, "
          f"OMP/OPENBLAS/MKL_NUM_THREADS=1")
    print(f"workload   {N_DRAWS:,} draws x {n} economies x {HORIZON_YEARS} years, preset {PRESET}, "
          f"blocks of {BLOCK_SIZE:,}, best of {REPEATS}")
    print()

    engine = best_of(REPEATS, lambda: run_engine(params))

    blocks = plan_blocks(N_DRAWS, SEED, BLOCK_SIZE)
    all_shocks = [draw_shocks(np.random.default_rng(b.seed), params, b.size) for b in blocks]
    kernel = best_of(REPEATS, lambda: [simulate(params, shocks) for shocks in all_shocks])

    loop_shocks = draw_shocks(np.random.default_rng(blocks[0].seed), params, LOOP_DRAWS)
    loop_subset = best_of(REPEATS, lambda: simulate_loop(params, loop_shocks))
    loop = loop_subset * N_DRAWS / LOOP_DRAWS

    theta = np.concatenate([s.theta for s in all_shocks])
    beta = np.concatenate([s.beta for s in all_shocks])
    floor = floor_seconds(np.random.default_rng(SEED), theta, beta)

    rss_imports, rss_peak = peak_rss()
    traced = peak_traced(params)

    rows = [
        ("engine: shocks + kernel, 10 blocks x 1,000 draws", f"{engine:.3f} s",
         f"<= {ENGINE_SECONDS} s", verdict(engine <= ENGINE_SECONDS)),
        ("kernel alone (pre-drawn shocks)", f"{kernel:.3f} s", "", ""),
        ("shock drawing (engine - kernel)", f"{engine - kernel:.3f} s", "", ""),
        (f"reference loop, {LOOP_DRAWS} draws", f"{loop_subset:.3f} s", "", ""),
        (f"reference loop, scaled to {N_DRAWS:,} draws", f"{loop:.0f} s", "", ""),
        (f"floor: 2 np.power passes x {HORIZON_YEARS} years, float64", f"{floor:.3f} s", "", ""),
        ("loop / engine", f"{loop / engine:.0f}x", f">= {LOOP_SPEEDUP:.0f}x",
         verdict(loop / engine >= LOOP_SPEEDUP)),
        ("loop / kernel alone", f"{loop / kernel:.0f}x", "", ""),
        ("engine / floor", f"{engine / floor:.2f}x", f"<= {FLOOR_RATIO:.0f}x",
         verdict(engine / floor <= FLOOR_RATIO)),
        ("peak RSS of engine run (VmHWM, fresh process)", f"{rss_peak / MIB:.0f} MiB",
         "<= 1 GiB", verdict(rss_peak <= PEAK_BYTES)),
        ("  of which after imports, before the run", f"{rss_imports / MIB:.0f} MiB", "", ""),
        ("peak traced allocations of engine run (tracemalloc)", f"{traced / MIB:.0f} MiB", "", ""),
    ]
    header = ("quantity", "measured", "target", "result")
    widths = [max(len(row[k]) for row in [header, *rows]) for k in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    print(line(header))
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    if PEAK_RSS_FLAG in sys.argv[1:]:
        peak_rss_child()
    else:
        main()
