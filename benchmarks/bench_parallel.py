"""Benchmark of parallel execution: serial vs multiprocessing.Pool(2) vs Ray with 2 CPUs.

Run as ``.venv/bin/python benchmarks/bench_parallel.py`` (a few minutes; on a shared machine
wrap it in ``flock /tmp/nqpf-ray.lock``, it starts Ray).

Workload: ``forecaster.forecast()`` of one request, 100,000 draws x 12 economies x 30 years,
preset ``high-level-opening``, seed 0, the baseline simulated on the same draws (the default
request, so every block runs the kernel twice). At this size ``forecast()`` reduces draws
inside their tasks (``run_summary``): the three executors run the same tasks on the same
groups of blocks, and each task sends back a mergeable summary that this process merges.

- serial: ``SerialExecutor``, the tasks one after another in this process;
- pool: a ``multiprocessing.Pool(2)`` ("spawn"), each group of blocks one pool task, results
  merged as they finish (``PoolExecutor`` below implements ``forecaster.Executor``);
- ray: an embedded local Ray with 2 CPUs (``cluster.connect``) and ``cluster.RayExecutor``.

All runs are warm: the pool's processes and Ray's workers have run a small forecast (and so
imported the code) before the timed one; starting Ray is reported apart. Every task measures
its own CPU time (``time.thread_time`` around the task, in the process that runs it) and its
wall-clock start and end.

Definitions (the targets are those of the Ray execution issue):

- wall time: of the ``forecast()`` call (planning, tasks, merging, labelling);
- task CPU: the tasks' CPU times added up;
- speed-up = serial wall time / parallel wall time;
- parallel efficiency on 2 workers = serial wall time / (2 x parallel wall time); target
  >= 85% for Ray;
- driver work D = serial wall time - serial task CPU: planning the job, merging the tasks'
  summaries and labelling the result, the same code in this process whatever the executor;
- overhead per job = (wall time - D - task CPU / 2) / wall time: the share of a parallel run's
  wall time that is neither the driver's own work nor the tasks' compute spread over the two
  workers, that is, what running the tasks elsewhere costs (scheduling, moving arguments and
  results, workers waiting, the last task running alone). Negative when the driver's work
  overlaps the tasks'. Ray's is the target, <= 5%. (Ray - Pool) / Pool wall time is printed too.
- Ray's worker time, from the first task's start to the last one's end, times the workers, is
  split into task CPU, time inside tasks without a CPU (the driver's merging and Ray's own
  processes ran), the wait for a worker's first task, time between a worker's tasks, and the
  tail (a worker done while the last task runs). The last four are where the overhead goes.
"""

import os

# One numpy thread per process: set before numpy is imported here or in any child.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import datetime
import functools
import itertools
import multiprocessing
import platform
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

import numpy as np
import xarray as xr

from forecaster import (
    PRESETS,
    Calibration,
    Executor,
    Forecast,
    ForecastRequest,
    SerialExecutor,
    forecast,
    load_calibration,
)
from forecaster.engine import Finished
from forecaster.plan import Block

PRESET = "high-level-opening"
N_DRAWS = 100_000
WARMUP_DRAWS = 4_000
WORKERS = 2
# Targets.
EFFICIENCY = 0.85
OVERHEAD = 0.05

Task = Callable[[Any, Sequence[Block]], Any]


def _pool_task(args: tuple[Task, Any, Sequence[Block]]) -> tuple[int, Any]:
    task, inputs, group = args
    return len(group), task(inputs, group)


