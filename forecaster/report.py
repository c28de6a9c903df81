"""Files for people: netCDF of the draws, CSV of the summaries, a fan chart, and a backtest's files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

# Figures drawn straight to files on a Figure of their own: no pyplot, so importing this module
# never switches a user's plotting backend.
from matplotlib.figure import Figure

#: Nested central bands of the fan chart (lower, upper quantile), outermost first.
FAN_BANDS: tuple[tuple[float, float], ...] = ((0.05, 0.95), (0.15, 0.85), (0.25, 0.75))


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a dataset of draws or a summary to netCDF.

    Variables with a ``draw`` dimension are stored in single precision, which
    halves the file and is as precise as the kernel's float32 bilateral
    arithmetic (about 1e-7 relative); a summary's statistics stay in double
    precision, as in memory.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = {name: {"dtype": "float32"} for name, values in ds.data_vars.items() if "draw" in values.dims}
    ds.to_netcdf(path, engine="scipy", encoding=encoding)
    return path


def summary_frame(summary: xr.Dataset) -> pd.DataFrame:
    """Long table of a summary: one row per variable and coordinate combination.

    Rows are ordered by variable name, then by the variable's coordinates, so
    the table does not depend on the order a file kept the variables in
    (netCDF 3 files written by scipy reorder them by shape).
    """
    frames = []
    for name in sorted(map(str, summary.data_vars)):
        frame = summary[name].to_dataframe(name="value").reset_index()
        frame.insert(0, "variable", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_summary_csv(summary: xr.Dataset, path: str | Path) -> Path:
    """Write :func:`summary_frame` as CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    summary_frame(summary).to_csv(path, index=False)
    return path


