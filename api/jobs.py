"""What a service job runs: a forecast, or an analysis of several mixes on the same draws.

A :class:`JobSpec` is stored with its job (as JSON) and says everything that
determines the result; the job's id is a hash of it. A forecast's spec is
stored as its request alone, as it always was, so the ids and records of
forecasts made before analyses existed stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import xarray as xr

from forecaster import (
    Calibration,
    Executor,
    Forecast,
    ForecastRequest,
    PolicyMix,
    attribute,
    compare,
    forecast,
    policy_from_dict,
)
from forecaster.attribution import check_attribution
from forecaster.comparison import check_comparison
from forecaster.plan import build_inputs
from forecaster.sensitivity import check_sensitivity, sensitivity

JobKind = Literal["forecast", "attribution", "comparison", "sensitivity"]
#: The kinds of analysis, by the collection their jobs are under (``/v1/attributions``, ...).
ANALYSES: dict[str, JobKind] = {
    "attributions": "attribution", "comparisons": "comparison", "sensitivities": "sensitivity",
}


@dataclass(frozen=True)
class JobSpec:
    """A job: its kind, the request, and what the kind adds.

    Attributes
    ----------
    kind : {"forecast", "attribution", "comparison", "sensitivity"}
    request : ForecastRequest
        For a comparison, its policy is not used.
    levers : tuple of str, optional
        An attribution's players (default: the mix's active levers).
    policies : tuple of PolicyMix
        A comparison's policies.
    groups : tuple of str, optional
        A sensitivity analysis's groups of inputs (default: all).
    """

    kind: JobKind
    request: ForecastRequest
    levers: tuple[str, ...] | None = None
    policies: tuple[PolicyMix, ...] = ()
    groups: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain form, stored with the job: a forecast's request alone, else the kind and its fields."""
        if self.kind == "forecast":
            return self.request.to_dict()
        data: dict[str, Any] = {"kind": self.kind, "request": self.request.to_dict()}
        if self.kind == "attribution":
            data["levers"] = None if self.levers is None else list(self.levers)
        elif self.kind == "comparison":
            data["policies"] = [policy.to_dict() for policy in self.policies]
        else:
            data["groups"] = None if self.groups is None else list(self.groups)
        return data

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Inverse of :meth:`to_dict`, for records this service wrote."""
        if "kind" not in data:
            return cls("forecast", ForecastRequest.from_dict(data))
        optional = {name: None if data[name] is None else tuple(data[name])
                    for name in ("levers", "groups") if name in data}
        policies = tuple(policy_from_dict(policy) for policy in data.get("policies", ()))
        return cls(data["kind"], ForecastRequest.from_dict(data["request"]), policies=policies, **optional)

    def check(self, calibration: Calibration) -> None:
        """Check everything the run would refuse, before the job is queued.

        Raises
        ------
        forecaster.RequestError
            Naming the field (as the engine names it).
        """
        if self.kind == "forecast":
            build_inputs(self.request, calibration)
        elif self.kind == "attribution":
            check_attribution(self.request, self.levers, calibration)
        elif self.kind == "comparison":
            check_comparison(self.request, self.policies, calibration)
        else:
            check_sensitivity(self.request, self.groups, calibration)

    def run(
        self, calibration: Calibration, executor: Executor, on_progress: Callable[[int, int], None],
        should_cancel: Callable[[], bool],
    ) -> Forecast | xr.Dataset:
        """Run the job: a forecast's :class:`~forecaster.Forecast`, or the analysis's dataset."""
        request = self.request
        if self.kind == "forecast":
            return forecast(request, calibration, executor, on_progress, should_cancel)
        if self.kind == "attribution":
            return attribute(request, self.levers, calibration, executor, on_progress, should_cancel)
        if self.kind == "comparison":
            return compare(request, self.policies, calibration, executor, on_progress, should_cancel)
        return sensitivity(request, self.groups, calibration, executor, on_progress, should_cancel)

