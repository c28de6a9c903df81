"""Comparing policies on the same draws: paired differences, P(A beats B), P(ranks first).

Every policy is simulated on the same shocks (common random numbers,
:func:`~forecaster.engine.run_mixes`), so a difference between two policies
is taken draw by draw and carries no sampling noise from the shocks: its
Monte-Carlo standard error is that of the paired difference, usually far
smaller than either forecast's spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import xarray as xr

from forecaster.calibration import Calibration, load_calibration
from forecaster.engine import Executor, ProgressCallback, run_mixes
from forecaster.errors import FieldError, RequestError
from forecaster.plan import MIX_OUTCOMES, build_mix_inputs
from forecaster.policy import PolicyMix
from forecaster.request import ForecastRequest, check_per_draw_size
from forecaster.summaries import mean_and_mcse

MIN_POLICIES, MAX_POLICIES = 2, 6


def check_comparison(
    request: ForecastRequest, policies: Sequence[PolicyMix], calibration: Calibration
) -> None:
    """Check a comparison before any work.

    Raises
    ------
    RequestError
        If there are fewer than 2 or more than 6 policies, two share a name, a
        policy does not fit the calibration, or the draws of every policy would
        not fit in memory.
    """
    if not MIN_POLICIES <= len(policies) <= MAX_POLICIES:
        limits = f"must be {MIN_POLICIES} to {MAX_POLICIES} policies"
        raise RequestError("policies", f"{limits}, got {len(policies)}")
    names = [policy.name for policy in policies]
    if len(set(names)) != len(names):
        raise RequestError("policies", f"must have distinct names (they label the results), got {names!r}")
    check_per_draw_size(request, calibration, len(policies))
    for index, policy in enumerate(policies):
        try:
            build_mix_inputs(request, [policy], calibration)
        except FieldError as error:
            field = error.field.replace("policy", f"policies[{index}]", 1)
            raise RequestError(field, error.message) from None


def compare(
    request: ForecastRequest,
    policies: Sequence[PolicyMix],
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Compare 2 to 6 policies on the same draws, per economy and year.

    Parameters
    ----------
    request : ForecastRequest
        Economies, horizon, draws, seed and scales; its own policy is not used.
    policies : sequence of PolicyMix
        Told apart by their names, which must differ.
    calibration, executor, on_progress, should_cancel
        As for :func:`~forecaster.run_forecast`.

    Returns
    -------
    xarray.Dataset
        For each outcome ``X`` of :data:`~forecaster.plan.MIX_OUTCOMES`:
        ``X_mean`` and ``X_mcse`` (policy, year, economy), and the paired
        difference ``X_difference`` = policy - other and its
        ``X_difference_mcse`` (policy, other, year, economy). ``prob_beats``
        (policy, other, year, economy): P(TFP level under policy > under
        other, on the same draw), with ``prob_beats_mcse``. ``prob_first``
        (policy, year, economy): P(policy has the highest TFP level of all,
        ties shared equally), with ``prob_first_mcse``; it sums to 1 over
        ``policy``.

    Raises
    ------
    RequestError
        If there are fewer than 2 or more than 6 policies, two share a name,
        or the draws of every policy would not fit in memory.
    """
    calibration = calibration or load_calibration()
    check_comparison(request, policies, calibration)
    runs = run_mixes(request, policies, calibration, executor, on_progress, should_cancel)
    runs = runs.rename(mix="policy")
    names = list(runs.policy.values)
    out: dict[str, xr.DataArray] = {}

    def paired(per_draw: Callable[[str, str], xr.DataArray]) -> tuple[xr.DataArray, xr.DataArray]:
        """Mean and MCSE of ``per_draw(policy, other)`` for every pair, by dims (policy, other)."""
        rows = [[mean_and_mcse(per_draw(a, b)) for b in names] for a in names]
        stacked = [xr.concat([xr.concat([cell[k] for cell in row], "other") for row in rows], "policy")
                   for k in (0, 1)]
        return tuple(s.assign_coords(policy=names, other=names) for s in stacked)  # type: ignore[return-value]

    for name in MIX_OUTCOMES:
        values = runs[name]

        def difference(a: str, b: str, values: xr.DataArray = values) -> xr.DataArray:
            return values.sel(policy=a) - values.sel(policy=b)

        out[f"{name}_mean"], out[f"{name}_mcse"] = mean_and_mcse(values)
        out[f"{name}_difference"], out[f"{name}_difference_mcse"] = paired(difference)
        for key in (f"{name}_mean", f"{name}_mcse", f"{name}_difference", f"{name}_difference_mcse"):
            out[key].attrs = dict(values.attrs)
    tfp = runs["tfp"]
    out["prob_beats"], out["prob_beats_mcse"] = paired(
        lambda a, b: (tfp.sel(policy=a) > tfp.sel(policy=b)).astype(float)
    )
    top = (tfp == tfp.max("policy")).astype(float)
    out["prob_first"], out["prob_first_mcse"] = mean_and_mcse(top / top.sum("policy"))
    labels = {"prob_beats": "P(TFP level under policy > under other, same draw)",
              "prob_first": "P(policy has the highest TFP level, ties shared)"}
    for key, long_name in labels.items():
        for variable in (key, f"{key}_mcse"):
            out[variable].attrs = {"units": "1", "long_name": long_name}
    compared = xr.Dataset(out)
    compared.attrs = {**runs.attrs, "policies": ",".join(names)}
    return compared
