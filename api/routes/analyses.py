"""Analysis jobs: attributions, comparisons and sensitivities (``/v1/{collection}``, docs/analysis.md).

Each is a job like a forecast (same store, content-hashed ids, limits and
errors): submitted with ``POST``, followed and cancelled at its own URL, and
its result served as a document (``/result``), netCDF or CSV (``/data``), and
for attributions and sensitivities a chart (``/chart.png``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query, Response
from fastapi.responses import FileResponse

from api.deps import CalibrationDep, ResultsDep, RunnerDep, SettingsDep, StoreDep, v1_router
from api.jobs import ANALYSES
from api.models import JobOut
from api.problems import invalid
from api.results import RESULT_JSON, RESULT_NETCDF, analysis_chart_file, result_csv_file
from api.routes.jobs import NOT_FOUND, NOT_READY, OVERLOADED, accepted, file_answer, find, job_out, succeeded
from api.schema import AttributionIn, ComparisonIn, RunIn, SensitivityIn

router = v1_router(tags=["analyses"])
Collection = Literal["attributions", "comparisons", "sensitivities"]
_SUBMITTED: dict[int | str, dict[str, Any]] = {
    200: {"description": "the same job exists already", "model": JobOut},
    202: {"description": "queued; poll Location"}, **OVERLOADED,
}
_EXAMPLE = {"economies": ["CHN", "USA", "EU"], "horizon_years": 10, "draws": 1000, "seed": 1}


def _submit(body: RunIn, response: Response, runner: RunnerDep, settings: SettingsDep,
            calibration: CalibrationDep) -> JobOut:
    record, queued = runner.submit(accepted(body, settings, calibration))
    response.status_code = 202 if queued else 200
    response.headers["Location"] = job_out(record).links.self
    return job_out(record)


@router.post("/attributions", status_code=202, response_model=JobOut, responses=_SUBMITTED)
def submit_attribution(
    body: Annotated[AttributionIn, Body(openapi_examples={"opening": {
        "summary": "the four levers of the all-levers preset",
        "value": {"policy": "high-level-opening", **_EXAMPLE}}})],
    response: Response, runner: RunnerDep, settings: SettingsDep, calibration: CalibrationDep,
) -> JobOut:
    """Queue an attribution of a mix's effect to its levers (exact Shapley values over every sub-mix)."""
    return _submit(body, response, runner, settings, calibration)


@router.post("/comparisons", status_code=202, response_model=JobOut, responses=_SUBMITTED)
def submit_comparison(
    body: Annotated[ComparisonIn, Body(openapi_examples={"three": {
        "summary": "three presets on the same draws",
        "value": {"policies": ["baseline", "digital", "high-level-opening"], **_EXAMPLE}}})],
    response: Response, runner: RunnerDep, settings: SettingsDep, calibration: CalibrationDep,
) -> JobOut:
    """Queue a comparison of 2 to 6 policies on the same draws (paired differences, P(beats), P(first))."""
    return _submit(body, response, runner, settings, calibration)


@router.post("/sensitivities", status_code=202, response_model=JobOut, responses=_SUBMITTED)
def submit_sensitivity(
    body: Annotated[SensitivityIn, Body(openapi_examples={"all": {
        "summary": "every group of inputs", "value": {"policy": "high-level-opening", **_EXAMPLE}}})],
    response: Response, runner: RunnerDep, settings: SettingsDep, calibration: CalibrationDep,
) -> JobOut:
    """Queue Sobol' indices of the horizon's TFP level and the policy effect by group of random inputs."""
    return _submit(body, response, runner, settings, calibration)


@router.get("/{collection}/{job}", response_model=JobOut, responses=NOT_FOUND)
def status(collection: Collection, job: str, store: StoreDep) -> JobOut:
    """Status, progress, timestamps and the request of an analysis job."""
    return job_out(find(store, job, ANALYSES[collection]))


@router.delete("/{collection}/{job}", response_model=JobOut,
               responses={**NOT_FOUND, 409: {"description": "already finished"}})
def cancel(collection: Collection, job: str, store: StoreDep, runner: RunnerDep) -> JobOut:
    """Cancel a queued or running analysis job."""
    find(store, job, ANALYSES[collection])
    return job_out(runner.cancel(job))


@router.get("/{collection}/{job}/result", response_class=FileResponse, responses={
    200: {"description": "the result document: coords, variables with dims, units and values, attrs",
          "content": {"application/json": {"schema": {"type": "object"}}}}, **NOT_READY})
def result(collection: Collection, job: str, store: StoreDep, results: ResultsDep) -> FileResponse:
    """Return the result: variables (docs/analysis.md) as nested lists in the order of their ``dims``."""
    path = results.path(succeeded(store, job, ANALYSES[collection]), RESULT_JSON)
    return FileResponse(path, media_type="application/json")


@router.get("/{collection}/{job}/data", response_class=FileResponse, responses={
    **file_answer("netCDF (format=netcdf) or CSV (format=csv)", "application/x-netcdf", "text/csv"),
    **NOT_READY,
})
def data(
    collection: Collection, job: str, store: StoreDep, results: ResultsDep,
    format: Literal["netcdf", "csv"] = "netcdf",
) -> FileResponse:
    """Return the result as netCDF, or as CSV (one row per variable and coordinates)."""
    path = results.path(succeeded(store, job, ANALYSES[collection]), RESULT_NETCDF)
    if format == "csv":
        return FileResponse(result_csv_file(path.parent), media_type="text/csv", filename=f"{job}-result.csv")
    return FileResponse(path, media_type="application/x-netcdf", filename=f"{job}-result.nc")


@router.get("/{collection}/{job}/chart.png", response_class=FileResponse,
            responses={**file_answer("PNG image", "image/png"), **NOT_READY})
def chart(
    collection: Literal["attributions", "sensitivities"], job: str, store: StoreDep, results: ResultsDep,
    calibration: CalibrationDep, economy: Annotated[str | None, Query(max_length=16)] = None,
) -> FileResponse:
    """Draw an attribution's contributions or a sensitivity's tornado for one economy (default: first)."""
    kind = ANALYSES[collection]
    record = succeeded(store, job, kind)
    economies = record.request["request"]["economies"] or list(calibration.economies)
    chosen = economy or economies[0]
    if chosen not in economies:
        raise invalid("query.economy", f"must be one of the job's economies {economies}, got {chosen!r}")
    directory = results.path(record, RESULT_NETCDF).parent
    return FileResponse(analysis_chart_file(directory, kind, chosen), media_type="image/png")
