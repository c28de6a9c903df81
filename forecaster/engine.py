"""The engine: executors, and the entry points that run a forecast's tasks through them.

:func:`run_forecast` keeps every draw; :func:`run_summary` sketches draws
inside their tasks (:mod:`~forecaster.sketch`), for runs too large to keep;
:func:`forecast` chooses between them by size. An executor only decides where
tasks run and yields their results as they finish (serial here, Ray in
``cluster``); progress, cancellation and merging live in :func:`run_tasks`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import xarray as xr

from forecaster.calibration import Calibration, load_calibration
from forecaster.errors import CancelledError
from forecaster.outcomes import DRAWN, label_draws, label_mixes, label_summary, provenance, summary_levels
from forecaster.plan import (
    MIN_TASK_CELLS,
    MIX_OUTCOMES,
    Block,
    BlockResult,
    MixBlockResult,
    build_inputs,
    build_mix_inputs,
    group_blocks,
    plan_blocks,
    simulate_blocks,
    simulate_mix_blocks,
)
from forecaster.policy import PolicyMix
from forecaster.request import ForecastRequest, check_per_draw_size, per_draw_cells
from forecaster.sketch import MAX_GROUPS, METHOD_ATTRS, SketchMerger, plan_sketch, sketch_blocks
from forecaster.summaries import summarize

#: Largest forecast, in draw x year x economy cells, whose every draw :func:`forecast` keeps:
#: 10,000 draws x 30 years x 12 economies, about 1.5 GB at peak. Larger runs are summarised
#: inside their tasks, whose memory does not grow with the number of draws.
EXACT_MAX_CELLS = 3_600_000

Inputs = TypeVar("Inputs")
Result = TypeVar("Result")
ProgressCallback = Callable[[int, int], None]
#: What an executor yields: ``(blocks in the finished group, its result)``, or None while it waits.
Finished = tuple[int, Result] | None


class Executor(Protocol):
    """Runs a pure task over groups of blocks and yields each result as it finishes."""

    def run(
        self, task: Callable[[Inputs, Sequence[Block]], Result], inputs: Inputs,
        groups: Sequence[Sequence[Block]],
    ) -> Generator[Finished[Result], None, None]:
        """Yield ``(len(group), task(inputs, group))`` once for every group, in any order.

        ``task`` is a module-level function (so it can run in another process)
        and pure: running it twice on the same group gives the same result, so
        a task may be retried. An executor that waits for remote tasks yields
        None at least every second while none finishes, so that its caller can
        stop; closing the generator stops the tasks still running.
        """
        ...


class SerialExecutor:
    """Runs groups one after another in this process."""

    def run(
        self, task: Callable[[Inputs, Sequence[Block]], Result], inputs: Inputs,
        groups: Sequence[Sequence[Block]],
    ) -> Generator[Finished[Result], None, None]:
        """Run every group in order; see :class:`Executor`."""
        for group in groups:
            yield len(group), task(inputs, group)


def run_tasks(
    executor: Executor,
    task: Callable[[Inputs, Sequence[Block]], Result],
    inputs: Inputs,
    groups: Sequence[Sequence[Block]],
    merge: Callable[[Result], None],
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> None:
    """Run ``task`` over ``groups`` on ``executor``, merging each result as it arrives.

    ``merge`` runs in this process, one result at a time, so results need not
    all be held at once. ``on_progress(done, total)`` counts blocks after each
    merge; ``should_cancel`` is polled before the first task and after every
    result (or wait), and when it returns True the tasks still running are
    stopped and :class:`~forecaster.errors.CancelledError` is raised.
    """
    total = sum(len(group) for group in groups)
    done = 0

    def check() -> None:
        if should_cancel is not None and should_cancel():
            raise CancelledError(f"cancelled after {done} of {total} blocks")

    check()
    with closing(executor.run(task, inputs, groups)) as finished:
        for item in finished:
            if item is not None:
                n_blocks, result = item
                merge(result)
                done += n_blocks
                if on_progress is not None:
                    on_progress(done, total)
            check()


def run_forecast(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    *,
    min_task_cells: int = MIN_TASK_CELLS,
) -> xr.Dataset:
    """Run a forecast and return its labelled per-draw dataset.

    Parameters
    ----------
    request : ForecastRequest
    calibration : Calibration, optional
        Default: the shipped dataset.
    executor : Executor, optional
        Default: :class:`SerialExecutor`.
    on_progress : callable(done, total), optional
        Called with blocks done and in all.
    should_cancel : callable() -> bool, optional
        Polled between tasks; when it returns True the run raises
        :class:`~forecaster.errors.CancelledError`.
    min_task_cells : int, optional
        Smallest work per task (:func:`~forecaster.plan.group_blocks`); never
        changes results.

    Returns
    -------
    xarray.Dataset
        Laid out by :func:`~forecaster.outcomes.label_draws`. Bit-identical for
        the same request, calibration and numpy build, whatever the executor.

    Raises
    ------
    RequestError
        Before any work, if every draw would not fit in memory
        (:data:`~forecaster.request.MAX_CELLS`); :func:`forecast` runs such
        requests with :func:`run_summary`.
    """
    calibration = calibration or load_calibration()
    check_per_draw_size(request, calibration)
    inputs = build_inputs(request, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    groups = group_blocks(blocks, inputs.cells_per_draw, min_task_cells=min_task_cells)
    results: list[BlockResult] = []
    run_tasks(executor or SerialExecutor(), simulate_blocks, inputs, groups, results.extend,
              on_progress, should_cancel)
    ordered = sorted(results, key=lambda result: result.index)
    scenarios = {"policy": [result.policy for result in ordered]}
    if inputs.baseline is not None:
        scenarios["baseline"] = [result.baseline for result in ordered if result.baseline is not None]
    drawn = {name: np.concatenate([result.drawn[name] for result in ordered]) for name in DRAWN}
    attrs = provenance(request, calibration)
    return label_draws(scenarios, drawn, attrs, inputs.policy.economies, inputs.policy.years)


def run_summary(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    *,
    min_task_cells: int = MIN_TASK_CELLS,
) -> xr.Dataset:
    """Run a forecast sketching draws inside its tasks, and return its summary.

    Memory does not grow with the number of draws: each task sends back a
    mergeable sketch of its blocks (:mod:`~forecaster.sketch`) and the
    sketches are merged as they arrive. Parameters are those of
    :func:`run_forecast`.

    Returns
    -------
    xarray.Dataset
        Laid out as :func:`~forecaster.summarize`'s, with
        ``summary_method = "histogram"``: quantiles within one bin of the exact
        ones (see ``quantile_resolution``), probabilities exact, means and
        MCSEs exact up to float rounding. Bit-identical for the same request,
        calibration and numpy build, whatever the executor.
    """
    calibration = calibration or load_calibration()
    inputs = build_inputs(request, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    if should_cancel is not None and should_cancel():
        raise CancelledError(f"cancelled before the first of {len(blocks)} blocks")
    sketch_inputs = plan_sketch(inputs, blocks, request.thresholds)
    merger = SketchMerger(sketch_inputs)
    groups = group_blocks(blocks, inputs.cells_per_draw, MAX_GROUPS, min_task_cells)
    run_tasks(executor or SerialExecutor(), sketch_blocks, sketch_inputs, groups, merger.add,
              on_progress, should_cancel)
    levels = summary_levels(request.quantiles)
    return label_summary(
        merger.statistics(levels), {**provenance(request, calibration), **METHOD_ATTRS}, levels,
        request.thresholds, inputs.policy.economies, inputs.policy.years,
    )


@dataclass(frozen=True, eq=False)
class Forecast:
    """The outcome of :func:`forecast`.

    Attributes
    ----------
    summary : xarray.Dataset
        As from :func:`~forecaster.summarize`, at the request's quantiles and
        thresholds; its ``summary_method`` attribute says how it was computed
        (``"exact"`` or ``"histogram"``).
    draws : xarray.Dataset or None
        Every draw, as from :func:`run_forecast`; None for runs above
        ``exact_max_cells``, which are summarised inside their tasks.
    """

    summary: xr.Dataset
    draws: xr.Dataset | None


def forecast(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
    *,
    exact_max_cells: int = EXACT_MAX_CELLS,
) -> Forecast:
    """Run a forecast and summarise it at the request's quantiles and thresholds.

    Runs of at most ``exact_max_cells`` draw x year x economy cells keep every
    draw (:func:`run_forecast`, then :func:`~forecaster.summarize`); larger
    ones, up to :data:`~forecaster.request.MAX_DRAWS` draws, are sketched
    inside their tasks (:func:`run_summary`). Other parameters are those of
    :func:`run_forecast`.
    """
    calibration = calibration or load_calibration()
    if per_draw_cells(request, calibration) > exact_max_cells:
        return Forecast(run_summary(request, calibration, executor, on_progress, should_cancel), None)
    draws = run_forecast(request, calibration, executor, on_progress, should_cancel)
    return Forecast(summarize(draws, request.quantiles, request.thresholds), draws)


def run_mixes(
    request: ForecastRequest,
    mixes: Sequence[PolicyMix],
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Run several policy mixes on the same draws and return their outcomes, every draw kept.

    Every mix is simulated on the shocks of the request's seed (common random
    numbers), with the request's economies, horizon, draws and scales; the
    request's own policy is not used. Mixes are told apart by their names.
    Other parameters are those of :func:`run_forecast`.

    Returns
    -------
    xarray.Dataset
        Laid out by :func:`~forecaster.outcomes.label_mixes`. Bit-identical for
        the same inputs, whatever the executor.

    Raises
    ------
    RequestError
        Before any work, if the draws of every mix would not fit in memory
        (:data:`~forecaster.request.MAX_CELLS` cells in all).
    """
    calibration = calibration or load_calibration()
    check_per_draw_size(request, calibration, len(mixes))
    inputs = build_mix_inputs(request, mixes, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    results: list[MixBlockResult] = []
    run_tasks(executor or SerialExecutor(), simulate_mix_blocks, inputs,
              group_blocks(blocks, inputs.cells_per_draw), results.extend, on_progress, should_cancel)
    ordered = sorted(results, key=lambda result: result.index)
    values = {name: np.concatenate([r.values[name] for r in ordered], axis=1) for name in MIX_OUTCOMES}
    first = inputs.mixes[0]
    return label_mixes(values, [mix.name for mix in mixes], provenance(request, calibration),
                       first.economies, first.years)
