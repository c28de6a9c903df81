r"""Global sensitivity: how much of the spread of the horizon's TFP each group of random inputs explains.

Sobol' indices by groups, estimated with a pick-freeze design (Saltelli et
al. 2010) run through the executor. The groups are the kernel's random
inputs (:class:`~forecaster.shocks.Shocks`): the per-draw parameters
``theta``, ``beta`` and lever ``efficacy``, and the paths of ``research``
innovations, idea ``lumpiness``, ``macro`` shocks and ``fragmentation``
events. Each base draw :math:`j` draws two independent sets of inputs,
:math:`A_j` and :math:`B_j`, from the two streams spawned by its block's
seed; :math:`A_B^{(g)}` is :math:`A` with group :math:`g` taken from
:math:`B`. With :math:`f` the outcome, SALib's estimators give

.. math::

    S_g = \frac{\mathrm{E}[f(B)\,(f(A_B^{(g)}) - f(A))]}{\mathrm{Var} f}, \qquad
    S_{T,g} = \frac{\mathrm{E}[(f(A) - f(A_B^{(g)}))^2]}{2\,\mathrm{Var} f},

the first-order index (the share of the variance explained by the group
alone) and the total index (including its interactions), with bootstrap
confidence intervals.

**Why a design rather than given data.** Most of the model's randomness is in
whole paths (a draw's research, macro and fragmentation shocks are
:math:`T \times N` numbers), which a given-data estimator, regressing the
outcome on scalar inputs, cannot treat as one group; and given-data
estimators give first-order indices only. Swapping whole groups gives both
indices for any group, unbiased, at the cost of :math:`(G + 2)` simulations
per base draw (twice that for the policy effect, which also simulates the
baseline).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from SALib.analyze import sobol

from forecaster.arrays import FloatArray
from forecaster.calibration import Calibration, load_calibration
from forecaster.engine import Executor, ProgressCallback, SerialExecutor, run_tasks
from forecaster.errors import RequestError
from forecaster.kernel import simulate
from forecaster.outcomes import provenance
from forecaster.plan import Block, SimulationInputs, build_inputs, group_blocks, plan_blocks
from forecaster.request import ForecastRequest, check_per_draw_size
from forecaster.shocks import PARAMETERS, Shocks, draw_shocks

#: Groups of random inputs, in the order of :class:`~forecaster.shocks.Shocks`.
GROUPS = tuple(field.name for field in dataclasses.fields(Shocks))
#: Outputs whose variance is decomposed: the horizon's TFP level and, with a baseline, its
#: difference from the baseline's on the same inputs (the policy effect).
OUTPUTS = ("tfp", "tfp_effect")
#: Bootstrap resamples of the confidence intervals, and their level.
RESAMPLES, CONFIDENCE = 200, 0.95


@dataclass(frozen=True, eq=False)
class DesignInputs:
    """What every block of a pick-freeze design shares."""

    simulation: SimulationInputs
    groups: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class DesignResult:
    """One block's horizon outcomes, shape (G + 2, D, N): ``A``, each ``A_B`` by group, then ``B``."""

    index: int
    outputs: dict[str, FloatArray]


def design_blocks(inputs: DesignInputs, blocks: Sequence[Block]) -> list[DesignResult]:
    """Simulate each block's ``A``, ``A_B`` and ``B`` inputs under the policy (and baseline): a task."""
    simulation = inputs.simulation
    results = []
    for block in blocks:
        # The two children SeedSequence.spawn would give, built without spawning: spawn counts its
        # children in the (shared) block seed, and a task must give the same result when rerun.
        a, b = (
            draw_shocks(np.random.default_rng(np.random.SeedSequence(
                block.seed.entropy, spawn_key=(*block.seed.spawn_key, stream))), simulation.policy,
                block.size, simulation.shock_scale, simulation.parameter_scale)
            for stream in (0, 1)
        )
        designs = [a, *(dataclasses.replace(a, **{g: getattr(b, g)}) for g in inputs.groups), b]
        level = np.stack([simulate(simulation.policy, shocks).tfp[:, -1] for shocks in designs])
        outputs = {"tfp": level}
        if simulation.baseline is not None:
            baseline = np.stack([simulate(simulation.baseline, shocks).tfp[:, -1] for shocks in designs])
            outputs["tfp_effect"] = level - baseline
        results.append(DesignResult(block.index, outputs))
    return results


