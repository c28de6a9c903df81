"""Label simulated paths: the one place where dims, coords and attrs are attached."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from forecaster.calibration import Calibration, load_calibration
from forecaster.kernel import Paths
from forecaster.params import CHANNELS
from forecaster.simulation import (
    BlockResult,
    Executor,
    ForecastRequest,
    ProgressCallback,
    SerialExecutor,
    make_job,
    plan_blocks,
)
from forecaster.summary import summarize

#: Version of the model equations; bump when results change for the same request.
MODEL_VERSION = "1.0"

VARIABLES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "nqpf": (("draw", "year", "economy"), "1", "NQPF composite index (base-year mean of components = 1)"),
    "nqpf_growth": (("draw", "year", "economy"), "1/year", "annual log growth of the NQPF index"),
    "tfp_growth": (("draw", "year", "economy"), "1/year", "annual log growth of TFP"),
    "import_share": (("draw", "year", "economy"), "1", "share of absorption bought abroad"),
    "channel_growth": (
        ("draw", "year", "economy", "channel"),
        "1/year",
        "TFP growth by channel; sums over channel to tfp_growth",
    ),
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
    for name, (dims, units, long_name) in VARIABLES.items():
        stacked = np.stack(
            [np.concatenate([getattr(p, name) for p in paths]) for paths in scenarios.values()]
        )
        data_vars[name] = (("scenario", *dims), stacked, {"units": units, "long_name": long_name})
    n_draws = data_vars["nqpf"][1].shape[1]
    return xr.Dataset(
        data_vars,
        coords={
            "scenario": list(scenarios),
            "draw": np.arange(n_draws, dtype=np.int32),
            "year": years.astype(np.int32),
            "economy": list(economies),
            "channel": list(CHANNELS),
        },
        attrs={
            "title": f"NQPF forecast: {request.policy.name}",
            "Conventions": "CF-1.10",
            "seed": str(request.seed),
            "n_draws": request.n_draws,
            "block_size": request.block_size,
            "shock_scale": request.shock_scale,
            "model_version": MODEL_VERSION,
            "package_version": _package_version(),
            "numpy_version": np.__version__,
            "calibration": f"{calibration.name} {calibration.version}",
            "calibration_sha256": calibration.digest,
            "policy": request.policy.to_json(),
            "request": request.to_json(),
        },
    )


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
    should_cancel : callable() -> bool, optional
        Polled between blocks; when it returns True the run raises
        :class:`~forecaster.errors.CancelledError`.

    Returns
    -------
    xarray.Dataset
        Bit-identical for the same request, calibration and numpy build,
        whatever the executor.
    """
    calibration = calibration or load_calibration()
    job = make_job(request, calibration)
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    results = (executor or SerialExecutor()).map_blocks(job, blocks, on_progress, should_cancel)
    return to_dataset(results, request, calibration, job.policy.economies, job.policy.years)


@dataclass(frozen=True, eq=False)
class Forecast:
    """The outcome of :func:`forecast`.

    Attributes
    ----------
    summary : xarray.Dataset
        As from :func:`~forecaster.summary.summarize`, at the request's
        quantiles and thresholds.
    draws : xarray.Dataset
        Every draw, as from :func:`run_forecast`.
    """

    summary: xr.Dataset
    draws: xr.Dataset


def forecast(
    request: ForecastRequest,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> Forecast:
    """Run a forecast and summarise it at the request's quantiles and thresholds.

    Parameters are those of :func:`run_forecast`.
    """
    draws = run_forecast(request, calibration, executor, on_progress, should_cancel)
    return Forecast(summarize(draws, request.quantiles, request.thresholds), draws)
