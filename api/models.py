"""Pydantic models of the HTTP API's answers (requests: :mod:`api.schema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from forecaster import ForecastRequest

_DEFAULT = ForecastRequest()
#: Unknown fields refused; no coercion ("100" is not a number, 1 is not true).
_STRICT = ConfigDict(extra="forbid", strict=True)


class Links(BaseModel):
    """Where a job's results are."""

    self: str
    summary: str
    netcdf: str
    csv: str
    fanchart: str


class JobOut(BaseModel):
    """A forecast job."""

    id: str = Field(description="content hash of the request, seed, calibration and model version")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="fraction of blocks done, 0 to 1")
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    request: dict[str, Any] = Field(
        description="the validated request, every default filled in; it can be posted again as it is"
    )
    links: Links
