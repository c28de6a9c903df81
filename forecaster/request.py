"""The request: what a forecast asks for, and the limits every request is held to.

The first step of the pipeline (request -> :mod:`~forecaster.plan` ->
:mod:`~forecaster.engine` -> :mod:`~forecaster.outcomes` ->
:mod:`~forecaster.summaries`). :class:`ForecastRequest` keeps its own
invariants whoever builds it; user input is first checked at the edge
(``api.schema``), which names fields as users write them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forecaster.calibration import Calibration
from forecaster.errors import RequestError
from forecaster.policy import PRESETS, PolicyMix, policy_from_dict

#: Draws per block: part of the reproducibility contract (recorded in outputs).
DEFAULT_BLOCK_SIZE = 1000
#: Upper bound on draws for one request (larger work is refused before it runs).
MAX_DRAWS = 1_000_000
MAX_HORIZON_YEARS = 100
MAX_LEVELS = 20
#: Most draw x year x economy cells :func:`~forecaster.run_forecast` may keep per draw (about
#: 5 GB with every variable, channel and the baseline): 100,000 draws x 30 years x 12 economies.
MAX_CELLS = 36_000_000
#: Quantile levels every summary holds (the fan chart and the headline table use them).
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.15, 0.25, 0.5, 0.75, 0.85, 0.95)
#: Default thresholds for P(annual TFP growth > threshold).
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.005, 0.01, 0.02)


@dataclass(frozen=True)
class ForecastRequest:
    """A validated forecast request: the single input of :func:`~forecaster.forecast`.

    Parameters
    ----------
    policy : PolicyMix
    economies : tuple of str
        Empty means every economy in the calibration.
    horizon_years : int
    n_draws : int
    seed : int
    compare_to_baseline : bool
        Also simulate the baseline on the same shocks.
    block_size : int
    shock_scale : float
        Scale of the shocks along the path (research, lumpiness, macro,
        fragmentation events), in [0, 1]: 1 for the documented priors.
    parameter_scale : float
        Scale of the spread of the per-draw parameters (theta, beta, lever
        efficacy), in [0, 1]: 1 for the documented priors. Both scales 0 give
        the deterministic path.
    quantiles : tuple of float
        Levels in (0, 1) to summarise (the defaults are always added: the fan
        chart and headline table use them).
    thresholds : tuple of float
        Annual TFP growth rates for P(growth > threshold), in [-1, 1].
    """

    policy: PolicyMix = field(default_factory=lambda: PRESETS["baseline"])
    economies: tuple[str, ...] = ()
    horizon_years: int = 30
    n_draws: int = 10_000
    seed: int = 0
    compare_to_baseline: bool = True
    block_size: int = DEFAULT_BLOCK_SIZE
    shock_scale: float = 1.0
    parameter_scale: float = 1.0
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS

    def __post_init__(self) -> None:
        checks = [
            ("n_draws", 1 <= self.n_draws <= MAX_DRAWS, f"must be in [1, {MAX_DRAWS}]"),
            ("horizon_years", 1 <= self.horizon_years <= MAX_HORIZON_YEARS,
             f"must be in [1, {MAX_HORIZON_YEARS}]"),
            ("seed", 0 <= self.seed < 2**63, "must be in [0, 2**63)"),
            ("block_size", 1 <= self.block_size <= 100_000, "must be in [1, 100000]"),
            ("shock_scale", 0.0 <= self.shock_scale <= 1.0, "must be in [0, 1]"),
            ("parameter_scale", 0.0 <= self.parameter_scale <= 1.0, "must be in [0, 1]"),
            ("quantiles", 1 <= len(self.quantiles) <= MAX_LEVELS and all(0 < q < 1 for q in self.quantiles),
             f"must be 1 to {MAX_LEVELS} levels, each in (0, 1)"),
            ("thresholds", 1 <= len(self.thresholds) <= MAX_LEVELS
             and all(-1 <= t <= 1 for t in self.thresholds),
             f"must be 1 to {MAX_LEVELS} growth rates, each in [-1, 1]"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise RequestError(name, f"{message}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, object]:
        """Plain, JSON-ready form (recorded in outputs): every field, tuples as lists."""
        plain: dict[str, object] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            plain[item.name] = value.to_dict() if isinstance(value, PolicyMix) else (
                list(value) if isinstance(value, tuple) else value
            )
        return plain

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ForecastRequest:
        """Inverse of :meth:`to_dict`, for records this package wrote.

        User input goes through ``api.schema``, which names bad fields.
        """
        values: dict[str, Any] = {
            item.name: tuple(data[item.name]) if isinstance(data[item.name], list) else data[item.name]
            for item in dataclasses.fields(cls)
        }
        return cls(**{**values, "policy": policy_from_dict(data["policy"])})


def per_draw_cells(request: ForecastRequest, calibration: Calibration) -> int:
    """Draw x year x economy cells of the request's per-draw data (per variable and scenario)."""
    return request.n_draws * request.horizon_years * len(request.economies or calibration.economies)


def check_per_draw_size(request: ForecastRequest, calibration: Calibration, n_mixes: int = 1) -> None:
    """Refuse, before any work, a request whose every draw would not fit in memory.

    ``n_mixes`` policy mixes kept on the same draws (a comparison, an attribution) count
    ``n_mixes`` times.

    Raises
    ------
    RequestError
        If the request would keep more than :data:`MAX_CELLS` per-draw cells.
    """
    cells = per_draw_cells(request, calibration) * n_mixes
    if cells > MAX_CELLS:
        n_economies = len(request.economies or calibration.economies)
        mixes = f" x {n_mixes} policy mixes" if n_mixes > 1 else ""
        raise RequestError(
            "n_draws",
            f"{request.n_draws} draws x {request.horizon_years} years x {n_economies} economies{mixes} = "
            f"{cells:,} cells exceeds the limit of {MAX_CELLS:,} kept per draw "
            f"(e.g. 100,000 draws x 30 years x 12 economies)",
        )
