r"""A backtest of the fan charts: forecasts made at past origins, scored against what happened.

At each origin year the model is calibrated with the data up to that year only
(:func:`~forecaster.calibration.calibration_as_of`), baseline TFP growth is forecast for the
following ``horizon_years`` years, and each year's forecast distribution is scored against
realized Penn World Table TFP growth (the log change of ``rtfpna``, aggregated as in the
calibration):

- the fair CRPS of the ensemble (lower is better) and the same for naive benchmarks made
  from the same data (a random walk with drift: normal with the trailing mean and standard
  deviation; and climatology: the economy's own past annual growth rates);
- the randomised PIT, uniform for a calibrated forecast;
- whether the realized value lies in the central 50 % and 90 % intervals.

Growth in different years of one forecast, and in different economies of one year, is
correlated, so coverage rates pooled over them have wider uncertainty than a binomial
standard error says (see :func:`~forecaster.scoring.coverage_table`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from forecaster.calibration import PWT_LAST_YEAR, TREND_WINDOW_YEARS, calibration_as_of
from forecaster.engine import Executor, ProgressCallback, run_forecast
from forecaster.errors import RequestError
from forecaster.history import economy_history, load_pwt
from forecaster.outcomes import MODEL_VERSION
from forecaster.policy import PRESETS
from forecaster.request import DEFAULT_BLOCK_SIZE, ForecastRequest
from forecaster.scoring import (
    climatology,
    crps_ensemble,
    crps_normal,
    interval_hit,
    pit,
    random_walk_drift,
    skill,
)

#: Origins of the reported backtest (docs/validation.md). No model choice was tuned on them.
DEFAULT_ORIGINS: tuple[int, ...] = (1990, 1995, 2000, 2005)
#: Origins on which any tuning of the model to the backtest is done, kept apart from the reported
#: ones (the Penn World Table data of the 12 economies reach back far enough for them).
TUNING_ORIGINS: tuple[int, ...] = (1975, 1980, 1985)
#: Earliest origin: a trend needs years of TFP growth before it.
FIRST_ORIGIN = 1965
#: Most draws of one origin's forecast.
MAX_BACKTEST_DRAWS = 20_000
#: Central intervals whose coverage is scored.
LEVELS: tuple[float, ...] = (0.5, 0.9)
BENCHMARKS: tuple[str, ...] = ("random_walk", "climatology")


@dataclass(frozen=True)
class BacktestRequest:
    """What to backtest: forecasts of baseline TFP growth from each origin.

    Parameters
    ----------
    origins : tuple of int
        Years whose data the forecasts use, the last one included.
    horizon_years : int
        Years forecast after each origin; ``origin + horizon_years`` must be a year
        of realized data (at most :data:`~forecaster.calibration.PWT_LAST_YEAR`).
    n_draws, seed, block_size : int
        As in :class:`~forecaster.ForecastRequest`; every origin uses the same
        seed, and the PIT's randomisation a stream of its own from the same seed.
    """

    origins: tuple[int, ...] = DEFAULT_ORIGINS
    horizon_years: int = 10
    n_draws: int = 2000
    seed: int = 0
    block_size: int = DEFAULT_BLOCK_SIZE

    def __post_init__(self) -> None:
        last = PWT_LAST_YEAR - 1
        checks = [
            ("origins", 1 <= len(self.origins) <= 20 and len(set(self.origins)) == len(self.origins)
             and all(FIRST_ORIGIN <= origin <= last for origin in self.origins),
             f"must be 1 to 20 distinct years in [{FIRST_ORIGIN}, {last}]"),
            ("horizon_years", 1 <= self.horizon_years <= PWT_LAST_YEAR - max(self.origins, default=last),
             f"must be in [1, {PWT_LAST_YEAR} - the latest origin]: realized data end in {PWT_LAST_YEAR}"),
            ("n_draws", 2 <= self.n_draws <= MAX_BACKTEST_DRAWS, f"must be in [2, {MAX_BACKTEST_DRAWS}]"),
        ]
        for name, ok, message in checks:
            if not ok:
                value = getattr(self, name)
                raise RequestError(name, f"{message}, got {list(value) if name == 'origins' else value!r}")

    def forecast_request(self) -> ForecastRequest:
        """Return the request forecast at every origin: the baseline, without a comparison scenario."""
        return ForecastRequest(
            policy=PRESETS["baseline"], horizon_years=self.horizon_years, n_draws=self.n_draws,
            seed=self.seed, compare_to_baseline=False, block_size=self.block_size,
        )


def run_backtest(
    request: BacktestRequest,
    executor: Executor | None = None,
    pwt: xr.Dataset | None = None,
    on_progress: ProgressCallback | None = None,
) -> xr.Dataset:
    """Forecast baseline TFP growth from each origin and score it against what happened.

    Parameters
    ----------
    request : BacktestRequest
    executor : Executor, optional
        Where the forecasts' blocks run (default serial); results are the same on any.
    pwt : xarray.Dataset, optional
        Penn World Table data by (country, year); default the shipped extract.
    on_progress : callable(done, total), optional
        Called with origins done and in all.

    Returns
    -------
    xarray.Dataset
        Dimensions ``origin``, ``economy``, ``lead`` (years ahead, 1 to the horizon;
        coordinate ``year`` = origin + lead) and ``benchmark``:

        - ``realized``: PWT TFP growth;
        - ``crps``, ``pit``, ``in_50``, ``in_90``: the model's scores (NaN where
          the economy had no calibration at the origin or nothing was realized);
        - ``p05``, ``p50``, ``p95``: the model's forecast quantiles;
        - ``benchmark_crps`` (benchmark, origin, economy, lead).

        Attributes: the request, model version, calibration windows.
    """
    pwt = load_pwt() if pwt is None else pwt
    history = economy_history(pwt)
    growth = history.tfp_growth
    forecasts, quantiles = [], []
    for done, origin in enumerate(request.origins):
        calibration = calibration_as_of(origin, pwt=pwt)
        draws = run_forecast(request.forecast_request(), calibration, executor).tfp_growth
        forecasts.append(by_lead(draws.sel(scenario="policy", drop=True), origin))
        quantiles.append(forecasts[-1].quantile([0.05, 0.5, 0.95], dim="draw"))
        if on_progress is not None:
            on_progress(done + 1, len(request.origins))
    origins = xr.DataArray(list(request.origins), dims="origin", coords={"origin": list(request.origins)})
    # Economies without data at an origin (RUS before 1999) are NaN there.
    economies = [code for code in history.economy.values if any(code in f.economy for f in forecasts)]
    forecast = xr.concat(forecasts, dim=origins, join="outer").reindex(economy=economies)
    quantile = xr.concat(quantiles, dim=origins, join="outer").reindex(economy=economies)
    lead = np.arange(1, request.horizon_years + 1)
    years = origins + xr.DataArray(lead, dims="lead", coords={"lead": lead})
    realized = growth.sel(economy=forecast.economy).sel(year=years).drop_vars("year")
    scores = xr.Dataset({"realized": realized})
    scores["crps"] = crps_ensemble(forecast, realized)
    scores["pit"] = pit(forecast, realized, np.random.default_rng([request.seed, 1]))
    for level in LEVELS:
        scores[f"in_{round(100 * level)}"] = interval_hit(forecast, realized, level)
    for name, q in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):
        scores[name] = quantile.sel(quantile=q, drop=True)
    available = forecast.notnull().any("draw")  # benchmarks only where the model forecast too
    scores["benchmark_crps"] = xr.concat(
        [_benchmark_crps(kind, growth, request, realized).where(available) for kind in BENCHMARKS],
        dim=xr.DataArray(list(BENCHMARKS), dims="benchmark"),
    ).assign_coords(benchmark=list(BENCHMARKS))
    scores = scores.assign_coords(year=years)
    scores.attrs = {
        "title": "Backtest of baseline TFP growth fan charts against Penn World Table 9.1",
        "model_version": MODEL_VERSION,
        "n_draws": request.n_draws,
        "seed": str(request.seed),
        "block_size": request.block_size,
        "origins": ",".join(map(str, request.origins)),
        "horizon_years": request.horizon_years,
        "random_walk_window_years": TREND_WINDOW_YEARS,
    }
    return scores


def by_lead(draws: xr.DataArray, origin: int) -> xr.DataArray:
    """Index data by year (a forecast, a benchmark) by years ahead of its origin instead."""
    leads = draws.assign_coords(lead=("year", draws.year.values - origin))
    return leads.swap_dims(year="lead").drop_vars("year")


def _benchmark_crps(
    kind: str, growth: xr.DataArray, request: BacktestRequest, realized: xr.DataArray
) -> xr.DataArray:
    """CRPS of a naive benchmark made from the data up to each origin, (origin, economy, lead)."""
    per_origin = []
    for origin in request.origins:
        observed = realized.sel(origin=origin, drop=True)
        if kind == "random_walk":
            mean, sd = random_walk_drift(growth, origin, request.horizon_years, TREND_WINDOW_YEARS)
            score = crps_normal(by_lead(mean, origin), by_lead(sd, origin), observed)
        else:
            members = climatology(growth, origin, request.horizon_years)
            score = crps_ensemble(by_lead(members, origin), observed)
        per_origin.append(score)
    return xr.concat(per_origin, dim="origin", join="outer").assign_coords(origin=list(request.origins))


def track_record(scores: xr.Dataset) -> dict[str, float]:
    """Summarise a backtest: pooled coverage, mean CRPS, and skill against each benchmark.

    Pooled over every origin, economy and lead with a score. Hits of one forecast path and of
    overlapping origins are correlated, so a binomial error would understate the uncertainty of
    the coverage rates; ``docs/validation.md`` gives them by lead and by economy as well.
    """
    scored = scores.crps.notnull()
    record = {f"coverage_{name[3:]}": float(scores[name].where(scored).mean()) for name in ("in_50", "in_90")}
    record["crps"] = float(scores.crps.mean())
    for kind in BENCHMARKS:
        benchmark = scores.benchmark_crps.sel(benchmark=kind, drop=True)
        record[f"crps_{kind}"] = float(benchmark.where(scored).mean())
        record[f"skill_vs_{kind}"] = float(skill(scores.crps, benchmark))
    record["cells"] = int(scored.sum())
    return record
