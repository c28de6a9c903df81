"""Ray implementation of :class:`forecaster.Executor`.

Ray's documented patterns (docs.ray.io "Design Patterns & Anti-patterns"):
parameters are ``ray.put`` once and passed by reference; blocks are grouped
into coarse tasks; a bounded number of tasks is in flight so the object store
never fills; results are collected with ``ray.wait`` as they finish and put
back in block order. Tasks are pure functions of (job, blocks), so a retried
task returns the bit-identical result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ray

from forecaster import Block, BlockJob, BlockResult, CancelledError, simulate_block
from forecaster.simulation import ProgressCallback

#: Smallest work per task, in draw-years (about 100 ms of kernel time on one core for
#: 12 economies): smaller tasks spend a visible share of their time in Ray's overhead.
MIN_TASK_DRAW_YEARS = 15_000
#: Retries after a worker dies; a retry reruns the same blocks with the same seeds.
MAX_RETRIES = 3


@ray.remote(max_retries=MAX_RETRIES)
def _simulate_group(job: BlockJob, blocks: Sequence[Block]) -> list[BlockResult]:
    return [simulate_block(job, block) for block in blocks]


def group_blocks(blocks: Sequence[Block], horizon_years: int) -> list[list[Block]]:
    """Group consecutive blocks into tasks of at least :data:`MIN_TASK_DRAW_YEARS` draw-years."""
    if not blocks:
        return []
    size = math.ceil(MIN_TASK_DRAW_YEARS / max(1, blocks[0].size * horizon_years))
    return [list(blocks[i : i + size]) for i in range(0, len(blocks), size)]


class RayExecutor:
    """Run forecast blocks as Ray tasks on the connected cluster.

    Parameters
    ----------
    max_in_flight : int, optional
        Most tasks submitted and not yet collected; default twice the cluster's CPUs.
    """

    def __init__(self, max_in_flight: int | None = None) -> None:
        self.max_in_flight = max_in_flight

    def map_blocks(
        self,
        job: BlockJob,
        blocks: Sequence[Block],
        on_progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> list[BlockResult]:
        """Simulate every block on Ray; results in block order (see :class:`forecaster.Executor`)."""
        n_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = self.max_in_flight or 2 * n_cpus
        groups = group_blocks(blocks, job.policy.n_years)
        job_ref = ray.put(job)
        pending = iter(groups)
        in_flight: dict[ray.ObjectRef, int] = {}
        results: list[BlockResult] = []
        try:
            while True:
                while len(in_flight) < limit and (group := next(pending, None)) is not None:
                    in_flight[_simulate_group.remote(job_ref, group)] = len(group)
                if not in_flight:
                    break
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                if should_cancel is not None and should_cancel():
                    raise CancelledError(f"cancelled after {len(results)} of {len(blocks)} blocks")
                for ref in ready:
                    del in_flight[ref]
                    results.extend(ray.get(ref))
                    if on_progress is not None:
                        on_progress(len(results), len(blocks))
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)
        return sorted(results, key=lambda result: result.index)
