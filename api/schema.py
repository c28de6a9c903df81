"""The one request schema: HTTP bodies, batch files and ``--policy`` files are validated by these models.

Pydantic checks structure and types and refuses unknown fields (no coercion:
``"100"`` is not a number, ``1`` is not true); ranges, economies and lever
timing are checked by the engine (:class:`forecaster.ForecastRequest` and the
policy), which names the field and the limit, so every limit lives in one
place. Every error is reported the same way, wherever the request came from:
``WHERE.FIELD: MESSAGE`` (e.g. ``body.draws``, ``scenarios[2] (asean).draws``).
Fields left out take the engine's defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from api.jobs import JobSpec
from forecaster import (
    PRESETS,
    Calibration,
    FieldError,
    ForecastRequest,
    PolicyMix,
    RequestError,
    policy_from_dict,
)
from forecaster.attribution import PLAYERS
from forecaster.errors import bounded
from forecaster.request import DEFAULT_QUANTILES, DEFAULT_THRESHOLDS
from forecaster.sensitivity import GROUPS

_DEFAULT = ForecastRequest()
_STRICT = ConfigDict(extra="forbid", strict=True)
#: Public field names of a request and their :class:`ForecastRequest` names, where they differ.
ENGINE_NAMES = {"draws": "n_draws"}


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
    """Show in OpenAPI that a policy may also be a preset name (read by ``_preset_names``)."""
    target = schema.get("items", schema)
    target["anyOf"] = [{"type": "string"}, *target.get("anyOf", [{"$ref": target.pop("$ref", "")}])]


def _preset_names(data: Any) -> Any:
    """Read a policy given as a preset name as ``{"preset": name}``, in ``policy`` or ``policies``.

    One model, rather than a union with ``str``, so that an error in a policy
    object is reported once, at its own field.
    """
    if not isinstance(data, dict):
        return data
    if isinstance(data.get("policy"), str):
        data = {**data, "policy": {"preset": data["policy"]}}
    if isinstance(data.get("policies"), list):
        data = {**data, "policies": [{"preset": p} if isinstance(p, str) else p for p in data["policies"]]}
    return data


class RunIn(BaseModel):
    """What every request names: economies, horizon, draws, seed."""

    model_config = _STRICT
    economies: list[str] | None = Field(None, description="economy codes (default: all; see /v1/economies)")
    horizon_years: int | None = Field(None, description=f"years ahead (default {_DEFAULT.horizon_years})")
    draws: int | None = Field(None, description=f"Monte-Carlo draws (default {_DEFAULT.n_draws})")
    seed: int | None = Field(None, description="random seed, in [0, 2**63) (default 0)")
    _presets = model_validator(mode="before")(_preset_names)


class PolicyRunIn(RunIn):
    """A request of one policy mix."""

    policy: PolicyIn | None = Field(
        None, description="preset name or policy mix (default: baseline)", json_schema_extra=_or_preset_name,
    )


class ForecastIn(PolicyRunIn):
    """A forecast request: the body of ``POST /v1/forecasts``, a batch scenario, its defaults."""

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
    quantiles: list[float] | None = Field(
        None, description=f"levels in (0, 1) to report; {list(DEFAULT_QUANTILES)} are always included"
    )
    thresholds: list[float] | None = Field(
        None, description=f"annual TFP growth rates for P(growth > t) (default {list(DEFAULT_THRESHOLDS)})"
    )
    compare_to_baseline: bool | None = Field(
        None, description="also simulate the baseline on the same shocks (default true)"
    )


class AttributionIn(PolicyRunIn):
    """The body of ``POST /v1/attributions``: whose levers share the mix's effect (docs/analysis.md)."""

    levers: list[str] | None = Field(
        None, description=f"players among {list(PLAYERS)} (default: the mix's levers above intensity 0)"
    )


class ComparisonIn(RunIn):
    """The body of ``POST /v1/comparisons``: 2 to 6 policies run on the same draws."""

    policies: list[PolicyIn] = Field(
        description="2 to 6 preset names or policy mixes, with distinct names",
        json_schema_extra=_or_preset_name,
    )


class SensitivityIn(PolicyRunIn):
    """The body of ``POST /v1/sensitivities``: Sobol' indices by group of random inputs."""

    groups: list[str] | None = Field(None, description=f"groups among {list(GROUPS)} (default: all)")
    compare_to_baseline: bool | None = Field(
        None, description="also decompose the policy effect against the baseline (default true)"
    )


#: The body of each kind of job.
BODIES: dict[str, type[RunIn]] = {
    "forecast": ForecastIn, "attribution": AttributionIn, "comparison": ComparisonIn,
    "sensitivity": SensitivityIn,
}