def sobol_indices(outputs: FloatArray, groups: Sequence[str], seed: int) -> dict[str, FloatArray]:
    """First-order and total Sobol' indices of each group, with bootstrap half-widths, by SALib.

    Parameters
    ----------
    outputs : ndarray, shape (G + 2, M)
        :math:`f(A)`, :math:`f(A_B^{(g)})` for each group, then :math:`f(B)`, for M base draws.
    groups : sequence of str
        G names.
    seed : int
        Seed of the bootstrap resamples.

    Returns
    -------
    dict of str to ndarray, shape (G,)
        ``first_order``, ``first_order_conf``, ``total_order``, ``total_order_conf``
        (half-widths of the :data:`CONFIDENCE` intervals). NaN when the output does not vary.
    """
    if not np.ptp(outputs) > 0:
        nothing = np.full(len(groups), np.nan)
        return dict.fromkeys(("first_order", "first_order_conf", "total_order", "total_order_conf"), nothing)
    problem = {"num_vars": len(groups), "names": list(groups), "bounds": [[0.0, 1.0]] * len(groups)}
    # SALib reads base draw j's outputs from rows j (G + 2) to (j + 1)(G + 2) - 1.
    found = sobol.analyze(problem, np.ascontiguousarray(outputs.T).ravel(), calc_second_order=False,
                          num_resamples=RESAMPLES, conf_level=CONFIDENCE, seed=seed + 1)
    return {"first_order": found["S1"], "first_order_conf": found["S1_conf"],
            "total_order": found["ST"], "total_order_conf": found["ST_conf"]}


def check_sensitivity(
    request: ForecastRequest, groups: Sequence[str] | None, calibration: Calibration
) -> DesignInputs:
    """Check a sensitivity analysis before any work and return what its tasks share.

    Raises
    ------
    RequestError
        If a group is unknown or repeated, or the design would not fit in
        memory; the request's own errors as for a forecast.
    """
    chosen = tuple(GROUPS if groups is None else groups)
    if not chosen or set(chosen) - set(GROUPS) or len(set(chosen)) != len(chosen):
        raise RequestError("groups", f"must be distinct names among {list(GROUPS)}, got {list(chosen)!r}")
    check_per_draw_size(request, calibration, len(chosen) + 2)
    return DesignInputs(build_inputs(request, calibration), chosen)


def sensitivity(
    request: ForecastRequest,
    groups: Sequence[str] | None = None,
    calibration: Calibration | None = None,
    executor: Executor | None = None,
    on_progress: ProgressCallback | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> xr.Dataset:
    """Sobol' indices of the horizon's TFP level (and the policy effect) by group of random inputs.

    Parameters
    ----------
    request : ForecastRequest
        ``n_draws`` base draws, each costing ``len(groups) + 2`` simulations
        (twice that with ``compare_to_baseline``, which adds the policy effect).
    groups : sequence of str, optional
        Among :data:`GROUPS` (default all). Inputs outside them stay those of
        ``A``: indices of the groups named do not depend on which others are.
    calibration, executor, on_progress, should_cancel
        As for :func:`~forecaster.run_forecast`.

    Returns
    -------
    xarray.Dataset
        ``first_order``, ``total_order`` and their ``_conf`` half-widths, dims
        (``output``, ``group``, ``economy``), ``output`` among :data:`OUTPUTS`;
        ``variance`` (``output``, ``economy``), the output's variance. The
        group's ``kind`` coordinate says ``parameter`` or ``shock``.

    Raises
    ------
    RequestError
        If a group is unknown, or the design would not fit in memory.
    """
    calibration = calibration or load_calibration()
    inputs = check_sensitivity(request, groups, calibration)
    chosen = inputs.groups
    blocks = plan_blocks(request.n_draws, request.seed, request.block_size)
    results: list[DesignResult] = []
    cells = inputs.simulation.cells_per_draw * (len(chosen) + 2)
    run_tasks(executor or SerialExecutor(), design_blocks, inputs, group_blocks(blocks, cells),
              results.extend, on_progress, should_cancel)
    ordered = sorted(results, key=lambda result: result.index)
    names = [name for name in OUTPUTS if name in ordered[0].outputs]
    economies = list(inputs.simulation.policy.economies)
    indices: dict[str, list[list[FloatArray]]] = {}
    variance = []
    for name in names:
        outputs = np.concatenate([result.outputs[name] for result in ordered], axis=1)  # (G + 2, M, N)
        per_economy = [sobol_indices(outputs[:, :, n], chosen, request.seed) for n in range(len(economies))]
        for key in per_economy[0]:
            indices.setdefault(key, []).append([found[key] for found in per_economy])
        variance.append(np.concatenate([outputs[0], outputs[-1]]).var(axis=0, ddof=1))
    data_vars = {key: (("output", "economy", "group"), np.asarray(values)) for key, values in indices.items()}
    found = xr.Dataset(
        {**data_vars, "variance": (("output", "economy"), np.asarray(variance))},
        coords={"output": names, "economy": economies, "group": list(chosen),
                "kind": ("group", ["parameter" if g in PARAMETERS else "shock" for g in chosen])},
        attrs={**provenance(request, calibration),
               "method": "Sobol' indices by group, pick-freeze design (Saltelli et al. 2010), SALib "
                         f"estimators, {RESAMPLES} bootstrap resamples, {CONFIDENCE:.0%} intervals",
               "outcome": "TFP level in the horizon's last year against the base year"},
    )
    return found.transpose("output", "group", "economy")