class PoolExecutor:
    """``forecaster.Executor`` on a ``multiprocessing.Pool``: one pool task per group of blocks."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def run(
        self, task: Task, inputs: Any, groups: Sequence[Sequence[Block]]
    ) -> Generator[Finished[Any], None, None]:
        """Run every group in the pool; yield each result as it finishes."""
        yield from self.pool.imap_unordered(_pool_task, [(task, inputs, group) for group in groups])


@dataclass(frozen=True)
class TaskTime:
    """Where and when one task ran: its process, wall-clock start and end, and CPU time."""

    pid: int
    start: float
    end: float
    cpu: float


def _cpu_timed(task: Task, inputs: Any, group: Sequence[Block]) -> tuple[TaskTime, Any]:
    start, cpu = time.time(), time.thread_time()
    result = task(inputs, group)
    return TaskTime(os.getpid(), start, time.time(), time.thread_time() - cpu), result


class TaskTimer:
    """Wraps an executor and records the time of each of its tasks, measured inside them."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.tasks: list[TaskTime] = []

    def run(
        self, task: Task, inputs: Any, groups: Sequence[Sequence[Block]]
    ) -> Generator[Finished[Any], None, None]:
        """Run ``task`` through the wrapped executor, timing each call where it runs."""
        for item in self.inner.run(functools.partial(_cpu_timed, task), inputs, groups):
            if item is not None:
                n_blocks, (timing, result) = item
                self.tasks.append(timing)
                item = n_blocks, result
            yield item


@dataclass(frozen=True)
class Run:
    """One timed ``forecast()``."""

    wall: float
    tasks: list[TaskTime]
    result: Forecast

    @property
    def task_cpu(self) -> float:
        """The tasks' CPU times added up."""
        return sum(task.cpu for task in self.tasks)

    def overhead(self, driver: float, workers: int) -> float:
        """Share of the wall time that is neither ``driver`` work nor task compute over ``workers``."""
        return (self.wall - driver - self.task_cpu / workers) / self.wall

    def worker_time(self) -> dict[str, float]:
        """Split the workers' time between the first task's start and the last one's end (seconds).

        Per worker process (there should be one per CPU; the count is printed): ``compute``,
        task CPU; ``descheduled``, inside a task but not on a CPU (other processes ran: the
        driver, Ray's own processes); ``start``, from the first task's start to the worker's
        first; ``between``, between two of its tasks (results out, next task in); ``tail``,
        done before the last task ended.
        """
        first, last = min(t.start for t in self.tasks), max(t.end for t in self.tasks)
        start = between = tail = 0.0
        for pid in {t.pid for t in self.tasks}:
            mine = sorted((t for t in self.tasks if t.pid == pid), key=lambda t: t.start)
            start += mine[0].start - first
            between += sum(b.start - a.end for a, b in itertools.pairwise(mine))
            tail += last - mine[-1].end
        inside = sum(t.end - t.start for t in self.tasks)
        return {"compute": self.task_cpu, "descheduled": inside - self.task_cpu, "start": start,
                "between": between, "tail": tail}


def timed(executor: Executor, request: ForecastRequest, calibration: Calibration) -> Run:
    """Run ``forecast()`` once through ``executor``, timing it and its tasks."""
    timer = TaskTimer(executor)
    start = time.perf_counter()
    result = forecast(request, calibration, executor=timer)
    return Run(time.perf_counter() - start, timer.tasks, result)


