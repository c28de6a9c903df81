"""What routes depend on, as ``Annotated`` types: the service's parts and the API-key check.

``create_app`` puts the parts on ``app.state`` (the store and runner once the
lifespan has started); a route names what it needs by type.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

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


def _state(name: str) -> Callable[[Request], Any]:
    """Return a dependency that gives the part ``name`` of the app's state."""

    def part(request: Request) -> Any:
        return getattr(request.app.state, name)

    return part


SettingsDep = Annotated[Settings, Depends(_state("settings"))]
CalibrationDep = Annotated[Calibration, Depends(_state("calibration"))]
MetricsDep = Annotated[Metrics, Depends(_state("metrics"))]
StoreDep = Annotated[JobStore, Depends(_state("store"))]
RunnerDep = Annotated[JobRunner, Depends(_state("runner"))]
ResultsDep = Annotated[ResultFiles, Depends(_state("results"))]


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