def field_errors(errors: Iterable[Any], where: str | None = None) -> list[tuple[str, str]]:
    """Each pydantic error as (field path, message): the path under ``where``, the value echoed, bounded.

    ``errors`` is ``ValidationError.errors()`` (or FastAPI's, whose paths start
    with ``body``).
    """
    found = []
    for item in errors:
        path = ".".join(str(part) for part in item["loc"])
        field = f"{where}.{path}" if where and path else (where or path)
        message = "unknown field" if item["type"] == "extra_forbidden" else (
            f"{item['msg']}, got {bounded(repr(item.get('input')), 60)}"
        )
        found.append((bounded(field, 100), message))
    return found


def _invalid(error: ValidationError, where: str) -> RequestError:
    """Return a :class:`RequestError` of a validation error's first problem (a request rarely has two)."""
    field, message = field_errors(error.errors(), where)[0]
    return RequestError(field, message)


def _located(error: FieldError, where: str) -> RequestError:
    """Name an engine field as users write it, under ``where``, keeping the message."""
    public = {engine: name for name, engine in ENGINE_NAMES.items()}
    head, _, rest = error.field.partition(".")
    return RequestError(".".join(filter(None, [where, public.get(head, head), rest])), error.message)


def to_request(body: RunIn, where: str = "request") -> ForecastRequest:
    """Build the engine's request from a validated body, naming any out-of-range field under ``where``.

    Raises
    ------
    RequestError
    """
    data = body.model_dump(exclude_none=True, exclude={"levers", "groups", "policies"})
    kwargs: dict[str, Any] = {
        ENGINE_NAMES.get(name, name): tuple(value) if isinstance(value, list) else value
        for name, value in data.items() if name != "policy"
    }
    try:
        if "policy" in data:
            kwargs["policy"] = policy_from_dict(data["policy"], path="policy")
        return ForecastRequest(**kwargs)
    except FieldError as error:
        raise _located(error, where) from None


def parse_job(data: Any, kind: str = "forecast", where: str = "request") -> JobSpec:
    """Validate plain data (a batch scenario) into a job of ``kind``, by the body model of that kind.

    Raises
    ------
    RequestError
        Naming the field (``where.field``) and the limit.
    """
    try:
        body = BODIES[kind].model_validate(data)
    except ValidationError as error:
        raise _invalid(error, where) from None
    return to_job(body, where)


def parse_request(data: Any, where: str = "request") -> ForecastRequest:
    """Validate plain data (command-line options, a JSON file) into a forecast's request.

    Raises
    ------
    RequestError
        Naming the field (``where.field``) and the limit.
    """
    return parse_job(data, "forecast", where).request


def parse_policy(data: Any, where: str = "policy") -> PolicyMix:
    """Validate plain data (a ``--policy`` file) into a :class:`PolicyMix`, as a request's ``policy``.

    Raises
    ------
    RequestError
    """
    try:
        policy = PolicyIn.model_validate(data)
        return policy_from_dict(policy.model_dump(exclude_none=True), path=where)
    except ValidationError as error:
        raise _invalid(error, where) from None
    except FieldError as error:
        raise RequestError(error.field, error.message) from None


def to_job(body: RunIn, where: str = "body") -> JobSpec:
    """Build the job of a validated body (any kind), naming any out-of-range field under ``where``.

    Raises
    ------
    RequestError
    """
    request = to_request(body, where)
    if isinstance(body, AttributionIn):
        return JobSpec("attribution", request, levers=None if body.levers is None else tuple(body.levers))
    if isinstance(body, SensitivityIn):
        return JobSpec("sensitivity", request, groups=None if body.groups is None else tuple(body.groups))
    if isinstance(body, ComparisonIn):
        policies = []
        for index, policy in enumerate(body.policies):
            try:
                data = policy.model_dump(exclude_none=True)
                policies.append(policy_from_dict(data, path=f"policies[{index}]"))
            except FieldError as error:
                raise _located(error, where) from None
        return JobSpec("comparison", request, policies=tuple(policies))
    return JobSpec("forecast", request)


def job_to_dict(spec: JobSpec) -> dict[str, Any]:
    """Return a job as the body that submits it again, every default filled in (public names)."""
    public = request_to_dict(spec.request)
    added = {"levers": None if spec.levers is None else list(spec.levers),
             "groups": None if spec.groups is None else list(spec.groups),
             "policies": [policy.to_dict() for policy in spec.policies]}
    return {name: added.get(name, public.get(name)) for name in BODIES[spec.kind].model_fields}


def request_to_dict(request: ForecastRequest) -> dict[str, Any]:
    """Return a request in its public field names, every default filled in.

    The inverse of :func:`parse_request` for requests it built: the result can
    be submitted again as it is, and names the same job.
    """
    data = request.to_dict()
    return {name: data[ENGINE_NAMES.get(name, name)] for name in ForecastIn.model_fields}


def check_job(spec: JobSpec, calibration: Calibration, where: str = "request") -> None:
    """Check what the run would refuse (economies, lever timing, an analysis's fields, sizes) before queuing.

    Raises
    ------
    RequestError
        Naming the field under ``where``.
    """
    try:
        spec.check(calibration)
    except FieldError as error:
        raise _located(error, where) from None