def main() -> None:
    calibration = load_calibration()
    request = ForecastRequest(policy=PRESETS[PRESET], n_draws=N_DRAWS)
    warmup = ForecastRequest(policy=PRESETS[PRESET], n_draws=WARMUP_DRAWS)
    load_before = os.getloadavg()

    serial = timed(SerialExecutor(), request, calibration)

    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        timed(PoolExecutor(pool), warmup, calibration)
        pooled = timed(PoolExecutor(pool), request, calibration)

    import ray  # only once the pool is gone: its processes never see Ray

    from cluster import RayExecutor, RaySettings, connect

    start = time.perf_counter()
    connect(RaySettings(num_cpus=WORKERS))
    ray_start = time.perf_counter() - start
    timed(RayExecutor(), warmup, calibration)
    on_ray = timed(RayExecutor(), request, calibration)
    load_after = os.getloadavg()

    xr.testing.assert_identical(serial.result.summary, pooled.result.summary)
    xr.testing.assert_identical(serial.result.summary, on_ray.result.summary)

    print(f"date       {datetime.date.today()}")
    print(f"machine    {platform.machine()}, {os.cpu_count()} logical CPUs, Linux {platform.release()}")
    print(f"load avg   {_loads(load_before)} before, {_loads(load_after)} after (1, 5, 15 min)")
    print(f"software   Python {platform.python_version()}, numpy {np.__version__}, ray {ray.__version__}, "
          "OMP/OPENBLAS/MKL_NUM_THREADS=1")
    print(f"workload   forecast() of {N_DRAWS:,} draws x 12 economies x 30 years, preset {PRESET}, "
          f"baseline included, summary_method={serial.result.summary.attrs.get('summary_method')}")
    print("results    identical summaries: serial = pool = ray (xarray.testing.assert_identical)")
    print(f"ray start  {ray_start:.1f} s (embedded, {WORKERS} CPUs; not in the times below)")
    driver = serial.wall - serial.task_cpu
    print(f"driver     D = serial wall time - serial task CPU = {driver:.1f} s")
    print()
    print(f"| {'executor':<28} | {'wall time':>9} | {'task CPU':>8} | {'speed-up':>8} | {'efficiency':>10} "
          f"| {'overhead per job':>16} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 12}|{'-' * 18}|")
    print(f"| {'serial (SerialExecutor)':<28} | {serial.wall:7.1f} s | {serial.task_cpu:6.1f} s | {1:7.2f}x "
          f"| {'':>10} | {'':>16} |")
    for label, run in ((f"multiprocessing.Pool({WORKERS})", pooled),
                       (f"Ray, {WORKERS} CPUs (RayExecutor)", on_ray)):
        print(f"| {label:<28} | {run.wall:7.1f} s | {run.task_cpu:6.1f} s | {serial.wall / run.wall:7.2f}x "
              f"| {serial.wall / (WORKERS * run.wall):10.1%} | {run.overhead(driver, WORKERS):16.1%} |")
    print()
    efficiency = serial.wall / (WORKERS * on_ray.wall)
    overhead = on_ray.overhead(driver, WORKERS)
    versus_pool = (on_ray.wall - pooled.wall) / pooled.wall
    checks = [
        ("Ray parallel efficiency on 2 workers", f"{efficiency:.1%}", f">= {EFFICIENCY:.0%}",
         "PASS" if efficiency >= EFFICIENCY else "MISS"),
        ("Ray overhead per job", f"{overhead:.1%}", f"<= {OVERHEAD:.0%}",
         "PASS" if overhead <= OVERHEAD else "MISS"),
        ("Ray vs Pool wall time, (ray - pool) / pool", f"{versus_pool:+.1%}", "", ""),
    ]
    parts = on_ray.worker_time()
    print(f"Ray's workers, first task start to last task end: {WORKERS} x "
          f"{max(t.end for t in on_ray.tasks) - min(t.start for t in on_ray.tasks):.1f} s, "
          f"{len(on_ray.tasks)} tasks in {len({t.pid for t in on_ray.tasks})} worker processes")
    print()
    print("| worker time                                             | seconds |")
    print("|---------------------------------------------------------|---------|")
    for key, label in (
        ("compute", "in tasks, on a CPU (task CPU)"),
        ("descheduled", "in tasks, waiting for a CPU (driver, Ray's processes)"),
        ("start", "before a worker's first task"),
        ("between", "between a worker's tasks (results out, next task in)"),
        ("tail", "done, waiting for the last task"),
    ):
        print(f"| {label:<55} | {parts[key]:7.2f} |")
    print()
    print(f"| {'quantity':<42} | {'measured':>8} | {'target':>6} | result |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 8}|{'-' * 8}|")
    for label, measured, target, result in checks:
        print(f"| {label:<42} | {measured:>8} | {target:>6} | {result:<6} |")


def _loads(loads: tuple[float, float, float]) -> str:
    return " ".join(f"{load:.2f}" for load in loads)


if __name__ == "__main__":
    main()
