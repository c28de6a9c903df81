"""Forecast jobs: submit, follow, cancel, and fetch results (``/v1/forecasts``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Body, Query, Response
from fastapi.responses import FileResponse

from api.deps import CalibrationDep, ResultsDep, RunnerDep, SettingsDep, StoreDep, v1_router
from api.models import JobOut
from api.problems import invalid
from api.results import DRAWS_NETCDF, SUMMARY_JSON, SUMMARY_NETCDF, fan_chart_file, summary_csv_file
from api.routes.jobs import NOT_FOUND, NOT_READY, OVERLOADED, accepted, file_answer, find, job_out, succeeded
from api.schema import ForecastIn

router = v1_router("/forecasts", tags=["forecasts"])

_EXAMPLES = {
    "preset": {"summary": "a preset for three economies",
               "value": {"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"],
                         "horizon_years": 10, "draws": 2000, "seed": 1}},
    "levers": {"summary": "explicit levers",
               "value": {"policy": {"digital": {"intensity": 0.8, "enacting": ["ASEAN"]},
                                    "software": {"intensity": 0.5, "start_year": 2027}},
                         "draws": 1000, "horizon_years": 15, "thresholds": [0.01, 0.03]}},
}


@router.post("", status_code=202, response_model=JobOut,
             responses={200: {"description": "the same job exists already", "model": JobOut},
                        202: {"description": "queued; poll Location"}, **OVERLOADED})
def submit(
    body: Annotated[ForecastIn, Body(openapi_examples=_EXAMPLES)], response: Response,
    runner: RunnerDep, settings: SettingsDep, calibration: CalibrationDep,
) -> JobOut:
    """Queue a forecast (202), or return the existing job for the same request and seed (200)."""
    record, queued = runner.submit(accepted(body, settings, calibration))
    response.status_code = 202 if queued else 200
    response.headers["Location"] = f"/v1/forecasts/{record.id}"
    return job_out(record)


@router.get("/{job}", response_model=JobOut, responses=NOT_FOUND)
def status(job: str, store: StoreDep) -> JobOut:
    """Status, progress, timestamps and the request of a job."""
    return job_out(find(store, job, "forecast"))


@router.delete("/{job}", response_model=JobOut,
               responses={**NOT_FOUND, 409: {"description": "already finished"}})
def cancel(job: str, store: StoreDep, runner: RunnerDep) -> JobOut:
    """Cancel a queued or running job."""
    find(store, job, "forecast")
    return job_out(runner.cancel(job))


@router.get("/{job}/summary", response_class=FileResponse, responses={
    200: {"description": "the summary document (docs/api.md)",
          "content": {"application/json": {"schema": {"type": "object"}}}}, **NOT_READY})
def summary(job: str, store: StoreDep, results: ResultsDep) -> FileResponse:
    """Quantiles, means with Monte-Carlo errors, probabilities, baseline comparison, channels.

    Variables and their dims are listed in docs/api.md; values are nested
    lists in the order of each variable's ``dims``.
    """
    path = results.path(succeeded(store, job, "forecast"), SUMMARY_JSON)
    return FileResponse(path, media_type="application/json")


@router.get("/{job}/data", response_class=FileResponse, responses={
    **file_answer("netCDF (format=netcdf) or CSV (format=csv)", "application/x-netcdf", "text/csv"),
    **NOT_READY,
})
def data(
    job: str, store: StoreDep, results: ResultsDep, format: Literal["netcdf", "csv"] = "netcdf"
) -> FileResponse:
    """Every draw as netCDF (the summary when the run kept no draws), or the summary as CSV."""
    record = succeeded(store, job, "forecast")
    if format == "csv":  # derived from summary.nc, which is checked first
        directory = results.path(record, SUMMARY_NETCDF).parent
        csv = summary_csv_file(directory)
        return FileResponse(csv, media_type="text/csv", filename=f"{job}-summary.csv")
    path = results.path(record, DRAWS_NETCDF if results.kept_draws(record) else SUMMARY_NETCDF)
    return FileResponse(path, media_type="application/x-netcdf", filename=f"{job}-{path.name}")


@router.get("/{job}/fanchart.png", response_class=FileResponse,
            responses={**file_answer("PNG image", "image/png"), **NOT_READY})
def fanchart(
    job: str, store: StoreDep, results: ResultsDep, calibration: CalibrationDep,
    economy: Annotated[str | None, Query(max_length=16)] = None,
) -> FileResponse:
    """Fan chart of TFP against the base year for one economy (default: the first), baseline overlaid."""
    record = succeeded(store, job, "forecast")
    economies = record.request["economies"] or list(calibration.economies)
    chosen = economy or economies[0]
    if chosen not in economies:
        raise invalid("query.economy", f"must be one of the job's economies {economies}, got {chosen!r}")
    directory = results.path(record, SUMMARY_NETCDF).parent
    return FileResponse(fan_chart_file(directory, chosen), media_type="image/png")
