"""Pydantic models of the HTTP API's answers (requests: :mod:`api.schema`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Links(BaseModel):
    """Where a job's results are: a forecast's summary and fan chart, or an analysis's result and chart."""

    self: str
    summary: str | None = Field(None, description="a forecast's summary document")
    result: str | None = Field(None, description="an analysis's result document")
    netcdf: str
    csv: str
    fanchart: str | None = Field(None, description="a forecast's fan chart (PNG)")
    chart: str | None = Field(None, description="an attribution's bars or a sensitivity's tornado (PNG)")


class JobOut(BaseModel):
    """A job: a forecast or an analysis."""

    id: str = Field(description="content hash of the request, seed, calibration and model version")
    kind: Literal["forecast", "attribution", "comparison", "sensitivity"]
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
