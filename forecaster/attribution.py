r"""Lever attribution: a mix's effect against the baseline shared among its levers by exact Shapley values.

The players are the mix's levers that act (intensity above 0), and
fragmentation when the mix sets it. Every sub-mix :math:`S` of the :math:`k`
players (:math:`2^k` of them, 32 at most) is simulated on the same draws
(common random numbers, :func:`~forecaster.engine.run_mixes`): it keeps the
levers of :math:`S` as the mix sets them and the others at intensity 0, so the
empty sub-mix is the baseline. For an outcome :math:`X` in a draw, year and
economy, with :math:`v(S)` its value under :math:`S`, lever :math:`i` gets

.. math::

    \phi_i = \sum_{S \subseteq N \setminus \{i\}}
             \frac{|S|!\,(k - |S| - 1)!}{k!}\,\bigl[v(S \cup \{i\}) - v(S)\bigr],

which sums over levers to the total effect :math:`v(N) - v(\emptyset)`
(efficiency), gives exactly 0 to a lever that changes nothing (dummy), and
the same to two levers that enter alike (symmetry). The interaction is the
total minus the sum of the levers' effects alone, :math:`v(\{i\}) - v(\emptyset)`.
Values are computed draw by draw and averaged over draws; Monte-Carlo standard
errors come from their spread over draws. Shapley values are linear in
:math:`v`, so the mean contribution is the Shapley value of the mean outcome.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from forecaster.arrays import FloatArray
from forecaster.calibration import Calibration, load_calibration
from forecaster.engine import Executor, ProgressCallback, run_mixes
from forecaster.errors import RequestError
from forecaster.plan import MIX_OUTCOMES, build_inputs
from forecaster.policy import LEVERS, PolicyMix
from forecaster.request import ForecastRequest, check_per_draw_size
from forecaster.summaries import mean_and_mcse

#: What can be a player: the four levers and the fragmentation stress.
PLAYERS = (*LEVERS, "fragmentation")


def shapley_values(values: FloatArray) -> FloatArray:
    r"""Shapley values of every player from the worth of every coalition.

    Parameters
    ----------
    values : ndarray, shape (..., 2**k)
        :math:`v(S)` along the last axis, coalition ``S`` at index ``mask``,
        whose set bits are its members (player ``i`` is bit ``i``).

    Returns
    -------
    ndarray, shape (..., k)
        :math:`\phi_i = \sum_S w(|S|)\,[v(S \cup \{i\}) - v(S)]` over coalitions
        without ``i``, :math:`w(s) = s!\,(k - s - 1)!/k!`. Each marginal
        difference is taken before it is weighed, so a player whose presence
        changes no value gets exactly 0.
    """
    n_players = (values.shape[-1] - 1).bit_length()
    if values.shape[-1] != 2**n_players:
        raise ValueError(f"the last axis must hold 2**k coalitions, got {values.shape[-1]}")
    phi = np.zeros((*values.shape[:-1], n_players))
    for player in range(n_players):
        bit = 1 << player
        for mask in range(2**n_players):
            if not mask & bit:
                size = mask.bit_count()
                orders = math.factorial(size) * math.factorial(n_players - size - 1)
                weight = orders / math.factorial(n_players)
                phi[..., player] += weight * (values[..., mask | bit] - values[..., mask])
    return phi


def active_players(policy: PolicyMix) -> tuple[str, ...]:
    """Return the levers of ``policy`` that act (intensity above 0), and fragmentation if it is set."""
    return tuple(name for name in PLAYERS if getattr(policy, name).intensity > 0)


def sub_mixes(policy: PolicyMix, players: Sequence[str]) -> list[PolicyMix]:
    """Every sub-mix of ``players``, by bit mask: the others' intensity set to 0."""
    mixes = []
    for mask in range(2 ** len(players)):
        kept = [name for j, name in enumerate(players) if mask & (1 << j)]
        off = {name: dataclasses.replace(getattr(policy, name), intensity=0.0)
               for name in players if name not in kept}
        mixes.append(dataclasses.replace(policy, **off, name="+".join(kept) or "none"))
    return mixes


