"""Pydantic models of the HTTP API: the shapes of bodies, for validation and OpenAPI.

They check structure and types and reject unknown fields; ranges, economies
and lever timing are checked by :func:`api.schema.request_from_dict` and the
engine, which name the field and the limit, so every limit lives in one place.
Fields left out take the engine's defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecaster import PRESETS, ForecastRequest
from forecaster.request import DEFAULT_QUANTILES, DEFAULT_THRESHOLDS

_DEFAULT = ForecastRequest()
#: Unknown fields refused; no coercion ("100" is not a number, 1 is not true).
_STRICT = ConfigDict(extra="forbid", strict=True)


class LeverIn(BaseModel):
    """One lever; see ``GET /v1/levers``."""

    model_config = _STRICT
    intensity: float | None = Field(None, description="share of the lever's full effect, in [0, 1]")
    start_year: int | None = Field(None, description="first year the lever acts (default 2026)")
    phase_in_years: int | None = Field(None, description="years of linear ramp-up, 0 to 50 (default 5)")
    enacting: list[str] | None = Field(None, description="economies that enact it (default: all)")
    partners: list[str] | None = Field(None, description="economies they open to (default: all)")


class FragmentationIn(BaseModel):
    """The fragmentation stress: barriers rise between geopolitical blocs."""

    model_config = _STRICT
    intensity: float | None = Field(None, description="share of the full shock, in [0, 1]")
    start_year: int | None = Field(None, description="first year (default 2026)")
    phase_in_years: int | None = Field(None, description="years of ramp-up (default 3)")


class PolicyIn(BaseModel):
    """A policy mix: a preset, explicit levers, or a preset with levers overridden."""

    model_config = _STRICT
    preset: str | None = Field(None, description=f"start from a preset: {', '.join(PRESETS)}")
    hardware: LeverIn | None = None
    software: LeverIn | None = None
    digital: LeverIn | None = None
    industrial: LeverIn | None = None
    fragmentation: FragmentationIn | None = None
    name: str | None = Field(None, description="label carried into outputs (1 to 64 characters)")


def _or_preset_name(schema: dict[str, Any]) -> None:
    """Show in OpenAPI that ``policy`` may also be a preset name (read by ``ForecastIn._preset_name``)."""
    schema["anyOf"] = [{"type": "string"}, *schema["anyOf"]]


class ForecastIn(BaseModel):
    """Body of ``POST /v1/forecasts``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"], "horizon_years": 10,
                 "draws": 2000, "seed": 1},
            ]
        },
    )
    policy: PolicyIn | None = Field(
        None, description="preset name or policy mix (default: baseline)",
        json_schema_extra=_or_preset_name,
    )
    economies: list[str] | None = Field(None, description="economy codes (default: all; see /v1/economies)")
    horizon_years: int | None = Field(None, description=f"years ahead (default {_DEFAULT.horizon_years})")
    draws: int | None = Field(None, description=f"Monte-Carlo draws (default {_DEFAULT.n_draws})")
    seed: int | None = Field(None, description="random seed, in [0, 2**63) (default 0)")
    quantiles: list[float] | None = Field(
        None, description=f"levels in (0, 1) to report; {list(DEFAULT_QUANTILES)} are always included"
    )
    thresholds: list[float] | None = Field(
        None, description=f"annual TFP growth rates for P(growth > t) (default {list(DEFAULT_THRESHOLDS)})"
    )
    compare_to_baseline: bool | None = Field(
        None, description="also simulate the baseline on the same shocks (default true)"
    )

    @model_validator(mode="before")
    @classmethod
    def _preset_name(cls, data: Any) -> Any:
        """Read a policy given as a preset name as ``{"preset": name}``.

        One model, rather than a union with ``str``, so that an error in a policy
        object is reported once, at its own field.
        """
        if isinstance(data, dict) and isinstance(data.get("policy"), str):
            return {**data, "policy": {"preset": data["policy"]}}
        return data

    def to_data(self) -> dict[str, Any]:
        """Plain data for :func:`api.schema.request_from_dict` (fields left out dropped)."""
        return self.model_dump(exclude_none=True)


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
