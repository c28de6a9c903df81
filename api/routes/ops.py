"""Operations: liveness, readiness and Prometheus metrics (outside ``/v1``, without API keys)."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import problems
from api.deps import MetricsDep, SettingsDep, StoreDep
from api.problems import Problem
from api.results import MEGABYTE
from cluster import readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Answer while the process is alive (on the event loop: never queued behind store waits)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready; detail says why"}})
def readyz(settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    """Ready when Ray is reachable (if used) and the job store is writable."""
    found: list[str] = []
    if not store.writable():
        found.append(f"job store {store.name} is not writable")
    free = shutil.disk_usage(settings.data_dir).free
    if free < settings.min_free_megabytes * MEGABYTE:
        found.append(f"the data volume has {free / MEGABYTE:,.0f} MB free, below the floor of "
                     f"{settings.min_free_megabytes:,} MB")
    if settings.executor == "ray":
        ray_status = readiness()
        if not ray_status["ready"]:
            found.append(str(ray_status["problem"]))
    if found:
        raise Problem(503, "Not ready", "; ".join(found), problems.UNAVAILABLE)
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
def prometheus(metrics: MetricsDep) -> Response:
    """Prometheus metrics."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
