r"""Sketches: a run too large to keep every draw is summarised inside its tasks.

A task simulates its blocks one at a time and keeps only, for every summarised
variable (:data:`~forecaster.outcomes.SUMMARISED` of the policy and, when
compared, of the baseline and of the per-draw difference), year and economy:

- a histogram of :data:`N_BINS` equal bins. The bins are fixed before the run
  from a pilot, the first :data:`PILOT_DRAWS` draws: they span the pilot's
  range :math:`[a, b]` widened by half of it on each side, so each bin is
  :math:`h = (b - a) / 2048` wide. Values outside the bins are kept exactly;
- integer counts of the threshold and beats-baseline events;
- for each block: its number of draws, means, centred sums of squares and
  channel sums.

Counts add exactly in any order and the per-block moments are combined in
block order at the end, so the summary is bit-identical however blocks are
grouped into tasks, ordered, retried or spread over workers.

**Quantile error.** A quantile at level :math:`q` of :math:`M` draws
interpolates linearly between the order statistics of rank :math:`\lfloor
(M-1)q \rfloor` and the next (as :func:`~forecaster.summarize` does). Each
order statistic is estimated inside the bin that holds it, so the quantile is
within :math:`h` of the exact one (up to float rounding), and exact where the
order statistics lie outside the bins. A cell whose pilot values are all equal
gets a single zero-width bin holding exactly that value. Means, MCSEs and
channel means equal the exact ones up to float rounding; probabilities are
exact (counts over draws).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecaster.arrays import FloatArray
from forecaster.outcomes import SUMMARISED, SummaryStatistics
from forecaster.plan import Block, BlockResult, SimulationInputs, simulate_block

IntArray = npt.NDArray[np.int64]

#: Bins per variable, year and economy.
N_BINS = 4096
#: The run's first draws, which fix the bins (the pilot).
PILOT_DRAWS = 1000
#: Each side of the pilot's range is widened by this fraction of it.
GRID_MARGIN = 0.5
#: Most tasks of one run: each sends back a histogram, so fewer, larger tasks move less data.
MAX_GROUPS = 32
#: Positions in a block's values (see ``_block_values``) that the probabilities count:
#: the policy's TFP growth, and policy - baseline TFP.
_POLICY_GROWTH = SUMMARISED.index("tfp_growth")
_DIFF_TFP = 2 * len(SUMMARISED) + SUMMARISED.index("tfp")
#: How the summary was computed, recorded in its attributes.
METHOD_ATTRS = {
    "summary_method": "histogram",
    "quantile_resolution": (
        f"{N_BINS} bins per variable, year and economy spanning the range of the first "
        f"{PILOT_DRAWS} draws widened by half of it on each side; |quantile error| <= bin width "
        f"= (max - min of those draws) / {round(N_BINS / (1 + 2 * GRID_MARGIN))}; values outside "
        "the bins are kept exactly"
    ),
}


def _block_values(result: BlockResult) -> tuple[list[FloatArray], list[FloatArray]]:
    """Return a block's summarised variables and channels, by scenario.

    Returns
    -------
    values : list of V ndarrays, shape (D, T, N)
        :data:`~forecaster.outcomes.SUMMARISED` for each scenario of
        :func:`scenario_prefixes`, variable fastest; the difference is
        policy - baseline draw by draw, as :func:`~forecaster.summarize` takes it.
    channels : list of S ndarrays, shape (D, T, N, C)
        Channel growth for each scenario.
    """
    policy, baseline = result.policy, result.baseline
    values = [getattr(policy, name) for name in SUMMARISED]
    channels = [policy.channel_growth]
    if baseline is not None:
        values += [getattr(baseline, name) for name in SUMMARISED]
        values += [getattr(policy, name) - getattr(baseline, name) for name in SUMMARISED]
        channels += [baseline.channel_growth, policy.channel_growth - baseline.channel_growth]
    return values, channels


@dataclass(frozen=True, eq=False)
class HistogramGrid:
    """Bins of every summarised variable, year and economy.

    Attributes
    ----------
    lower : ndarray, shape (V, T, N)
        Left edge of the first bin.
    width : ndarray, shape (V, T, N)
        Bin width :math:`h`; 0 where the pilot's values were all equal (one
        bin holding exactly ``lower``).
    """

    lower: FloatArray
    width: FloatArray


@dataclass(frozen=True, eq=False)
class SketchInputs:
    """What every task of a summarised run shares: the simulation, the bins and the thresholds."""

    simulation: SimulationInputs
    grid: HistogramGrid
    thresholds: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class BlockMoments:
    """Moments of one block, combined across blocks in block order.

    Attributes
    ----------
    index : int
    count : int
        Draws in the block.
    mean : ndarray, shape (V, T, N)
    m2 : ndarray, shape (V, T, N)
        Sum of squared deviations from the block's mean.
    channel_sum : ndarray, shape (S, T, N, C)
    """

    index: int
    count: int
    mean: FloatArray
    m2: FloatArray
    channel_sum: FloatArray


@dataclass(frozen=True, eq=False)
class GroupSketch:
    """The sketch of a group of blocks: what a task sends back, mergeable with others.

    Attributes
    ----------
    histogram : ndarray of uint16 (int32 past 65,535 draws), shape (V, T * N, N_BINS)
    below : ndarray of int64, shape (V, T, N)
        Values kept exactly because they lie below the bins.
    outlier_cell : ndarray of int64, shape (K,)
        Flat (V, T, N) index of each value kept exactly (below or above the bins).
    outlier_value : ndarray of float64, shape (K,)
    above_threshold : ndarray of int64, shape (T, N, thresholds)
        Draws with policy TFP growth above each threshold.
    beats_baseline : ndarray of int64, shape (T, N), or None
        Draws with policy TFP above the baseline's; None without a baseline.
    moments : tuple of BlockMoments
    """

    histogram: npt.NDArray[np.uint16] | npt.NDArray[np.int32]
    below: IntArray
    outlier_cell: IntArray
    outlier_value: FloatArray
    above_threshold: IntArray
    beats_baseline: IntArray | None
    moments: tuple[BlockMoments, ...]


def plan_sketch(
    simulation: SimulationInputs, blocks: Sequence[Block], thresholds: Sequence[float]
) -> SketchInputs:
    """Simulate the pilot here and fix the bins from it (see the module docstring).

    The pilot is the first :data:`PILOT_DRAWS` draws (all of them in smaller
    runs), so the bins depend only on the request. Its blocks are simulated
    again by their tasks.
    """
    n_pilot = int(np.searchsorted(np.cumsum([block.size for block in blocks]), PILOT_DRAWS)) + 1
    pilot = [_block_values(simulate_block(simulation, block))[0] for block in blocks[:n_pilot]]
    values = [np.concatenate(variable)[:PILOT_DRAWS] for variable in zip(*pilot, strict=True)]
    low = np.stack([x.min(axis=0) for x in values])
    spread = np.stack([x.max(axis=0) for x in values]) - low
    grid = HistogramGrid(low - GRID_MARGIN * spread, (1 + 2 * GRID_MARGIN) * spread / N_BINS)
    return SketchInputs(simulation, grid, tuple(thresholds))


def sketch_blocks(inputs: SketchInputs, blocks: Sequence[Block]) -> GroupSketch:
    """Simulate a group of blocks one at a time and reduce them: the task of a summarised run."""
    lower, width = inputs.grid.lower, inputs.grid.width
    n_vars, n_years, n_economies = lower.shape
    n_cells = n_years * n_economies
    # No bin of a task counts more than the task's draws: two-byte counts halve what the task
    # writes and its merger reads, the largest part of a task's cost besides simulating.
    fits_uint16 = sum(block.size for block in blocks) <= np.iinfo(np.uint16).max
    count_type = np.uint16 if fits_uint16 else np.int32
    histogram = np.zeros((n_vars, n_cells, N_BINS), count_type)
    below = np.zeros(lower.shape, np.int64)
    above = np.zeros((n_years, n_economies, len(inputs.thresholds)), np.int64)
    beats = None if inputs.simulation.baseline is None else np.zeros((n_years, n_economies), np.int64)
    # Offset of each (year, economy) cell's first bin in a variable's flat histogram.
    offsets = (np.arange(n_cells) * N_BINS).reshape(n_years, n_economies)
    zero_width = width == 0
    safe_width = np.where(zero_width, 1.0, width)
    outlier_cells: list[IntArray] = [np.zeros(0, np.int64)]
    outlier_values: list[FloatArray] = [np.zeros(0)]
    moments = []
    for block in blocks:
        values, channels = _block_values(simulate_block(inputs.simulation, block))
        # One variable at a time: its (D, T, N) arrays stay small enough for the cache.
        mean, m2 = np.empty(lower.shape), np.empty(lower.shape)
        for v, x in enumerate(values):
            # Bins are decided by the computed position alone, which is monotone in the
            # value: every value below the bins sorts before every binned value, and those
            # before every value above.
            position = np.floor((x - lower[v]) / safe_width[v])
            binned = (position >= 0) & (position < N_BINS)
            if zero_width[v].any():
                binned &= ~zero_width[v] | (x == lower[v])
            # Cell-major order, so that consecutive increments land in one cell's bins
            # (draw-major order would touch a different cache line with every value).
            flat = (position + offsets).transpose(1, 2, 0)
            if not binned.all():  # rare: the bins span well beyond the pilot's range
                _, year, economy = np.nonzero(~binned)
                outlier_cells.append((v * n_years + year) * n_economies + economy)
                outlier_values.append(x[~binned])
                below[v] += (~binned & (x < lower[v])).sum(axis=0)
                flat = flat[binned.transpose(1, 2, 0)]
            # An increment of the histogram's own type keeps add.at on numpy's fast path.
            np.add.at(histogram[v].reshape(-1), flat.astype(np.intp).ravel(), count_type(1))
            mean[v] = x.mean(axis=0)
            deviation = x - mean[v]
            m2[v] = np.einsum("dtn,dtn->tn", deviation, deviation)
        for k, threshold in enumerate(inputs.thresholds):
            above[..., k] += (values[_POLICY_GROWTH] > threshold).sum(axis=0)
        if beats is not None:
            beats += (values[_DIFF_TFP] > 0).sum(axis=0)
        channel_sum = np.stack([channel.sum(axis=0) for channel in channels])
        moments.append(BlockMoments(block.index, block.size, mean, m2, channel_sum))
    return GroupSketch(
        histogram, below, np.concatenate(outlier_cells), np.concatenate(outlier_values), above, beats,
        tuple(moments),
    )


def _lerp(a: FloatArray, b: FloatArray, t: float) -> FloatArray:
    """Linear interpolation written as numpy's quantile writes it, so exact inputs give its result."""
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def _probability(count: IntArray, draws: int) -> tuple[FloatArray, FloatArray]:
    """Frequency and its MCSE ``sqrt(p (1 - p) / M)``, as ``summaries.probability_and_mcse``."""
    p = count / draws
    return p, (p * (1 - p) / draws) ** 0.5


