r"""Summaries of a forecast dataset, all reductions by dimension name.

Monte-Carlo standard errors (MCSE) accompany every mean and probability:
:math:`s/\sqrt{M}` for a mean and :math:`\sqrt{p(1-p)/M}` for a probability,
with :math:`M` draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.15, 0.25, 0.5, 0.75, 0.85, 0.95)
#: Default thresholds for P(annual TFP growth > threshold).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.005, 0.01, 0.02)
#: Variables summarised by quantiles, means and MCSEs; TFP, the headline, first. The dynamic
#: gain in log terms is ``real_income - static_gain``.
SUMMARISED = ("tfp", "tfp_growth", "static_gain", "real_income", "nqpf_growth")
#: Labels of the probabilities and their MCSEs (a reduction would carry those of the counted variable).
PROBABILITY_ATTRS = {
    "tfp_growth_prob_above": {"units": "1", "long_name": "P(annual TFP growth > threshold)"},
    "prob_beats_baseline": {"units": "1", "long_name": "P(TFP above the baseline on the same draws)"},
}
#: How :func:`summarize` computes, recorded in its attributes (``forecaster.reduction``: the other way).
METHOD_ATTRS = {
    "summary_method": "exact",
    "quantile_resolution": "exact: linear interpolation between order statistics",
}


def summary_levels(quantiles: Sequence[float]) -> list[float]:
    """Sorted quantile levels of a summary: ``quantiles`` and :data:`DEFAULT_QUANTILES`."""
    return sorted({float(q) for q in quantiles} | set(DEFAULT_QUANTILES))


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
    """Summarise a forecast dataset.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`forecaster.run_forecast`.
    quantiles : sequence of float
        Levels in (0, 1), to which :data:`DEFAULT_QUANTILES` are always added
        (the fan chart and the headline table use them); all from one
        ``quantile`` call, so they never cross.
    thresholds : sequence of float
        For P(annual TFP growth > threshold).

    Returns
    -------
    xarray.Dataset
        ``{v}_quantile`` (quantile, year, economy), ``{v}_mean`` and
        ``{v}_mcse`` for v in :data:`SUMMARISED`;
        ``tfp_growth_prob_above`` and its ``_mcse`` (year, economy, threshold);
        ``channel_growth_mean`` (year, economy, channel). When a baseline was
        simulated: the same for the baseline (``baseline_`` prefix), for the
        per-draw difference policy - baseline (``diff_`` prefix), and
        ``prob_beats_baseline`` (TFP level higher than in the baseline on the
        same shocks) with its ``_mcse``. Attributes: those of ``ds`` and
        :data:`METHOD_ATTRS`.
    """
    levels = summary_levels(quantiles)
    policy = ds.sel(scenario="policy", drop=True)
    out: dict[str, xr.DataArray] = {}

    def describe(prefix: str, data: xr.Dataset) -> None:
        for name in SUMMARISED:
            # skipna=False: outputs are finite (tested), and the NaN-skipping path loops per cell.
            out[f"{prefix}{name}_quantile"] = data[name].quantile(levels, dim="draw", skipna=False)
            out[f"{prefix}{name}_mean"], out[f"{prefix}{name}_mcse"] = mean_and_mcse(data[name])
        out[f"{prefix}channel_growth_mean"] = data["channel_growth"].mean("draw")

    describe("", policy)
    threshold = xr.DataArray(list(thresholds), dims="threshold", coords={"threshold": list(thresholds)})
    out["tfp_growth_prob_above"], out["tfp_growth_prob_above_mcse"] = probability_and_mcse(
        policy["tfp_growth"] > threshold
    )
    if "baseline" in ds.scenario.values:
        baseline = ds.sel(scenario="baseline", drop=True)
        describe("baseline_", baseline)
        difference = policy - baseline
        describe("diff_", difference)
        out["prob_beats_baseline"], out["prob_beats_baseline_mcse"] = probability_and_mcse(
            difference["tfp"] > 0
        )
    for name, attrs in PROBABILITY_ATTRS.items():
        for key in (name, f"{name}_mcse"):
            if key in out:
                out[key].attrs = dict(attrs)
    summary = xr.Dataset(out)
    summary.attrs = {**ds.attrs, **METHOD_ATTRS}
    return summary


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