def fan_chart(summary: xr.Dataset, economy: str, path: str | Path, variable: str = "tfp") -> Path:
    """Draw a fan chart of ``variable`` for one economy from a summary, with the baseline overlaid.

    Shaded bands are the 90%, 70% and 50% central intervals of the policy
    scenario; the baseline's median is dashed and its 90% band dotted.

    Parameters
    ----------
    summary : xarray.Dataset
        From :func:`forecaster.summarize` (its quantile levels include :data:`FAN_BANDS`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    policy = summary[f"{variable}_quantile"].sel(economy=economy)
    years = summary.year.values
    fig = Figure(figsize=(8, 4.5), dpi=110)
    ax = fig.subplots()
    for alpha, (low, high) in zip((0.2, 0.3, 0.45), FAN_BANDS, strict=True):
        ax.fill_between(years, policy.sel(quantile=low), policy.sel(quantile=high),
                        color="tab:blue", alpha=alpha, linewidth=0,
                        label=f"policy {round((high - low) * 100)}% band")
    ax.plot(years, policy.sel(quantile=0.5), color="tab:blue", label="policy median")
    if f"baseline_{variable}_quantile" in summary:
        base = summary[f"baseline_{variable}_quantile"].sel(economy=economy)
        ax.plot(years, base.sel(quantile=0.5), color="black", linestyle="--", label="baseline median")
        for level in (0.05, 0.95):
            ax.plot(years, base.sel(quantile=level), color="black", linestyle=":", linewidth=0.8)
    attrs = summary[f"{variable}_mean"].attrs
    ax.set_title(f"{attrs.get('long_name', variable)}: {economy} ({summary.attrs.get('title', '')})",
                 fontsize=10)
    ax.set_xlabel("year")
    ax.set_ylabel(f"{variable} [{attrs.get('units', '')}]")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def attribution_chart(attributed: xr.Dataset, economy: str, path: str | Path, variable: str = "tfp") -> Path:
    """Draw each lever's contribution to ``variable`` in the horizon's last year for one economy.

    Bars are the Shapley contributions with two Monte-Carlo standard errors as
    whiskers; the total effect against the baseline and the interaction are
    the last two bars.

    Parameters
    ----------
    attributed : xarray.Dataset
        From :func:`forecaster.attribute`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    last = attributed.sel(economy=economy).isel(year=-1)
    labels = [str(lever) for lever in last.lever.values] + ["interaction", "total"]
    parts = ("interaction", "total")
    values = [*last[variable].values, *(float(last[f"{variable}_{part}"]) for part in parts)]
    errors = [*last[f"{variable}_mcse"].values, *(float(last[f"{variable}_{part}_mcse"]) for part in parts)]
    fig = Figure(figsize=(7, 0.45 * len(labels) + 1.6), dpi=110)
    ax = fig.subplots()
    rows = np.arange(len(labels))[::-1]
    colours = ["tab:blue"] * (len(labels) - 2) + ["tab:gray", "black"]
    ax.barh(rows, values, xerr=2 * np.asarray(errors), color=colours, alpha=0.85,
            error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(rows, labels)
    ax.axvline(0, color="black", linewidth=0.6)
    units = last[variable].attrs.get("units", "")
    ax.set_xlabel(f"contribution to {variable} against the baseline [{units}] (whiskers: 2 MCSE)")
    title = attributed.attrs.get("title", "")
    ax.set_title(f"Which lever brings the gain: {economy}, {int(last.year)} ({title})", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    return path


def tornado_chart(indices: xr.Dataset, economy: str, path: str | Path, output: str = "tfp") -> Path:
    """Draw a tornado chart of Sobol' indices for one economy: groups sorted by total index.

    Bars are the total (light) and first-order (dark) indices of each group, with
    their confidence intervals as whiskers; the largest is at the top.

    Parameters
    ----------
    indices : xarray.Dataset
        From :func:`forecaster.sensitivity.sensitivity`.
    output : str
        ``tfp`` (the horizon's TFP level) or ``tfp_effect`` (against the baseline).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    at = indices.sel(output=output, economy=economy).sortby("total_order")
    groups = [str(group) for group in at.group.values]
    rows = np.arange(len(groups))
    fig = Figure(figsize=(7, 0.45 * len(groups) + 1.6), dpi=110)
    ax = fig.subplots()
    for key, colour, height, label in (("total_order", "tab:orange", 0.7, "total (with interactions)"),
                                        ("first_order", "tab:blue", 0.35, "first order (alone)")):
        ax.barh(rows, at[key], height=height, color=colour, alpha=0.8, label=label,
                xerr=at[f"{key}_conf"], error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.set_yticks(rows, [f"{g} ({k})" for g, k in zip(groups, at.kind.values, strict=True)])
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("share of the variance (Sobol' index)")
    what = "TFP level at the horizon" if output == "tfp" else "policy effect on the horizon's TFP level"
    ax.set_title(f"What drives the spread of the {what}: {economy}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_backtest(scores: xr.Dataset, record: dict[str, float], directory: str | Path) -> list[Path]:
    """Write a backtest's files: scores, benchmark scores, track record, PIT histogram, coverage plot.

    Parameters
    ----------
    scores : xarray.Dataset
        From :func:`forecaster.backtest.backtest`.
    record : dict
        From :func:`forecaster.backtest.track_record`.
    directory : path
        Created if missing. Files: ``scores.csv`` (origin, economy, year, realized, crps, pit,
        in_50, in_90), ``benchmarks.csv`` (benchmark, origin, economy, year, crps),
        ``track_record.json``, ``scores.nc``, ``pit.png`` and ``coverage.png``.

    Returns
    -------
    list of Path
        The files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    scored = scores.where(scores.crps.notnull())

    def table(data: xr.Dataset | xr.DataArray, columns: list[str]) -> pd.DataFrame:
        frame = data.to_dataframe().reset_index().dropna(subset=["crps"])
        frame["year"] = frame["year"].astype(int)
        return frame[columns]  # in the dataset's order: origin, economy (as calibrated), year

    rows = scored[["realized", "crps", "pit", "in_50", "in_90"]]
    paths = [directory / "scores.csv", directory / "benchmarks.csv"]
    table(rows, ["origin", "economy", "year", "realized", "crps", "pit", "in_50", "in_90"]).to_csv(
        paths[0], index=False
    )
    table(scored.benchmark_crps.rename("crps"), ["benchmark", "origin", "economy", "year", "crps"]).to_csv(
        paths[1], index=False
    )
    paths.append(directory / "track_record.json")
    paths[-1].write_text(json.dumps({**scores.attrs, **record}, indent=1) + "\n")
    paths.append(write_netcdf(scores, directory / "scores.nc"))
    paths.append(directory / "pit.png")
    _pit_histogram(scored.pit, paths[-1])
    paths.append(directory / "coverage.png")
    _coverage_by_lead(scored, paths[-1])
    return paths


def _pit_histogram(pit: xr.DataArray, path: Path, bins: int = 10) -> None:
    """Histogram of PIT values with the uniform expectation and a 95% band per bin (binomial)."""
    values = pit.values[np.isfinite(pit.values)]
    expected = values.size / bins
    band = 1.96 * np.sqrt(expected * (1 - 1 / bins))
    figure = Figure(figsize=(6, 4), dpi=110)
    axes = figure.subplots()
    axes.hist(values, bins=bins, range=(0, 1), color="tab:blue", alpha=0.7, edgecolor="white")
    axes.axhline(expected, color="black", linewidth=1, label="uniform (calibrated)")
    axes.axhspan(expected - band, expected + band, color="grey", alpha=0.2, label="95% band per bin")
    axes.set_xlabel("PIT of realized TFP growth")
    axes.set_ylabel("forecasts")
    axes.set_title(f"PIT histogram, {values.size} forecasts (origin x economy x year)", fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def _coverage_by_lead(scores: xr.Dataset, path: Path) -> None:
    """Central-interval coverage by years ahead, pooled over origins and economies, with nominal lines."""
    figure = Figure(figsize=(6, 4), dpi=110)
    axes = figure.subplots()
    lead = scores.lead.values
    for name, colour in (("in_50", "tab:orange"), ("in_90", "tab:blue")):
        level = int(name[3:]) / 100
        axes.plot(lead, scores[name].mean(("origin", "economy")), marker="o", color=colour,
                  label=f"{name[3:]}% interval")
        axes.axhline(level, color=colour, linestyle="--", linewidth=1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("years ahead")
    axes.set_ylabel("share of realized values inside")
    axes.set_title("Coverage of the central intervals by horizon (dashed: nominal)", fontsize=10)
    axes.legend(fontsize=8, loc="lower left")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
