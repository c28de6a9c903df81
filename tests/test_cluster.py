"""Ray execution on a real local Ray (one instance for the session)."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

import pytest
import ray
import xarray as xr

from api.cli import main
from cluster import RayExecutor, readiness
from forecaster import (
    PRESETS,
    Calibration,
    CancelledError,
    ForecastRequest,
    SerialExecutor,
    attribute,
    compare,
    run_forecast,
)
from forecaster.engine import run_tasks
from forecaster.plan import MIN_TASK_CELLS, TAPER_GROUPS, Block, build_inputs, group_blocks, plan_blocks
from forecaster.sensitivity import sensitivity

REQUEST = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=10, n_draws=1_200, seed=5, block_size=100
)


def test_readiness_reports_cpus(ray_cluster: None) -> None:
    status = readiness()
    assert status["ready"] is True and status["cpus"] == 2
    deadline = time.monotonic() + 30  # once tasks of earlier tests have given their CPUs back
    while readiness()["cpus_available"] != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert readiness()["cpus_available"] == 2


@pytest.mark.parametrize("max_in_flight", [1, 2, 8])
def test_ray_equals_serial_bit_for_bit(
    ray_cluster: None, calibration: Calibration, max_in_flight: int
) -> None:
    serial = run_forecast(REQUEST, calibration)
    progress: list[tuple[int, int]] = []
    on_ray = run_forecast(
        REQUEST,
        calibration,
        executor=RayExecutor(max_in_flight),
        on_progress=lambda done, total: progress.append((done, total)),
        min_task_cells=1,  # a task per block: 12 tasks
    )
    xr.testing.assert_identical(serial, on_ray)
    assert progress == [(done, 12) for done in range(1, 13)]  # one call per task, in any order


def test_a_draw_costs_its_years_times_economies_and_twice_that_with_the_baseline(
    calibration: Calibration,
) -> None:
    request = ForecastRequest(horizon_years=7, economies=("CHN", "USA", "EU"))
    assert build_inputs(request, calibration).cells_per_draw == 2 * 7 * 3
    alone = dataclasses.replace(request, compare_to_baseline=False)
    assert build_inputs(alone, calibration).cells_per_draw == 21


@pytest.mark.parametrize(
    ("n_draws", "block_size", "cells_per_draw", "max_groups"),
    # 12 economies x 30 years x policy and baseline; x 1 year; 3 economies x 7 years, no baseline.
    [(10_000, 100, 720, None), (100_000, 1_000, 720, 32), (1_000_000, 1_000, 720, 32),
     (1_000_000, 1_000, 24, 32), (99_999, 700, 21, 32), (5_000, 1_000, 720, 32)],
)
def test_groups_are_coarse_cover_blocks_in_order_and_taper(
    n_draws: int, block_size: int, cells_per_draw: int, max_groups: int | None
) -> None:
    blocks = plan_blocks(n_draws, seed=0, block_size=block_size)
    groups = group_blocks(blocks, cells_per_draw, max_groups)
    assert [b.index for g in groups for b in g] == list(range(len(blocks)))
    assert all(sum(b.size for b in g) * cells_per_draw >= MIN_TASK_CELLS for g in groups[:-1])
    smallest = math.ceil(MIN_TASK_CELLS / (block_size * cells_per_draw))
    sizes = [len(g) for g in groups]
    if max_groups is not None and len(blocks) / max_groups > smallest:  # larger groups, then the taper
        large = sizes[:-TAPER_GROUPS]
        assert sizes[-TAPER_GROUPS:] == [smallest] * TAPER_GROUPS
        assert len(large) <= max_groups and min(large) >= len(blocks) / max_groups
        assert max(large) - min(large) <= 1
    else:
        assert sizes[:-1] == [smallest] * (len(groups) - 1)


def _sleep_for_an_hour(job: None, blocks: list[Block]) -> None:
    """A task that ends only if it is cancelled (within the test's time)."""
    time.sleep(3600)


def test_cancellation_stops_and_frees_the_cluster(ray_cluster: None) -> None:
    groups = [[block] for block in plan_blocks(8, seed=0, block_size=1)]
    polls = {"n": 0, "busy": 0}

    def cancel_soon() -> bool:  # once both CPUs run a task (polled every 0.5 s; at most 30 s)
        polls["n"] += 1
        polls["busy"] += ray.available_resources().get("CPU", 0) == 0
        return bool(polls["busy"]) or polls["n"] > 60

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        with pytest.raises(CancelledError, match="cancelled after 0 of 8 blocks"):
            run_tasks(RayExecutor(), _sleep_for_an_hour, None, groups, lambda _: None,
                      should_cancel=cancel_soon)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert polls["busy"], "the tasks never took both CPUs"
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ray.available_resources().get("CPU", 0) == 2


def test_cli_runs_on_ray(ray_cluster: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["forecast", "--preset", "software", "--draws", "300", "--horizon", "4", "--out", str(tmp_path)]
    assert main([*args, "--executor", "ray"]) == 0
    on_ray = capsys.readouterr().out
    assert main([*args, "--executor", "serial", "--out", str(tmp_path / "serial")]) == 0
    serial = capsys.readouterr().out
    assert on_ray.splitlines()[:14] == serial.splitlines()[:14]  # identical tables


def test_analyses_on_ray_equal_serial_bit_for_bit(ray_cluster: None, calibration: Calibration) -> None:
    request = ForecastRequest(policy=PRESETS["high-level-opening"], economies=("CHN", "USA"), horizon_years=4,
                              n_draws=400, seed=2, block_size=100)
    policies = [PRESETS["baseline"], PRESETS["digital"], PRESETS["software"]]
    for run in (lambda executor: attribute(request, None, calibration, executor),
                lambda executor: compare(request, policies, calibration, executor),
                lambda executor: sensitivity(request, ("beta", "macro"), calibration, executor)):
        xr.testing.assert_identical(run(SerialExecutor()), run(RayExecutor(max_in_flight=2)))
