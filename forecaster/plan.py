"""The plan of a run: its inputs, blocks of draws with a spawned seed each, and tasks.

A forecast of ``n_draws`` is cut into blocks of ``block_size`` draws; block
``k`` draws its shocks from ``default_rng(SeedSequence(seed).spawn(n_blocks)[k])``.
A block's result depends only on the request and its index, so the forecast
is bit-identical however blocks are grouped into tasks or spread over workers.
Consecutive blocks are grouped into tasks (:func:`group_blocks`); a task is a
pure module-level function of (inputs, blocks), such as :func:`simulate_blocks`,
which an executor (:mod:`~forecaster.engine`) may run anywhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecaster.arrays import FloatArray
from forecaster.calibration import Calibration
from forecaster.kernel import Paths, simulate
from forecaster.params import DEFAULT_ASSUMPTIONS, Assumptions, ModelParams, build_params
from forecaster.policy import PRESETS, PolicyMix
from forecaster.request import ForecastRequest
from forecaster.shocks import draw_shocks

#: Smallest work per task, in draw x year x economy cells simulated, the baseline's counted too:
#: about 100 ms of kernel time on one core (0.17-0.28 us a cell for 2 to 12 economies,
#: docs/performance.md, "Task size"); smaller tasks spend a visible share of their time in Ray's
#: overhead.
MIN_TASK_CELLS = 500_000
#: Groups of the smallest size that end a run of larger ones (see :func:`group_blocks`).
TAPER_GROUPS = 8


@dataclass(frozen=True)
class Block:
    """One block of draws: its index, first draw, size and seed."""

    index: int
    start: int
    size: int
    seed: np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class SimulationInputs:
    """What every block of one forecast shares: parameters and uncertainty scales.

    ``baseline`` is simulated on the same shocks as ``policy`` (common random
    numbers), so their difference carries no sampling noise from the shocks.
    """

    policy: ModelParams
    baseline: ModelParams | None
    shock_scale: float = 1.0
    parameter_scale: float = 1.0

    @property
    def cells_per_draw(self) -> int:
        """Year x economy cells the kernel simulates for one draw, the baseline's included."""
        cells = len(self.policy.years) * len(self.policy.economies)
        return cells if self.baseline is None else 2 * cells


@dataclass(frozen=True, eq=False)
class BlockResult:
    """Paths of one block under the policy and (optionally) the baseline, and what its draws drew.

    ``drawn`` holds the per-draw random inputs of :data:`~forecaster.outcomes.DRAWN`,
    shared by both scenarios, so that outcomes can be sliced by them.
    """

    index: int
    policy: Paths
    baseline: Paths | None
    drawn: dict[str, FloatArray]


