"""Plan and run a forecast: fixed-size blocks of draws, one spawned seed each.

A forecast of ``n_draws`` is cut into blocks of ``block_size`` draws; block
``k`` draws its shocks from ``default_rng(SeedSequence(seed).spawn(n_blocks)[k])``.
A block's result depends only on the request and its index, so the forecast
is bit-identical however blocks are grouped into tasks or spread over workers.
The forecaster groups consecutive blocks into tasks (:func:`group_blocks`) and
names the pure function each task runs; executors (serial here, Ray in
:mod:`cluster`) only decide where tasks run and hand results back as they finish.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from forecaster.calibration import Calibration
from forecaster.errors import CancelledError, RequestError
from forecaster.kernel import Paths, simulate
from forecaster.params import DEFAULT_ASSUMPTIONS, Assumptions, ModelParams, build_params
from forecaster.policy import PRESETS, PolicyMix, policy_from_dict
from forecaster.shocks import draw_shocks
from forecaster.summary import DEFAULT_QUANTILES, DEFAULT_THRESHOLDS

#: Draws per block: part of the reproducibility contract (recorded in outputs).
DEFAULT_BLOCK_SIZE = 1000
#: Upper bound on draws for one request (larger work is refused before it runs).
MAX_DRAWS = 1_000_000
MAX_HORIZON_YEARS = 100
MAX_LEVELS = 20
#: Most draw x year x economy cells :func:`~forecaster.run_forecast` may keep per draw (about
#: 5 GB with every variable, channel and the baseline): 100,000 draws x 30 years x 12 economies.
MAX_CELLS = 36_000_000
#: Smallest work per task, in draw x year x economy cells simulated, the baseline's counted too:
#: about 100 ms of kernel time on one core (0.17-0.28 us a cell for 2 to 12 economies,
#: docs/performance.md, "Task size"); smaller tasks spend a visible share of their time in Ray's
#: overhead.
MIN_TASK_CELLS = 500_000
#: Groups of the smallest size that end a run of larger ones (see :func:`group_blocks`).
TAPER_GROUPS = 8

ProgressCallback = Callable[[int, int], None]
Job = TypeVar("Job")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Block:
    """One block of draws: its index, first draw, size and seed."""

    index: int
    start: int
    size: int
    seed: np.random.SeedSequence


@dataclass(frozen=True, eq=False)
class BlockJob:
    """What every block of one forecast shares: parameters and uncertainty scale.

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
    """Paths of one block under the policy and (optionally) the baseline."""

    index: int
    policy: Paths
    baseline: Paths | None


def simulate_block(job: BlockJob, block: Block) -> BlockResult:
    """Draw one block's shocks from its own seed and simulate it (pure, deterministic)."""
    rng = np.random.default_rng(block.seed)
    shocks = draw_shocks(rng, job.policy, block.size, job.shock_scale, job.parameter_scale)
    baseline = simulate(job.baseline, shocks) if job.baseline is not None else None
    return BlockResult(block.index, simulate(job.policy, shocks), baseline)


def simulate_blocks(job: BlockJob, blocks: Sequence[Block]) -> list[BlockResult]:
    """Simulate a group of blocks, keeping every draw: the task of :func:`~forecaster.run_forecast`."""
    return [simulate_block(job, block) for block in blocks]


def plan_blocks(n_draws: int, seed: int, block_size: int = DEFAULT_BLOCK_SIZE) -> list[Block]:
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
    blocks: Sequence[Block], cells_per_draw: int, max_groups: int | None = None
) -> list[list[Block]]:
    """Group consecutive blocks into tasks.

    Every group but the last simulates at least :data:`MIN_TASK_CELLS` cells
    (``smallest`` blocks), given the cells one draw costs
    (:attr:`BlockJob.cells_per_draw`). With ``max_groups`` (fewer, larger tasks
    mean fewer partial results to send back and merge), groups hold at least
    ``ceil(len(blocks) / max_groups)`` blocks; when that is more than
    ``smallest``, the run ends with :data:`TAPER_GROUPS` groups of
    ``smallest`` blocks, so that workers run out of work close together
    rather than one waiting for the last large task, and the blocks before
    them are spread evenly over at most ``max_groups`` groups. Grouping never
    changes results: every block has its own seed.
    """
    smallest = math.ceil(MIN_TASK_CELLS / max(1, blocks[0].size * cells_per_draw)) if blocks else 1
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