class SketchMerger:
    """Merges group sketches as they arrive, in any order, then gives the final statistics.

    Parameters
    ----------
    inputs : SketchInputs
    """

    def __init__(self, inputs: SketchInputs) -> None:
        self.inputs = inputs
        n_vars, n_years, n_economies = inputs.grid.lower.shape
        self.histogram = np.zeros((n_vars, n_years * n_economies, N_BINS), np.int32)
        self.below = np.zeros(inputs.grid.lower.shape, np.int64)
        self.above = np.zeros((n_years, n_economies, len(inputs.thresholds)), np.int64)
        has_baseline = inputs.simulation.baseline is not None
        self.beats = np.zeros((n_years, n_economies), np.int64) if has_baseline else None
        self.outliers: list[tuple[IntArray, FloatArray]] = []
        #: Blocks' moments waiting for an earlier block, by block index.
        self.pending: dict[int, BlockMoments] = {}
        #: Moments of blocks 0 to ``folded.index``, combined in block order.
        self.folded: BlockMoments | None = None

    def add(self, group: GroupSketch) -> None:
        """Merge one group's sketch: counts at once, moments once every earlier block is in."""
        self.histogram += group.histogram
        self.below += group.below
        self.above += group.above_threshold
        if self.beats is not None and group.beats_baseline is not None:
            self.beats += group.beats_baseline
        # Copies: a result from Ray is a read-only view of a shared-memory object, which
        # stays pinned (histogram and all) for as long as any view of it lives.
        self.outliers.append((group.outlier_cell.copy(), group.outlier_value.copy()))
        self.pending.update((moments.index, moments) for moments in copy.deepcopy(group.moments))
        next_block = 0 if self.folded is None else self.folded.index + 1
        while next_block in self.pending:
            following = self.pending.pop(next_block)
            self.folded = following if self.folded is None else _combine(self.folded, following)
            next_block += 1

    def statistics(self, levels: Sequence[float]) -> SummaryStatistics:
        """Quantiles at ``levels``, means, MCSEs and probabilities of everything merged.

        Raises
        ------
        ValueError
            If some block's summary is missing.
        """
        if self.pending or self.folded is None:
            raise ValueError(f"blocks {sorted(self.pending)} arrived but an earlier block is missing")
        moments, draws = self.folded, self.folded.count
        # As numpy's linear method: rank (M - 1) q, between order statistics floor and floor + 1.
        ranks = [(draws - 1) * level for level in levels]
        needed = sorted({i for r in ranks for i in (int(r), min(int(r) + 1, draws - 1))})
        estimated = dict(zip(needed, self._order_statistics(needed), strict=True))
        quantile = np.stack(
            [_lerp(estimated[int(r)], estimated[min(int(r) + 1, draws - 1)], r - int(r)) for r in ranks],
            axis=1,
        )
        spread = np.sqrt(moments.m2 / (draws - 1)) if draws > 1 else np.zeros_like(moments.m2)
        above, above_mcse = _probability(self.above, draws)
        beats, beats_mcse = (None, None) if self.beats is None else _probability(self.beats, draws)
        return SummaryStatistics(
            list(quantile), list(moments.mean), list(spread / np.sqrt(draws)),
            list(moments.channel_sum / draws), above, above_mcse, beats, beats_mcse,
        )

    def _order_statistics(self, ranks: Sequence[int]) -> list[FloatArray]:
        """Estimate the order statistics of ``ranks`` (0-based) of every variable and cell.

        Returns
        -------
        list of ndarray, shape (V, T, N)
            Inside the bins: the i-th of the c values of a bin is placed at
            (i + 1/2) / c of its width. Below or above them: the exact value.
        """
        lower, width = self.inputs.grid.lower, self.inputs.grid.width
        cells = np.concatenate([cell for cell, _ in self.outliers])
        values = np.concatenate([value for _, value in self.outliers])
        order = np.lexsort((values, cells))
        # One NaN past the end, so that cells without kept values can still be indexed.
        kept = np.append(values[order], np.nan)
        first_kept = np.searchsorted(cells[order], np.arange(lower.size)).reshape(lower.shape)
        cumulative = np.cumsum(self.histogram, axis=-1, dtype=np.int32)
        binned = cumulative[..., -1].reshape(lower.shape)
        estimates = []
        for rank in ranks:
            inner = rank - self.below  # rank among the cell's binned values
            in_bins = (inner >= 0) & (inner < binned)
            flat_inner = inner.reshape(*cumulative.shape[:-1], 1)
            bin_index = np.minimum((cumulative <= flat_inner).sum(axis=-1, keepdims=True), N_BINS - 1)
            through = np.take_along_axis(cumulative, bin_index, axis=-1).reshape(lower.shape)
            count = np.take_along_axis(self.histogram, bin_index, axis=-1).reshape(lower.shape)
            within = inner - (through - count)
            position = bin_index.reshape(lower.shape) + (within + 0.5) / np.where(in_bins, count, 1)
            exact = kept[np.clip(first_kept + np.where(inner < 0, rank, rank - binned), 0, kept.size - 1)]
            estimates.append(np.where(in_bins, lower + width * position, exact))
        return estimates


def _combine(a: BlockMoments, b: BlockMoments) -> BlockMoments:
    """Moments of two consecutive runs of blocks (Chan, Golub and LeVeque's pairwise update)."""
    count = a.count + b.count
    delta = b.mean - a.mean
    return BlockMoments(
        b.index, count, a.mean + delta * (b.count / count),
        a.m2 + b.m2 + delta**2 * (a.count * b.count / count), a.channel_sum + b.channel_sum,
    )
