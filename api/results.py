"""A finished job's files, one directory per job id, and the JSON form of its summary.

Files written when the job finishes: ``summary.nc``, ``summary.json`` (what
``GET /v1/forecasts/{id}/summary`` serves) and ``draws.nc`` (every draw, when
the run kept them). Derived from ``summary.nc`` on first request, so they do
not delay the result: ``summary.csv`` and ``fanchart-{ECONOMY}.png``.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from threading import get_ident
from typing import Any

import numpy as np
import xarray as xr

from forecaster import Forecast, fan_chart, write_netcdf, write_summary_csv

SUMMARY_JSON, SUMMARY_NETCDF, SUMMARY_CSV, DRAWS_NETCDF = (
    "summary.json", "summary.nc", "summary.csv", "draws.nc",
)


def _finite(values: Any) -> Any:
    """Nested lists with NaN and infinities as None (JSON has no NaN)."""
    if isinstance(values, list):
        return [_finite(value) for value in values]
    return values if isinstance(values, int | str) or math.isfinite(values) else None


def summary_document(summary: xr.Dataset) -> dict[str, Any]:
    """Convert a summary to plain JSON-ready data.

    Returns
    -------
    dict
        ``coords`` (year, economy, quantile, threshold, channel), ``variables``
        (each with ``dims``, ``units``, ``long_name`` and nested ``values``
        in the order of ``dims``), and ``attrs`` (provenance: seed, model
        version, calibration hash, the request).
    """
    coords = {name: summary[name].values.tolist() for name in summary.coords}
    variables = {
        name: {
            "dims": list(values.dims),
            "units": values.attrs.get("units", ""),
            "long_name": values.attrs.get("long_name", ""),
            "values": _finite(values.values.tolist()),
        }
        for name, values in summary.data_vars.items()
    }
    attrs = {key: value.item() if isinstance(value, np.generic) else value
             for key, value in summary.attrs.items()}
    return {"coords": coords, "variables": variables, "attrs": attrs}


def write_results(directory: Path, result: Forecast) -> None:
    """Write a job's files, atomically: readers see all of them or none."""
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write_netcdf(result.summary, partial / SUMMARY_NETCDF)
    (partial / SUMMARY_JSON).write_text(json.dumps(summary_document(result.summary)))
    if result.draws is not None:
        write_netcdf(result.draws, partial / DRAWS_NETCDF)
    shutil.rmtree(directory, ignore_errors=True)  # an older, superseded attempt
    partial.replace(directory)


def _derived_file(path: Path, write: Callable[[xr.Dataset, Path], Path]) -> Path:
    """Return ``path``, first writing it with ``write(summary, path)`` from ``summary.nc`` if missing."""
    if not path.exists():
        # A name of this thread's own, so two first requests never write one file.
        partial = path.with_name(f".{path.stem}.{get_ident()}{path.suffix}")
        with xr.open_dataset(path.parent / SUMMARY_NETCDF, engine="scipy") as summary:
            write(summary.load(), partial)
        partial.replace(path)
    return path


def summary_csv_file(directory: Path) -> Path:
    """Return the job's summary as CSV (:func:`forecaster.write_summary_csv`), written on first use."""
    return _derived_file(directory / SUMMARY_CSV, write_summary_csv)


def fan_chart_file(directory: Path, economy: str) -> Path:
    """Return the job's fan chart for ``economy``, drawn on first use."""
    return _derived_file(directory / f"fanchart-{economy}.png",
                         lambda summary, path: fan_chart(summary, economy, path))
