"""Run forecasts and label their results: the one place where dims, coords and attrs are attached.

:func:`run_forecast` keeps every draw; :func:`run_summary` reduces draws inside
their tasks into a mergeable summary (``forecaster.reduction``), for runs too
large to keep; :func:`forecast` chooses between them by size.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from forecaster.calibration import Calibration, load_calibration
from forecaster.errors import CancelledError
from forecaster.kernel import Paths
from forecaster.params import CHANNELS
from forecaster.reduction import (
    MAX_GROUPS,
    METHOD_ATTRS,
    SummaryMerger,
    SummaryStatistics,
    plan_summary,
    scenario_prefixes,
    summarize_group,
)
from forecaster.simulation import (
    BlockResult,
    Executor,
    ForecastRequest,
    ProgressCallback,
    SerialExecutor,
    check_per_draw_size,
    group_blocks,
    make_job,
    per_draw_cells,
    plan_blocks,
    simulate_blocks,
)
from forecaster.summary import PROBABILITY_ATTRS, SUMMARISED, summarize, summary_levels

#: Version of the model equations; bump when results change for the same request.
MODEL_VERSION = "2.2"
#: Largest forecast, in draw x year x economy cells, whose every draw :func:`forecast` keeps:
#: 10,000 draws x 30 years x 12 economies, about 1.5 GB at peak. Larger runs are summarised
#: inside their tasks, whose memory does not grow with the number of draws.
EXACT_MAX_CELLS = 3_600_000

#: Assumption stated wherever results are shown (dataset attributes, explorer, docs/model.md).
PARTIAL_EQUILIBRIUM = (
    "Partial equilibrium: unit costs move one-for-one with TFP, so trade shares respond to trade "
    "costs only, never to knowledge; a catching-up economy does not become a bigger supplier, and a "
    "partner that shifts its sourcing towards a lower-knowledge supplier after another economy opens "
    "can learn slightly less."
)
_CELL = ("draw", "year", "economy")
#: Per-draw variables: (dims, units, long name, kind). Outcomes are what the model simulates;
#: circulation indicators are moved by the levers directly and are never part of an outcome.
VARIABLES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "tfp": (_CELL, "1", "TFP level against the economy's base year (headline)", "outcome"),
    "tfp_growth": (_CELL, "1/year", "annual log growth of TFP (headline)", "outcome"),
    "channel_growth": (
        (*_CELL, "channel"),
        "1/year",
        "TFP growth by channel (research, domestic learning, learning from abroad through goods, "
        "factors and data, residual); sums over channel to tfp_growth",
        "outcome",
    ),
    "static_gain": (_CELL, "1", "static gains from trade: log real-income change from trade shares "
                    "against the base year, -ln(pi_nn / pi_nn(0)) / theta (ACR 2012)", "outcome"),
    "real_income": (_CELL, "1", "log real income against the base year: log TFP change plus "
                    "static_gain (dynamic plus static gains)", "outcome"),
    "nqpf": (_CELL, "1", "NQPF composite of TFP and welfare-relevant TFP (base-year mean TFP of "
             "the calibration = 1)", "outcome"),
    "nqpf_growth": (_CELL, "1/year", "annual log growth of the NQPF composite", "outcome"),
    "import_share": (_CELL, "1", "circulation indicator: share of absorption bought abroad, "
                     "1 - pi_nn", "circulation"),
    "digital_openness": (_CELL, "1", "circulation indicator: 1 - Digital STRI after levers and "
                         "fragmentation (0 closed, 1 open)", "circulation"),
    "foreign_factor_share": (_CELL, "1", "circulation indicator: foreign share of factor (FDI, "
                             "talent) links, 1 - f_nn", "circulation"),
}


def _package_version() -> str:
    try:
        return importlib.metadata.version("nqpf-forecaster")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def to_dataset(
    results: Sequence[BlockResult], request: ForecastRequest, calibration: Calibration,
    economies: Sequence[str], years: np.ndarray,
) -> xr.Dataset:
    """Concatenate block results in block order and label them.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`VARIABLES` with a leading ``scenario`` dimension
        (``policy``, and ``baseline`` when compared), plus provenance attrs.
    """
    ordered = sorted(results, key=lambda result: result.index)
    scenarios: dict[str, list[Paths]] = {"policy": [r.policy for r in ordered]}
    if request.compare_to_baseline:
        scenarios["baseline"] = [r.baseline for r in ordered if r.baseline is not None]
    data_vars = {}
    for name, (dims, units, long_name, kind) in VARIABLES.items():
        stacked = np.stack(
            [np.concatenate([getattr(p, name) for p in paths]) for paths in scenarios.values()]
        )
        attrs = {"units": units, "long_name": long_name, "kind": kind}
        data_vars[name] = (("scenario", *dims), stacked, attrs)
    n_draws = data_vars["tfp"][1].shape[1]
    return xr.Dataset(
        data_vars,
        coords={
            "scenario": list(scenarios),
            "draw": np.arange(n_draws, dtype=np.int32),
            "year": years.astype(np.int32),
            "economy": list(economies),
            "channel": list(CHANNELS),
        },
        attrs=_provenance(request, calibration),
    )


def _provenance(request: ForecastRequest, calibration: Calibration) -> dict[str, object]:
    """Attributes of every dataset and summary: what was asked, with which model and data."""
    return {
        "title": f"NQPF forecast: {request.policy.name}",
        "Conventions": "CF-1.10",
        "seed": str(request.seed),
        "n_draws": request.n_draws,
        "block_size": request.block_size,
        "shock_scale": request.shock_scale,
        "parameter_scale": request.parameter_scale,
        "model_version": MODEL_VERSION,
        "assumption_partial_equilibrium": PARTIAL_EQUILIBRIUM,
        "package_version": _package_version(),
        "numpy_version": np.__version__,
        "calibration": f"{calibration.name} {calibration.version}",
        "calibration_sha256": calibration.digest,
        "policy": request.policy.to_json(),
        "request": request.to_json(),
    }


def label_summary(
    stats: SummaryStatistics, request: ForecastRequest, calibration: Calibration,
    economies: Sequence[str], years: np.ndarray,
) -> xr.Dataset:
    """Label the statistics of a summarised run as :func:`~forecaster.summarize` labels its own.

    Returns
    -------
    xarray.Dataset
        The same variables, in the same order, with the same dims, coords and
        variable attrs as ``summarize(run_forecast(request), request.quantiles,
        request.thresholds)``; attributes of provenance and
        :data:`forecaster.reduction.METHOD_ATTRS`.
    """
    prefixes = scenario_prefixes(stats.prob_beats is not None)
    coords = {
        "quantile": summary_levels(request.quantiles),
        "year": years.astype(np.int32),
        "economy": list(economies),
        "channel": list(CHANNELS),
        "threshold": list(request.thresholds),
    }
    cell = ("year", "economy")
    out: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {}
    for s, prefix in enumerate(prefixes):
        for i, name in enumerate(SUMMARISED):
            v = s * len(SUMMARISED) + i
            attrs = _labels(name)
            out[f"{prefix}{name}_quantile"] = (("quantile", *cell), stats.quantile[v], attrs)
            out[f"{prefix}{name}_mean"] = (cell, stats.mean[v], attrs)
            out[f"{prefix}{name}_mcse"] = (cell, stats.mcse[v], attrs)
        channels = ((*cell, "channel"), stats.channel_mean[s], _labels("channel_growth"))
        out[f"{prefix}channel_growth_mean"] = channels
        if not prefix:
            above = PROBABILITY_ATTRS["tfp_growth_prob_above"]
            out["tfp_growth_prob_above"] = ((*cell, "threshold"), stats.prob_above, above)
            out["tfp_growth_prob_above_mcse"] = ((*cell, "threshold"), stats.prob_above_mcse, above)
    if stats.prob_beats is not None and stats.prob_beats_mcse is not None:
        beats = PROBABILITY_ATTRS["prob_beats_baseline"]
        out["prob_beats_baseline"] = (cell, stats.prob_beats, beats)
        out["prob_beats_baseline_mcse"] = (cell, stats.prob_beats_mcse, beats)
    return xr.Dataset(out, coords=coords, attrs={**_provenance(request, calibration), **METHOD_ATTRS})


def _labels(name: str) -> dict[str, str]:
    """Units and long name of a dataset variable (a summary of it carries the same)."""
    _, units, long_name, kind = VARIABLES[name]
    return {"units": units, "long_name": long_name, "kind": kind}


def run_forecast(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Run a forecast and return its labelled per-draw dataset.

    Parameters
    ----------
    request : ForecastRequest
    calibration : Calibration, optional
        Default: the shipped dataset.
    executor : Executor, optional
        Default: :class:`~forecaster.simulation.SerialExecutor`.
    on_progress : callable(done, total), optional
        Called with blocks done and in all.
    should_cancel : callable() -> bool, optional
        Polled between tasks; when it returns True the run raises
        :class:`~forecaster.errors.CancelledError`.

    Returns
    -------
    xarray.Dataset
        Bit-identical for the same request, calibration and numpy build,
        whatever the executor.

    Raises
    ------
    RequestError
        Before any work, if every draw would not fit in memory
        (:data:`~forecaster.simulation.MAX_CELLS`); :func:`forecast` runs such
        requests with :func:`run_summary`.
    """
    calibration = calibration or load_calibration()
    check_per_draw_size(request, calibration)
    job = make_job(request, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    results: list[BlockResult] = []
    (executor or SerialExecutor()).map_groups(
        simulate_blocks, job, group_blocks(blocks, job.cells_per_draw), results.extend,
        on_progress, should_cancel,
    )
    return to_dataset(results, request, calibration, job.policy.economies, job.policy.years)


def run_summary(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Run a forecast reducing draws inside its tasks, and return its summary.

    Memory does not grow with the number of draws: each task sends back a
    mergeable summary of its blocks (``forecaster.reduction``) and the
    summaries are merged as they arrive. Parameters are those of
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
    job = make_job(request, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    if should_cancel is not None and should_cancel():
        raise CancelledError(f"cancelled before the first of {len(blocks)} blocks")
    summary_job = plan_summary(job, blocks, request.thresholds)
    merger = SummaryMerger(summary_job)
    (executor or SerialExecutor()).map_groups(
        summarize_group, summary_job, group_blocks(blocks, job.cells_per_draw, MAX_GROUPS), merger.add,
        on_progress, should_cancel,
    )
    stats = merger.statistics(summary_levels(request.quantiles))
    return label_summary(stats, request, calibration, job.policy.economies, job.policy.years)


@dataclass(frozen=True, eq=False)
class Forecast:
    """The outcome of :func:`forecast`.

    Attributes
    ----------
    summary : xarray.Dataset
        As from :func:`~forecaster.summary.summarize`, at the request's
        quantiles and thresholds; its ``summary_method`` attribute says how it
        was computed (``"exact"`` or ``"histogram"``).
    draws : xarray.Dataset or None
        Every draw, as from :func:`run_forecast`; None for runs above
        :data:`EXACT_MAX_CELLS`, which are summarised inside their tasks.
    """

    summary: xr.Dataset
    draws: xr.Dataset | None


def forecast(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Forecast:
    """Run a forecast and summarise it at the request's quantiles and thresholds.

    Runs of at most :data:`EXACT_MAX_CELLS` draw x year x economy cells keep
    every draw (:func:`run_forecast`, then :func:`~forecaster.summarize`);
    larger ones, up to :data:`~forecaster.simulation.MAX_DRAWS` draws, are
    reduced inside their tasks (:func:`run_summary`). Parameters are those of
    :func:`run_forecast`.
    """
    calibration = calibration or load_calibration()
    if per_draw_cells(request, calibration) > EXACT_MAX_CELLS:
        return Forecast(run_summary(request, calibration, executor, on_progress, should_cancel), None)
    draws = run_forecast(request, calibration, executor, on_progress, should_cancel)
    return Forecast(summarize(draws, request.quantiles, request.thresholds), draws)
