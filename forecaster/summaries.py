r"""Exact summaries of every draw of a forecast, all reductions by dimension name.

Monte-Carlo standard errors (MCSE) accompany every mean and probability:
:math:`s/\sqrt{M}` for a mean and :math:`\sqrt{p(1-p)/M}` for a probability,
with :math:`M` draws. Runs too large to keep every draw are summarised from
mergeable sketches instead (:mod:`~forecaster.sketch`); both are labelled by
:func:`~forecaster.outcomes.label_summary`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from forecaster.outcomes import SUMMARISED, SummaryStatistics, label_summary, summary_levels
from forecaster.request import DEFAULT_QUANTILES, DEFAULT_THRESHOLDS

#: How :func:`summarize` computes, recorded in its attributes (:mod:`~forecaster.sketch`: the other way).
METHOD_ATTRS = {
    "summary_method": "exact",
    "quantile_resolution": "exact: linear interpolation between order statistics",
}


def mean_and_mcse(values: xr.DataArray, dim: str = "draw") -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over ``dim`` and its Monte-Carlo standard error ``std / sqrt(M)``."""
    n = values.sizes[dim]
    spread = values.std(dim, ddof=1) if n > 1 else xr.zeros_like(values.isel({dim: 0}))
    return values.mean(dim), spread / np.sqrt(n)


def probability_and_mcse(event: xr.DataArray, dim: str = "draw") -> tuple[xr.DataArray, xr.DataArray]:
    """Frequency of a boolean event over ``dim`` and its error ``sqrt(p (1 - p) / M)``."""
    p = event.mean(dim)
    return p, (p * (1 - p) / event.sizes[dim]) ** 0.5


def summarize(
    ds: xr.Dataset,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> xr.Dataset:
    """Summarise every draw of a forecast.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`forecaster.run_forecast`.
    quantiles : sequence of float
        Levels in (0, 1), to which :data:`~forecaster.request.DEFAULT_QUANTILES`
        are always added (the fan chart and the headline table use them); all
        from one ``quantile`` call, so they never cross.
    thresholds : sequence of float
        For P(annual TFP growth > threshold).

    Returns
    -------
    xarray.Dataset
        Laid out by :func:`~forecaster.outcomes.label_summary`; attributes
        those of ``ds`` and :data:`METHOD_ATTRS`.
    """
    levels = summary_levels(quantiles)
    policy = ds.sel(scenario="policy", drop=True)
    scenarios = [policy]
    if "baseline" in ds.scenario.values:
        baseline = ds.sel(scenario="baseline", drop=True)
        scenarios += [baseline, policy - baseline]
    quantile, mean, mcse, channel_mean = [], [], [], []
    for data in scenarios:
        for name in SUMMARISED:
            # skipna=False: outputs are finite (tested), and the NaN-skipping path loops per cell.
            quantile.append(data[name].quantile(levels, dim="draw", skipna=False).values)
            average, error = mean_and_mcse(data[name])
            mean.append(average.values)
            mcse.append(error.values)
        channel_mean.append(data["channel_growth"].mean("draw").values)
    threshold = xr.DataArray(list(thresholds), dims="threshold")
    above, above_mcse = probability_and_mcse(policy["tfp_growth"] > threshold)
    beats = beats_mcse = None
    if len(scenarios) > 1:
        beats, beats_mcse = (p.values for p in probability_and_mcse(scenarios[2]["tfp"] > 0))
    stats = SummaryStatistics(
        quantile, mean, mcse, channel_mean, above.values, above_mcse.values, beats, beats_mcse
    )
    return label_summary(
        stats, {**ds.attrs, **METHOD_ATTRS}, levels, thresholds, ds.economy.values, ds.year.values
    )


def headline_table(summary: xr.Dataset, year: int | None = None) -> list[dict[str, object]]:
    """Rows of a compact table for one year (default: the last): one row per economy.

    Columns: TFP growth quantiles 5, 50 and 95% (which must be among the
    summary's levels), mean with MCSE, and when a baseline was simulated the
    gains against it, as log changes of the year's level: dynamic (TFP),
    static (ACR) and total (real income), with the MCSE of the total, and
    P(TFP beats baseline).
    """
    year = int(summary.year[-1]) if year is None else year
    at = summary.sel(year=year)
    rows = []
    for economy in at.economy.values:
        e = at.sel(economy=economy)
        q = e["tfp_growth_quantile"]
        row: dict[str, object] = {
            "economy": str(economy),
            "year": year,
            "tfp_growth_p5": float(q.sel(quantile=0.05)),
            "tfp_growth_p50": float(q.sel(quantile=0.5)),
            "tfp_growth_p95": float(q.sel(quantile=0.95)),
            "tfp_growth_mean": float(e["tfp_growth_mean"]),
            "tfp_growth_mcse": float(e["tfp_growth_mcse"]),
        }
        if "prob_beats_baseline" in at:
            total, static = float(e["diff_real_income_mean"]), float(e["diff_static_gain_mean"])
            row["dynamic_gain_mean"] = total - static
            row["static_gain_mean"] = static
            row["total_gain_mean"] = total
            row["total_gain_mcse"] = float(e["diff_real_income_mcse"])
            row["prob_beats_baseline"] = float(e["prob_beats_baseline"])
        rows.append(row)
    return rows
