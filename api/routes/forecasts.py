"""Forecast jobs: submit, follow, cancel, and fetch results (``/v1/forecasts``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query, Response
from fastapi.responses import FileResponse

from api import problems
from api.deps import CalibrationDep, ResultsDep, RunnerDep, SettingsDep, StoreDep, v1_router
from api.models import JobOut, Links
from api.problems import Problem, invalid
from api.results import DRAWS_NETCDF, SUMMARY_JSON, SUMMARY_NETCDF, fan_chart_file, summary_csv_file
from api.schema import ForecastIn, check_request, request_to_dict, to_request
from api.settings import Settings
from api.store import JobRecord, JobStore
from forecaster import Calibration, ForecastRequest

router = v1_router("/forecasts", tags=["forecasts"])

_OVERLOADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "too many jobs queued or running, or the job store is busy; see Retry-After"},
    507: {"description": "the data volume has too little free space for the job's files; see Retry-After"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job"}}
_NOT_READY: dict[int | str, dict[str, Any]] = {**_NOT_FOUND, 409: {"description": "not finished"}}
_EXAMPLES = {
    "preset": {"summary": "a preset for three economies",
               "value": {"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"],
                         "horizon_years": 10, "draws": 2000, "seed": 1}},
    "levers": {"summary": "explicit levers",
               "value": {"policy": {"digital": {"intensity": 0.8, "enacting": ["ASEAN"]},
                                    "software": {"intensity": 0.5, "start_year": 2027}},
                         "draws": 1000, "horizon_years": 15, "thresholds": [0.01, 0.03]}},
}


def _file(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI of a 200 answer that is a file of one of ``media_types``."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": dict.fromkeys(media_types, binary)}}


def _job_out(record: JobRecord) -> JobOut:
    base = f"/v1/forecasts/{record.id}"
    links = Links(self=base, summary=f"{base}/summary", netcdf=f"{base}/data?format=netcdf",
                  csv=f"{base}/data?format=csv", fanchart=f"{base}/fanchart.png")
    return JobOut(
        id=record.id, status=record.status, progress=record.progress, created_at=record.created_at,
        started_at=record.started_at, finished_at=record.finished_at, error=record.error,
        request=request_to_dict(ForecastRequest.from_dict(record.request)), links=links,
    )


def _record(store: JobStore, job: str) -> JobRecord:
    record = store.get(job)
    if record is None:
        raise Problem(404, "Not found", f"no forecast job {job!r}")
    return record


def _succeeded(store: JobStore, job: str) -> JobRecord:
    record = _record(store, job)
    if record.status != "succeeded":
        raise Problem(409, "Not ready", f"job {job} is {record.status}; results exist once it succeeds",
                      problems.CONFLICT)
    return record


def _validated(body: ForecastIn, settings: Settings, calibration: Calibration) -> ForecastRequest:
    """Build the engine's request of a body, within this service's caps and the calibration."""
    request = to_request(body, where="body")
    caps = [
        ("body.draws", request.n_draws, settings.max_draws),
        ("body.horizon_years", request.horizon_years, settings.max_horizon_years),
        ("body.economies", len(request.economies or calibration.economies), settings.max_economies),
    ]
    for field, value, cap in caps:
        if value > cap:
            raise invalid(field, f"must be at most {cap} on this service, got {value}")
    check_request(request, calibration, where="body")
    return request


@router.post("", status_code=202, response_model=JobOut,
             responses={200: {"description": "the same job exists already", "model": JobOut},
                        202: {"description": "queued; poll Location"}, **_OVERLOADED})
def submit(
    body: Annotated[ForecastIn, Body(openapi_examples=_EXAMPLES)], response: Response,
    runner: RunnerDep, settings: SettingsDep, calibration: CalibrationDep,
) -> JobOut:
    """Queue a forecast (202), or return the existing job for the same request and seed (200)."""
    record, queued = runner.submit(_validated(body, settings, calibration))
    response.status_code = 202 if queued else 200
    response.headers["Location"] = f"/v1/forecasts/{record.id}"
    return _job_out(record)


@router.get("/{job}", response_model=JobOut, responses=_NOT_FOUND)
def status(job: str, store: StoreDep) -> JobOut:
    """Status, progress, timestamps and the request of a job."""
    return _job_out(_record(store, job))


@router.delete("/{job}", response_model=JobOut,
               responses={**_NOT_FOUND, 409: {"description": "already finished"}})
def cancel(job: str, store: StoreDep, runner: RunnerDep) -> JobOut:
    """Cancel a queued or running job."""
    _record(store, job)
    return _job_out(runner.cancel(job))


@router.get("/{job}/summary", response_class=FileResponse, responses={
    200: {"description": "the summary document (docs/api.md)",
          "content": {"application/json": {"schema": {"type": "object"}}}}, **_NOT_READY})
def summary(job: str, store: StoreDep, results: ResultsDep) -> FileResponse:
    """Quantiles, means with Monte-Carlo errors, probabilities, baseline comparison, channels.

    Variables and their dims are listed in docs/api.md; values are nested
    lists in the order of each variable's ``dims``.
    """
    return FileResponse(results.path(_succeeded(store, job), SUMMARY_JSON), media_type="application/json")


@router.get("/{job}/data", response_class=FileResponse, responses={
    **_file("netCDF (format=netcdf) or CSV (format=csv)", "application/x-netcdf", "text/csv"), **_NOT_READY,
})
def data(
    job: str, store: StoreDep, results: ResultsDep, format: Literal["netcdf", "csv"] = "netcdf"
) -> FileResponse:
    """Every draw as netCDF (the summary when the run kept no draws), or the summary as CSV."""
    record = _succeeded(store, job)
    if format == "csv":  # derived from summary.nc, which is checked first
        directory = results.path(record, SUMMARY_NETCDF).parent
        return FileResponse(summary_csv_file(directory), media_type="text/csv", filename=f"{job}-summary.csv")
    path = results.path(record, DRAWS_NETCDF if results.kept_draws(record) else SUMMARY_NETCDF)
    return FileResponse(path, media_type="application/x-netcdf", filename=f"{job}-{path.name}")


@router.get("/{job}/fanchart.png", response_class=FileResponse,
            responses={**_file("PNG image", "image/png"), **_NOT_READY})
def fanchart(
    job: str, store: StoreDep, results: ResultsDep, calibration: CalibrationDep,
    economy: Annotated[str | None, Query(max_length=16)] = None,
) -> FileResponse:
    """Fan chart of TFP against the base year for one economy (default: the first), baseline overlaid."""
    record = _succeeded(store, job)
    economies = record.request["economies"] or list(calibration.economies)
    chosen = economy or economies[0]
    if chosen not in economies:
        raise invalid("query.economy", f"must be one of the job's economies {economies}, got {chosen!r}")
    directory = results.path(record, SUMMARY_NETCDF).parent
    return FileResponse(fan_chart_file(directory, chosen), media_type="image/png")
