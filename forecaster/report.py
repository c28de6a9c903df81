"""Files for people: netCDF of the draws, CSV of the summaries, and a fan chart."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

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
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
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
    plt.close(fig)
    return path
