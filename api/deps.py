"""What routes depend on, as ``Annotated`` types: the service's parts and the API-key check.

``create_app`` puts the parts on ``app.state`` (the store and runner once the
lifespan has started); a route names what it needs by type.
"""

from __future__ import annotations

import hmac
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.metrics import Metrics
from api.problems import Problem
from api.results import ResultFiles
from api.runner import JobRunner
from api.settings import Settings
from api.store import JobStore
from forecaster import Calibration

API_KEY_HEADER = "X-API-Key"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="required when keys are set")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _calibration(request: Request) -> Calibration:
    calibration: Calibration = request.app.state.calibration
    return calibration


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def _store(request: Request) -> JobStore:
    store: JobStore = request.app.state.store
    return store


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.runner
    return runner


def _results(request: Request) -> ResultFiles:
    results: ResultFiles = request.app.state.results
    return results


SettingsDep = Annotated[Settings, Depends(_settings)]
CalibrationDep = Annotated[Calibration, Depends(_calibration)]
MetricsDep = Annotated[Metrics, Depends(_metrics)]
StoreDep = Annotated[JobStore, Depends(_store)]
RunnerDep = Annotated[JobRunner, Depends(_runner)]
ResultsDep = Annotated[ResultFiles, Depends(_results)]


def require_key(settings: SettingsDep, key: Annotated[str | None, Security(_api_key)]) -> None:
    """Refuse a request without a valid API key when the service has keys (401)."""
    keys = settings.api_keys
    if not keys:
        return
    given = (key or "").encode()
    # Compare with every key, always: constant time whichever key (if any) matches.
    matched = [hmac.compare_digest(given, candidate.encode()) for candidate in keys]
    if not any(matched):
        raise Problem(401, "Unauthorized", f"a valid API key is required in the {API_KEY_HEADER} header",
                      headers={"WWW-Authenticate": "ApiKey"})


def v1_router(prefix: str = "", *, tags: list[str | Enum]) -> APIRouter:
    """Return a router under ``/v1``, where every route needs an API key when the service has keys."""
    return APIRouter(prefix=f"/v1{prefix}", tags=tags, dependencies=[Depends(require_key)],
                     responses={401: {"description": "missing or invalid API key"}})
