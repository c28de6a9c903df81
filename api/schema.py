"""The request schema shared by the command line and batch files (and later HTTP).

Plain data in, a validated :class:`forecaster.ForecastRequest` out; errors name
the field (prefixed with where it stands, e.g. ``scenarios[2] (asean).draws``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forecaster import Calibration, FieldError, ForecastRequest, PolicyError, RequestError, policy_from_dict
from forecaster.plan import build_inputs

#: Request fields accepted in plain data, with their ForecastRequest names.
REQUEST_FIELDS = {
    "policy": "policy",
    "economies": "economies",
    "horizon_years": "horizon_years",
    "draws": "n_draws",
    "seed": "seed",
    "compare_to_baseline": "compare_to_baseline",
    "quantiles": "quantiles",
    "thresholds": "thresholds",
}


def request_from_dict(data: Any, where: str = "request") -> ForecastRequest:
    """Validate plain data into a :class:`ForecastRequest`.

    Parameters
    ----------
    data : mapping
        Keys of :data:`REQUEST_FIELDS`; ``policy`` as for
        :func:`forecaster.policy_from_dict` (a preset name alone is accepted too).
    where : str
        Prefix of field names in error messages.

    Raises
    ------
    RequestError
        Naming the field (``where.field``) and the limit.
    """
    if not isinstance(data, Mapping):
        raise RequestError(where, f"must be an object, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise RequestError(f"{where}.{key!r}", f"keys must be field names (strings), got {key!r}")
    unknown = sorted(set(data) - set(REQUEST_FIELDS))
    if unknown:
        raise RequestError(f"{where}.{unknown[0]}", f"unknown field; allowed: {sorted(REQUEST_FIELDS)}")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "policy":
            policy_data = {"preset": value} if isinstance(value, str) else value
            try:
                kwargs["policy"] = policy_from_dict(policy_data, path=f"{where}.policy")
            except PolicyError as error:
                raise RequestError(error.field, error.message) from None
        elif key == "economies":
            if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
                raise RequestError(f"{where}.economies", f"must be a list of economy codes, got {value!r}")
            kwargs["economies"] = tuple(value)
        elif key == "compare_to_baseline":
            if not isinstance(value, bool):
                raise RequestError(f"{where}.{key}", f"must be true or false, got {value!r}")
            kwargs[key] = value
        elif key in ("quantiles", "thresholds"):
            if not isinstance(value, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in value
            ):
                raise RequestError(f"{where}.{key}", f"must be a list of numbers, got {value!r}")
            kwargs[key] = tuple(float(x) for x in value)
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise RequestError(f"{where}.{key}", f"must be an integer, got {value!r}")
            kwargs[REQUEST_FIELDS[key]] = value
    try:
        return ForecastRequest(**kwargs)
    except RequestError as error:
        raise _located(error, where) from None


def request_to_dict(request: ForecastRequest) -> dict[str, Any]:
    """Return a request in the public names of :data:`REQUEST_FIELDS`, every default filled in.

    The inverse of :func:`request_from_dict` for requests it built: the result
    can be submitted again as it is, and names the same job.
    """
    data = request.to_dict()
    return {public: data[engine] for public, engine in REQUEST_FIELDS.items()}


def _located(error: FieldError, where: str) -> RequestError:
    """Rename an engine field to its public name under ``where``, keeping the message."""
    name = next((key for key, value in REQUEST_FIELDS.items() if value == error.field), error.field)
    return RequestError(f"{where}.{name}", error.message)


def check_request(request: ForecastRequest, calibration: Calibration, where: str = "request") -> None:
    """Check what depends on the calibration (economies, lever economies and timing) before queuing.

    Raises
    ------
    RequestError
        Naming the field under ``where``.
    """
    try:
        build_inputs(request, calibration)
    except FieldError as error:
        raise _located(error, where) from None
