"""Jobs of every kind: the list of recent ones, and what the routes of each kind share (``/v1/jobs``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from api import problems
from api.deps import StoreDep, v1_router
from api.jobs import ANALYSES, JobKind, JobSpec
from api.models import JobOut, Links
from api.problems import Problem
from api.schema import RunIn, check_job, job_to_dict, to_job
from api.settings import Settings
from api.store import JobRecord, JobStore
from forecaster import Calibration, RequestError

router = v1_router("/jobs", tags=["jobs"])
#: The collection of each kind of job, under ``/v1``.
COLLECTIONS: dict[JobKind, str] = {"forecast": "forecasts", **{kind: name for name, kind in ANALYSES.items()}}

OVERLOADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "too many jobs queued or running, or the job store is busy; see Retry-After"},
    507: {"description": "the data volume has too little free space for the job's files; see Retry-After"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job"}}
NOT_READY: dict[int | str, dict[str, Any]] = {**NOT_FOUND, 409: {"description": "not finished"}}


def file_answer(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI of a 200 answer that is a file of one of ``media_types``."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": dict.fromkeys(media_types, binary)}}

def job_out(record: JobRecord) -> JobOut:
    """Describe a job: status, its request as it can be posted again, and where its results are."""
    spec = JobSpec.from_dict(record.request)
    base = f"/v1/{COLLECTIONS[spec.kind]}/{record.id}"
    if spec.kind == "forecast":
        links = Links(self=base, summary=f"{base}/summary", netcdf=f"{base}/data?format=netcdf",
                      csv=f"{base}/data?format=csv", fanchart=f"{base}/fanchart.png")
    else:
        links = Links(self=base, result=f"{base}/result", netcdf=f"{base}/data?format=netcdf",
                      csv=f"{base}/data?format=csv",
                      chart=None if spec.kind == "comparison" else f"{base}/chart.png")
    return JobOut(
        id=record.id, kind=spec.kind, status=record.status, progress=record.progress,
        created_at=record.created_at, started_at=record.started_at, finished_at=record.finished_at,
        error=record.error, request=job_to_dict(spec), links=links,
    )


def find(store: JobStore, job: str, kind: JobKind) -> JobRecord:
    """Return the job of this kind (404 if there is none: another kind's id is not found either)."""
    record = store.get(job)
    if record is None or JobSpec.from_dict(record.request).kind != kind:
        raise Problem(404, "Not found", f"no {kind} job {job!r}")
    return record


def succeeded(store: JobStore, job: str, kind: JobKind) -> JobRecord:
    """Return the job of this kind once it has succeeded (409 before)."""
    record = find(store, job, kind)
    if record.status != "succeeded":
        raise Problem(409, "Not ready", f"job {job} is {record.status}; results exist once it succeeds",
                      problems.CONFLICT)
    return record


def accepted(body: RunIn, settings: Settings, calibration: Calibration) -> JobSpec:
    """Build the job of a body (any kind), within this service's caps and what the run would refuse.

    Raises
    ------
    forecaster.RequestError
        Naming the field under ``body`` (answered 422).
    """
    spec = to_job(body, where="body")
    request = spec.request
    caps = [
        ("body.draws", request.n_draws, settings.max_draws),
        ("body.horizon_years", request.horizon_years, settings.max_horizon_years),
        ("body.economies", len(request.economies or calibration.economies), settings.max_economies),
    ]
    for field, value, cap in caps:
        if value > cap:
            raise RequestError(field, f"must be at most {cap} on this service, got {value}")
    check_job(spec, calibration, where="body")
    return spec


@router.get("", response_model=list[JobOut])
def recent(store: StoreDep, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[JobOut]:
    """List the most recently submitted jobs of every kind, newest first (at most ``limit``)."""
    return [job_out(record) for record in store.recent(limit)]