def build_inputs(
    request: ForecastRequest,
    calibration: Calibration,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> SimulationInputs:
    """Build the parameters of a request (policy and, if asked, baseline).

    Raises
    ------
    RequestError, PolicyError
        If the request's economies or lever timing do not fit the calibration.
    """
    mixes = [request.policy, PRESETS["baseline"]] if request.compare_to_baseline else [request.policy]
    built = build_mix_inputs(request, mixes, calibration, assumptions).mixes
    policy, baseline = built[0], (built[1] if len(built) > 1 else None)
    return SimulationInputs(policy, baseline, request.shock_scale, request.parameter_scale)


def plan_blocks(n_draws: int, seed: int, block_size: int) -> list[Block]:
    """Cut ``n_draws`` into blocks of ``block_size`` (the last may be smaller), seeding each.

    Seeds come from ``SeedSequence(seed).spawn(n_blocks)``: one stream per block
    of draws, never per worker.
    """
    n_blocks = -(-n_draws // block_size)
    seeds = np.random.SeedSequence(seed).spawn(n_blocks)
    return [
        Block(k, k * block_size, min(block_size, n_draws - k * block_size), seeds[k])
        for k in range(n_blocks)
    ]


def group_blocks(
    blocks: Sequence[Block], cells_per_draw: int, max_groups: int | None = None,
    min_task_cells: int = MIN_TASK_CELLS,
) -> list[list[Block]]:
    """Group consecutive blocks into tasks.

    Every group but the last simulates at least ``min_task_cells`` cells
    (``smallest`` blocks), given the cells one draw costs
    (:attr:`SimulationInputs.cells_per_draw`). With ``max_groups`` (fewer,
    larger tasks mean fewer partial results to send back and merge), groups
    hold at least ``ceil(len(blocks) / max_groups)`` blocks; when that is more
    than ``smallest``, the run ends with :data:`TAPER_GROUPS` groups of
    ``smallest`` blocks, so that workers run out of work close together
    rather than one waiting for the last large task, and the blocks before
    them are spread evenly over at most ``max_groups`` groups. Grouping never
    changes results: every block has its own seed.
    """
    smallest = math.ceil(min_task_cells / max(1, blocks[0].size * cells_per_draw)) if blocks else 1
    size = smallest if max_groups is None else max(smallest, math.ceil(len(blocks) / max_groups))
    n_tapered = TAPER_GROUPS * smallest
    n_large = (len(blocks) - n_tapered) // size if size > smallest else 0
    if n_large == 0:
        return [list(blocks[i : i + size]) for i in range(0, len(blocks), size)]
    bulk = len(blocks) - n_tapered
    edges = [-(-bulk * k // n_large) for k in range(n_large + 1)]  # sizes differ by at most one
    return [list(blocks[a:b]) for a, b in itertools.pairwise(edges)] + [
        list(blocks[i : i + smallest]) for i in range(bulk, len(blocks), smallest)
    ]


def simulate_block(inputs: SimulationInputs, block: Block) -> BlockResult:
    """Draw one block's shocks from its own seed and simulate it (pure, deterministic)."""
    rng = np.random.default_rng(block.seed)
    shocks = draw_shocks(rng, inputs.policy, block.size, inputs.shock_scale, inputs.parameter_scale)
    baseline = simulate(inputs.baseline, shocks) if inputs.baseline is not None else None
    drawn = {"theta": shocks.theta, "beta": shocks.beta, "efficacy": shocks.efficacy,
             "fragmentation_jump": shocks.fragmentation}
    return BlockResult(block.index, simulate(inputs.policy, shocks), baseline, drawn)


def simulate_blocks(inputs: SimulationInputs, blocks: Sequence[Block]) -> list[BlockResult]:
    """Simulate a group of blocks, keeping every draw: the task of :func:`~forecaster.run_forecast`."""
    return [simulate_block(inputs, block) for block in blocks]


#: Outcomes kept for every mix when several mixes run on the same draws (:func:`simulate_mix_blocks`).
MIX_OUTCOMES = ("tfp", "tfp_growth", "nqpf", "real_income")


@dataclass(frozen=True, eq=False)
class MixInputs:
    """What every block shares when several policy mixes run on the same draws.

    Every mix is simulated on the same shocks (common random numbers), so the
    differences between mixes carry no sampling noise from the shocks.
    """

    mixes: tuple[ModelParams, ...]
    shock_scale: float = 1.0
    parameter_scale: float = 1.0

    @property
    def cells_per_draw(self) -> int:
        """Year x economy cells the kernel simulates for one draw, every mix counted."""
        first = self.mixes[0]
        return len(self.mixes) * len(first.years) * len(first.economies)


@dataclass(frozen=True, eq=False)
class MixBlockResult:
    """The outcomes of one block under every mix: ``values[name]`` has shape (mixes, D, T, N)."""

    index: int
    values: dict[str, FloatArray]


def build_mix_inputs(
    request: ForecastRequest,
    mixes: Sequence[PolicyMix],
    calibration: Calibration,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> MixInputs:
    """Build the parameters of each mix with the request's economies and horizon (its policy unused).

    Raises
    ------
    RequestError, PolicyError
        If a mix's economies or lever timing do not fit the calibration.
    """
    economies = request.economies or None
    params = tuple(
        build_params(calibration, mix, economies=economies, horizon_years=request.horizon_years,
                     assumptions=assumptions)
        for mix in mixes
    )
    return MixInputs(params, request.shock_scale, request.parameter_scale)


def simulate_mix_blocks(inputs: MixInputs, blocks: Sequence[Block]) -> list[MixBlockResult]:
    """Simulate every mix on each block's shocks, keeping :data:`MIX_OUTCOMES`: a task."""
    results = []
    for block in blocks:
        rng = np.random.default_rng(block.seed)
        # The shocks depend on the priors and shapes only, which every mix shares.
        shocks = draw_shocks(rng, inputs.mixes[0], block.size, inputs.shock_scale, inputs.parameter_scale)
        paths = [simulate(params, shocks) for params in inputs.mixes]
        values = {name: np.stack([getattr(p, name) for p in paths]) for name in MIX_OUTCOMES}
        results.append(MixBlockResult(block.index, values))
    return results