class Executor(Protocol):
    """Runs a pure task over groups of blocks, handing each result back as it finishes."""

    def map_groups(
        self,
        task: Callable[[Job, Sequence[Block]], Result],
        job: Job,
        groups: Sequence[Sequence[Block]],
        on_result: Callable[[Result], None],
        on_progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Call ``on_result(task(job, group))`` once for every group, in any order.

        ``task`` is a module-level function (so it can run in another process)
        and pure: running it twice on the same group gives the same result, so
        a task may be retried. ``on_result`` runs in the caller's process, one
        result at a time, so results can be merged as they arrive and need not
        all be held at once. ``on_progress(done, total)`` counts blocks;
        ``should_cancel`` is polled between results and, when it returns True,
        :class:`~forecaster.errors.CancelledError` is raised.
        """
        ...


class SerialExecutor:
    """Runs groups one after another in this process."""

    def map_groups(
        self,
        task: Callable[[Job, Sequence[Block]], Result],
        job: Job,
        groups: Sequence[Sequence[Block]],
        on_result: Callable[[Result], None],
        on_progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Run every group in order; see :class:`Executor`."""
        total = sum(len(group) for group in groups)
        done = 0
        for group in groups:
            if should_cancel is not None and should_cancel():
                raise CancelledError(f"cancelled after {done} of {total} blocks")
            on_result(task(job, group))
            done += len(group)
            if on_progress is not None:
                on_progress(done, total)


@dataclass(frozen=True)
class ForecastRequest:
    """A validated forecast request: the single input of :func:`run_forecast`.

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
        """Plain, JSON-ready form (recorded in outputs)."""
        return {
            "policy": self.policy.to_dict(),
            "economies": list(self.economies),
            "horizon_years": self.horizon_years,
            "n_draws": self.n_draws,
            "seed": self.seed,
            "compare_to_baseline": self.compare_to_baseline,
            "block_size": self.block_size,
            "shock_scale": self.shock_scale,
            "parameter_scale": self.parameter_scale,
            "quantiles": list(self.quantiles),
            "thresholds": list(self.thresholds),
        }

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ForecastRequest:
        """Inverse of :meth:`to_dict`, for records this package wrote.

        User input goes through ``api.schema``, which names bad fields.
        """
        return cls(
            policy=policy_from_dict(data["policy"]),
            economies=tuple(data["economies"]),
            horizon_years=data["horizon_years"],
            n_draws=data["n_draws"],
            seed=data["seed"],
            compare_to_baseline=data["compare_to_baseline"],
            block_size=data["block_size"],
            shock_scale=data["shock_scale"],
            parameter_scale=data["parameter_scale"],
            quantiles=tuple(data["quantiles"]),
            thresholds=tuple(data["thresholds"]),
        )


def per_draw_cells(request: ForecastRequest, calibration: Calibration) -> int:
    """Draw x year x economy cells of the request's per-draw data (per variable and scenario)."""
    return request.n_draws * request.horizon_years * len(request.economies or calibration.economies)


def check_per_draw_size(request: ForecastRequest, calibration: Calibration) -> None:
    """Refuse, before any work, a request whose every draw would not fit in memory.

    Raises
    ------
    RequestError
        If the request would keep more than :data:`MAX_CELLS` per-draw cells.
    """
    cells = per_draw_cells(request, calibration)
    if cells > MAX_CELLS:
        n_economies = len(request.economies or calibration.economies)
        raise RequestError(
            "n_draws",
            f"{request.n_draws} draws x {request.horizon_years} years x {n_economies} economies = "
            f"{cells:,} cells exceeds the limit of {MAX_CELLS:,} kept per draw "
            f"(e.g. 100,000 draws x 30 years x 12 economies)",
        )


def make_job(
    request: ForecastRequest,
    calibration: Calibration,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> BlockJob:
    """Build the parameters of a request (policy and, if asked, baseline).

    Raises
    ------
    RequestError, PolicyError
        If the request's economies or lever timing do not fit the calibration.
    """
    economies = request.economies or None
    policy = build_params(
        calibration, request.policy, economies=economies,
        horizon_years=request.horizon_years, assumptions=assumptions,
    )
    baseline = (
        build_params(
            calibration, PRESETS["baseline"], economies=economies,
            horizon_years=request.horizon_years, assumptions=assumptions,
        )
        if request.compare_to_baseline
        else None
    )
    return BlockJob(policy, baseline, request.shock_scale, request.parameter_scale)