def check_attribution(
    request: ForecastRequest, levers: Sequence[str] | None, calibration: Calibration
) -> tuple[str, ...]:
    """Check an attribution before any work and return its players.

    Raises
    ------
    RequestError
        If there is nothing to attribute, ``levers`` is invalid, or every
        sub-mix's draws would not fit in memory; the request's own errors
        (economies, lever timing) as for a forecast.
    """
    if levers is None:
        players = active_players(request.policy)
        if not players:
            raise RequestError("policy", "sets no lever above intensity 0: there is no effect to attribute")
    else:
        players = tuple(levers)
        if not players or set(players) - set(PLAYERS) or len(set(players)) != len(players):
            allowed = f"must be distinct names among {list(PLAYERS)}"
            raise RequestError("levers", f"{allowed}, got {list(levers)!r}")
    check_per_draw_size(request, calibration, 2 ** len(players))
    build_inputs(request, calibration)
    return players


def attribute(
    request: ForecastRequest,
    levers: Sequence[str] | None = None,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Attribute the effect of ``request.policy`` against the baseline to its levers.

    Parameters
    ----------
    request : ForecastRequest
        The mix, economies, horizon, draws and seed; ``compare_to_baseline``
        is not used (the baseline is always simulated, as the empty sub-mix).
    levers : sequence of str, optional
        The players, among :data:`PLAYERS`; default :func:`active_players`. A
        lever at intensity 0 may be named: it gets exactly 0.
    calibration, executor, on_progress, should_cancel
        As for :func:`~forecaster.run_forecast`; the :math:`2^k` sub-mixes of
        every block run in one task.

    Returns
    -------
    xarray.Dataset
        For each outcome ``X`` of :data:`~forecaster.plan.MIX_OUTCOMES`:
        ``X`` (lever, year, economy), the mean Shapley contribution of each
        lever, and ``X_mcse``; ``X_total`` (year, economy), the mean effect of
        the whole mix against the baseline, and ``X_total_mcse``;
        ``X_interaction`` (year, economy), the total minus the sum of the
        levers' effects alone, and ``X_interaction_mcse``. Attributes: those
        of the run.

    Raises
    ------
    RequestError
        If there is nothing to attribute, ``levers`` is invalid, or every
        sub-mix's draws would not fit in memory.
    """
    calibration = calibration or load_calibration()
    players = check_attribution(request, levers, calibration)
    runs = run_mixes(request, sub_mixes(request.policy, players), calibration, executor, on_progress,
                     should_cancel)
    alone = [1 << j for j in range(len(players))]
    out: dict[str, xr.DataArray] = {}
    for name in MIX_OUTCOMES:
        values = runs[name].astype(np.float64)
        baseline = values.isel(mix=0, drop=True)
        total = values.isel(mix=-1, drop=True) - baseline
        interaction = total - (values.isel(mix=alone, drop=True) - baseline).sum("mix")
        shapley = xr.apply_ufunc(shapley_values, values, input_core_dims=[["mix"]],
                                 output_core_dims=[["lever"]])
        shapley = shapley.assign_coords(lever=list(players)).transpose("lever", ...)
        parts = {"": shapley, "_total": total, "_interaction": interaction}
        for suffix, per_draw in parts.items():
            out[f"{name}{suffix}"], out[f"{name}{suffix}_mcse"] = mean_and_mcse(per_draw)
            for key in (f"{name}{suffix}", f"{name}{suffix}_mcse"):
                out[key].attrs = {**runs[name].attrs, "attribution": suffix.strip("_") or "shapley"}
    attributed = xr.Dataset(out)
    attributed.attrs = {**runs.attrs, "levers": ",".join(players),
                        "method": "exact Shapley values over every sub-mix on common random numbers"}
    return attributed
