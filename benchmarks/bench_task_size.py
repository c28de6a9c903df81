"""What one task costs, against the ~100 ms a Ray task should at least run.

Run as ``.venv/bin/python benchmarks/bench_task_size.py`` (one core, no Ray). For 2, 3, 6
and 12 economies, with and without the baseline, over 30 and 10 years: the time of
``simulate_block`` (shocks and kernel) on one block of 1,000 draws of the
``high-level-opening`` preset, best of 5, per cell simulated (draw x year x economy, the
baseline's counted), and then the blocks a task gets from ``group_blocks`` under
``MIN_TASK_CELLS`` and what such a task costs. The baseline is "draw-years", the rule used
before (15,000 draw-years a task, whatever the economies and baseline).
"""

import os

# One core: set before numpy (and its BLAS) is imported anywhere.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import datetime
import math
import platform
import time

import numpy as np

from forecaster import PRESETS, ForecastRequest, load_calibration
from forecaster.plan import MIN_TASK_CELLS, build_inputs, group_blocks, plan_blocks, simulate_block

ECONOMIES = {2: ("CHN", "USA"), 3: ("CHN", "USA", "EU"), 6: ("CHN", "USA", "EU", "JPN", "KOR", "IND"), 12: ()}
BLOCK_SIZE = 1_000
REPEATS = 5
#: The rule before MIN_TASK_CELLS: draw-years a task.
OLD_MIN_DRAW_YEARS = 15_000


def main() -> None:
    calibration = load_calibration()
    print(f"date       {datetime.date.today()}")
    print(f"machine    {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, one thread")
    print(f"workload   simulate_block on 1 block of {BLOCK_SIZE:,} draws, preset high-level-opening, "
          f"best of {REPEATS}; MIN_TASK_CELLS = {MIN_TASK_CELLS:,}")
    print()
    print("| economies | years | baseline | ms a block | us a cell | blocks a task | ms a task "
          "| old rule: blocks | ms a task |")
    print("|-----------|-------|----------|------------|-----------|---------------|-----------"
          "|------------------|-----------|")
    per_cell = []
    block = plan_blocks(BLOCK_SIZE, seed=0, block_size=BLOCK_SIZE)[0]
    blocks = plan_blocks(100 * BLOCK_SIZE, seed=0, block_size=BLOCK_SIZE)
    for horizon_years in (30, 10):
        for n_economies, economies in ECONOMIES.items():
            for baseline in (True, False):
                request = ForecastRequest(policy=PRESETS["high-level-opening"], economies=economies,
                                          horizon_years=horizon_years, n_draws=BLOCK_SIZE,
                                          compare_to_baseline=baseline)
                job = build_inputs(request, calibration)
                seconds = []
                for _ in range(REPEATS):
                    start = time.perf_counter()
                    simulate_block(job, block)
                    seconds.append(time.perf_counter() - start)
                block_ms = 1000 * min(seconds)
                cell_us = 1000 * block_ms / (BLOCK_SIZE * job.cells_per_draw)
                per_cell.append(cell_us)
                new = len(group_blocks(blocks, job.cells_per_draw)[0])
                old = math.ceil(OLD_MIN_DRAW_YEARS / (BLOCK_SIZE * horizon_years))
                print(f"| {n_economies:>9} | {horizon_years:>5} | {'yes' if baseline else 'no':>8} "
                      f"| {block_ms:10.1f} | {cell_us:9.3f} | {new:>13} | {new * block_ms:9.0f} "
                      f"| {old:>16} | {old * block_ms:9.0f} |")
    print()
    print(f"per cell: {min(per_cell):.3f} to {max(per_cell):.3f} us; MIN_TASK_CELLS x that: "
          f"{MIN_TASK_CELLS * min(per_cell) / 1000:.0f} to {MIN_TASK_CELLS * max(per_cell) / 1000:.0f} ms")


if __name__ == "__main__":
    main()
