"""Large runs: summaries reduced inside tasks, against the exact ones, on any executor."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import ray
import xarray as xr
import yaml

from api.batch import load_batch, run_batch
from api.cli import main
from cluster import RayExecutor
from forecaster import (
    MODEL_VERSION,
    PRESETS,
    Calibration,
    CancelledError,
    Executor,
    ForecastRequest,
    RequestError,
    SerialExecutor,
    forecast,
    run_forecast,
    run_summary,
    summarize,
)
from forecaster.engine import EXACT_MAX_CELLS, run_tasks
from forecaster.outcomes import SUMMARISED
from forecaster.plan import Block, build_inputs, group_blocks, plan_blocks, simulate_blocks
from forecaster.sketch import (
    MAX_GROUPS,
    N_BINS,
    PILOT_DRAWS,
    GroupSketch,
    SketchInputs,
    SketchMerger,
    plan_sketch,
    sketch_blocks,
)

#: Levers start in 2026 after base year 2023: the first two years have policy == baseline.
SMALL = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=6, n_draws=3_000, seed=4, block_size=250,
    economies=("CHN", "USA", "EU", "ASEAN"),
)
#: Large enough for many draws per bin in the body, small enough to keep every draw in a test.
MEDIUM = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=10, n_draws=20_000, seed=21,
    quantiles=(0.01, 0.5, 0.99), thresholds=(0.0, 0.01, 0.03),
)


@pytest.fixture(scope="module")
def medium(calibration: Calibration) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset]:
    """Every draw of MEDIUM, its exact summary, and its summary reduced in tasks."""
    draws = run_forecast(MEDIUM, calibration)
    return draws, summarize(draws, MEDIUM.quantiles, MEDIUM.thresholds), run_summary(MEDIUM, calibration)


def _scenarios(draws: xr.Dataset) -> dict[str, xr.Dataset]:
    policy, baseline = draws.sel(scenario="policy"), draws.sel(scenario="baseline")
    return {"": policy, "baseline_": baseline, "diff_": policy - baseline}


@pytest.mark.parametrize("compare_to_baseline", [True, False])
def test_histogram_summary_is_laid_out_as_the_exact_one(
    calibration: Calibration, compare_to_baseline: bool
) -> None:
    request = dataclasses.replace(
        SMALL, n_draws=600, compare_to_baseline=compare_to_baseline, quantiles=(0.3,), thresholds=(0.02, 0.0)
    )
    exact = summarize(run_forecast(request, calibration), request.quantiles, request.thresholds)
    reduced = run_summary(request, calibration)
    assert list(reduced.data_vars) == list(exact.data_vars)
    for name, values in exact.data_vars.items():
        assert reduced[name].dims == values.dims, name
        assert reduced[name].dtype == values.dtype, name
        assert reduced[name].attrs == values.attrs, name
    xr.testing.assert_identical(xr.Dataset(coords=reduced.coords), xr.Dataset(coords=exact.coords))
    assert exact.attrs.pop("summary_method") == "exact"
    assert reduced.attrs.pop("summary_method") == "histogram"
    assert f"/ {N_BINS // 2}" in reduced.attrs.pop("quantile_resolution")
    exact.attrs.pop("quantile_resolution")
    assert reduced.attrs == exact.attrs and reduced.attrs["model_version"] == MODEL_VERSION


def test_histogram_quantiles_are_within_the_documented_bound(
    medium: tuple[xr.Dataset, xr.Dataset, xr.Dataset],
) -> None:
    """|histogram - exact| <= (max - min of the first 1,000 draws) / 2048, everywhere."""
    draws, exact, reduced = medium
    assert list(exact["quantile"].values) == [0.01, 0.05, 0.15, 0.25, 0.5, 0.75, 0.85, 0.95, 0.99]
    checked = exact_cells = 0
    for prefix, data in _scenarios(draws).items():
        for name in SUMMARISED:
            pilot = data[name].isel(draw=slice(0, PILOT_DRAWS))
            bound = (pilot.max("draw") - pilot.min("draw")) / (N_BINS // 2)
            truth = exact[f"{prefix}{name}_quantile"]
            error = abs(reduced[f"{prefix}{name}_quantile"] - truth)
            rounding = 4 * np.spacing(abs(truth))
            assert (error <= bound * (1 + 1e-12) + rounding).all(), f"{prefix}{name}"
            # The bins are fine: the bound is a small fraction of the 90% interval's width
            # (about 0.1% in most cells, up to 0.6% in the heavier-tailed differences). The static
            # gain is 0 in most draws and moves only with rare fragmentation events, so its 90%
            # interval (and, in the differences, NQPF growth's, which carries it) can be nearly
            # empty: there the bound is small in absolute terms instead, under 0.01% a year.
            interval = truth.sel(quantile=0.95) - truth.sel(quantile=0.05)
            if name == "static_gain" or f"{prefix}{name}" == "diff_nqpf_growth":
                assert (bound < 1e-4).all(), f"{prefix}{name}"
            else:
                assert (bound <= 0.01 * interval).where(interval > 0, True).all(), f"{prefix}{name}"
            # Where the first draws were all equal (no policy yet), the quantile is exact.
            same = (bound == 0).broadcast_like(error)
            assert (error.where(same, 0) == 0).all(), f"{prefix}{name}"
            checked += error.size
            exact_cells += int(same.sum())
    assert checked == 3 * len(SUMMARISED) * 9 * 10 * 12 and exact_cells >= 9 * 2 * 12


def test_histogram_moments_and_probabilities_match_the_exact_ones(
    medium: tuple[xr.Dataset, xr.Dataset, xr.Dataset],
) -> None:
    _, exact, reduced = medium
    for name in exact.data_vars:
        if name.endswith("_quantile"):
            continue
        if "prob" in name:  # counts over draws: the same floats
            np.testing.assert_array_equal(reduced[name], exact[name], err_msg=name)
        else:  # sums in another order: the same up to rounding
            scale = float(abs(exact[name]).max())
            np.testing.assert_allclose(
                reduced[name], exact[name], rtol=1e-11, atol=1e-13 * scale, err_msg=name
            )


def test_histogram_summary_is_bit_identical_however_blocks_are_grouped(
    calibration: Calibration, shuffled_executor: Executor
) -> None:
    blocks = plan_blocks(SMALL.n_draws, SMALL.seed, SMALL.block_size)
    cells_per_draw = build_inputs(SMALL, calibration).cells_per_draw
    assert len(group_blocks(blocks, cells_per_draw, MAX_GROUPS)) == 1  # the shuffle makes four tasks
    xr.testing.assert_identical(
        run_summary(SMALL, calibration), run_summary(SMALL, calibration, executor=shuffled_executor)
    )


def test_merging_refuses_to_finish_with_a_block_missing(calibration: Calibration) -> None:
    blocks = plan_blocks(SMALL.n_draws, SMALL.seed, SMALL.block_size)
    job = plan_sketch(build_inputs(SMALL, calibration), blocks, SMALL.thresholds)
    merger = SketchMerger(job)
    merger.add(sketch_blocks(job, blocks[2:4]))
    merger.add(sketch_blocks(job, blocks[:1]))
    with pytest.raises(ValueError, match=r"blocks \[2, 3\] arrived but an earlier block is missing"):
        merger.statistics([0.5])


def test_task_counts_never_overflow(calibration: Calibration) -> None:
    """A bin may hold every draw of a task: two-byte counts up to 65,535 draws a task, four past it."""
    # Policy equals baseline in the first year (levers start in 2026): every difference is 0, so
    # one bin of each economy's cell holds all the task's draws.
    request = ForecastRequest(policy=PRESETS["software"], horizon_years=3, n_draws=65_536, seed=2,
                              block_size=8_192)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    job = plan_sketch(build_inputs(request, calibration), blocks, request.thresholds)
    whole, halves = SketchMerger(job), SketchMerger(job)
    whole.add(one_task := sketch_blocks(job, blocks))
    for half in (blocks[:4], blocks[4:]):
        halves.add(two_tasks := sketch_blocks(job, half))
    assert one_task.histogram.dtype == np.int32 and two_tasks.histogram.dtype == np.uint16
    assert int(one_task.histogram.max()) == 65_536 and int(two_tasks.histogram.max()) == 32_768
    np.testing.assert_array_equal(whole.histogram, halves.histogram)


def test_forecast_keeps_every_draw_up_to_the_limit(calibration: Calibration) -> None:
    cells = SMALL.n_draws * SMALL.horizon_years * len(SMALL.economies)
    kept = forecast(SMALL, calibration, exact_max_cells=cells)
    assert kept.draws is not None and kept.summary.attrs["summary_method"] == "exact"
    summarised = forecast(SMALL, calibration, exact_max_cells=cells - 1)
    assert summarised.draws is None and summarised.summary.attrs["summary_method"] == "histogram"
    xr.testing.assert_identical(summarised.summary, run_summary(SMALL, calibration))


def test_too_many_draws_to_keep_are_summarised_not_refused(calibration: Calibration) -> None:
    large = ForecastRequest(n_draws=200_000, horizon_years=30)
    with pytest.raises(RequestError, match=r"n_draws: .* exceeds the limit of 36,000,000 kept per draw"):
        run_forecast(large, calibration)
    with pytest.raises(CancelledError, match="before the first of 200 blocks"):  # accepted: it would run
        forecast(large, calibration, should_cancel=lambda: True)


def test_cli_and_batch_write_the_summary_when_draws_are_not_kept(
    calibration: Calibration, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    draws = EXACT_MAX_CELLS // (30 * len(calibration.economies)) + 1  # one more than is kept
    args = ["forecast", "--preset", "digital", "--draws", str(draws), "--horizon", "30", "--netcdf"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert "summary.nc" in capsys.readouterr().out and not (tmp_path / "one" / "draws.nc").exists()
    with xr.open_dataset(tmp_path / "one" / "summary.nc", engine="scipy") as written:
        assert written.attrs["summary_method"] == "histogram" and "tfp_quantile" in written
    path = tmp_path / "batch.yaml"
    path.write_text(yaml.safe_dump({"defaults": {"draws": draws, "horizon_years": 30},
                                    "scenarios": [{"name": "opening", "policy": "high-level-opening"}]}))
    scenarios = load_batch(path, calibration)
    assert run_batch(scenarios, tmp_path / "batch", calibration, SerialExecutor()) == 0
    nc = tmp_path / "batch" / "opening.nc"
    with xr.open_dataset(nc, engine="scipy") as written:
        assert written.attrs["summary_method"] == "histogram" and "draw" not in written.dims
    stamp = nc.stat().st_mtime_ns
    assert run_batch(scenarios, tmp_path / "batch", calibration, SerialExecutor()) == 0
    assert nc.stat().st_mtime_ns == stamp  # verified against its manifest, not redone


# On Ray (a real local instance, shared with the other suites).


@pytest.mark.parametrize("max_in_flight", [1, 2, 8])
def test_ray_summary_equals_serial_bit_for_bit(
    ray_cluster: None, calibration: Calibration, max_in_flight: int
) -> None:
    serial = run_summary(SMALL, calibration)
    progress: list[tuple[int, int]] = []
    on_ray = run_summary(
        SMALL, calibration, executor=RayExecutor(max_in_flight),
        on_progress=lambda done, total: progress.append((done, total)),
        min_task_cells=1,  # a task per block: 12 tasks
    )
    xr.testing.assert_identical(serial, on_ray)
    assert progress == [(done, 12) for done in range(1, 13)]  # one call per task


def _crash_first_attempt(inputs: tuple[SketchInputs, Path], blocks: Sequence[Block]) -> GroupSketch:
    """Kill the worker the first time the first group runs; Ray retries the task elsewhere."""
    sketch_inputs, marker = inputs
    if blocks[0].index == 0 and not marker.exists():
        marker.touch()
        os._exit(1)
    return sketch_blocks(sketch_inputs, blocks)


def test_a_retried_task_gives_the_bit_identical_summary(
    ray_cluster: None, calibration: Calibration, tmp_path: Path
) -> None:
    blocks = plan_blocks(SMALL.n_draws, SMALL.seed, SMALL.block_size)
    inputs = plan_sketch(build_inputs(SMALL, calibration), blocks, SMALL.thresholds)
    groups = [blocks[i : i + 4] for i in range(0, len(blocks), 4)]
    marker = tmp_path / "crashed"
    serial, retried = SketchMerger(inputs), SketchMerger(inputs)
    run_tasks(SerialExecutor(), sketch_blocks, inputs, groups, serial.add)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests
    try:
        run_tasks(RayExecutor(), _crash_first_attempt, (inputs, marker), groups, retried.add)
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()  # the first attempt did die
    expected, got = serial.statistics([0.05, 0.5, 0.95]), retried.statistics([0.05, 0.5, 0.95])
    for field in dataclasses.fields(expected):
        np.testing.assert_array_equal(getattr(got, field.name), getattr(expected, field.name), field.name)


def test_tasks_in_flight_are_bounded(
    ray_cluster: None, calibration: Calibration, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited_on: list[int] = []
    wait = ray.wait

    def counting_wait(refs: list[ray.ObjectRef], **kwargs: object) -> object:
        waited_on.append(len(refs))
        return wait(refs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ray, "wait", counting_wait)
    blocks = plan_blocks(SMALL.n_draws, SMALL.seed, SMALL.block_size)
    results: list[object] = []
    run_tasks(RayExecutor(max_in_flight=3), simulate_blocks, build_inputs(SMALL, calibration),
              [[block] for block in blocks], results.extend)
    assert len(results) == 12 and max(waited_on) == 3
