"""Ray implementation of :class:`forecaster.Executor`.

Ray's documented patterns (docs.ray.io "Design Patterns & Anti-patterns"):
the job is ``ray.put`` once and passed by reference; each task runs a whole
group of blocks (the forecaster sizes groups so tasks are coarse); a bounded
number of tasks is in flight so the object store never fills; results are
collected with ``ray.wait`` as they finish and handed to the caller at once,
so the driver holds at most one result beyond what the caller keeps. Tasks
are pure functions of (job, group), so a retried task returns the
bit-identical result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import ray

from cluster.runtime import head_reachable
from forecaster import Block, CancelledError
from forecaster.simulation import ProgressCallback

#: Retries after a worker dies; a retry reruns the same blocks with the same seeds.
MAX_RETRIES = 3

Job = TypeVar("Job")
Result = TypeVar("Result")


@ray.remote(max_retries=MAX_RETRIES)
def _run_group(task: Callable[[Any, Sequence[Block]], Any], job: Any, group: Sequence[Block]) -> Any:
    return task(job, group)


class RayExecutor:
    """Run groups of forecast blocks as Ray tasks on the connected cluster.

    Parameters
    ----------
    max_in_flight : int, optional
        Most tasks submitted and not yet collected; default twice the cluster's CPUs.
    """

    def __init__(self, max_in_flight: int | None = None) -> None:
        self.max_in_flight = max_in_flight

    def map_groups(
        self,
        task: Callable[[Job, Sequence[Block]], Result],
        job: Job,
        groups: Sequence[Sequence[Block]],
        on_result: Callable[[Result], None],
        on_progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
    ) -> None:
        """Run every group as a Ray task; see :class:`forecaster.Executor`."""
        n_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = self.max_in_flight or 2 * n_cpus
        total = sum(len(group) for group in groups)
        job_ref = ray.put(job)
        pending = iter(groups)
        in_flight: dict[ray.ObjectRef, int] = {}
        done = 0
        try:
            while True:
                while len(in_flight) < limit and (group := next(pending, None)) is not None:
                    in_flight[_run_group.remote(task, job_ref, group)] = len(group)
                if not in_flight:
                    break
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                if should_cancel is not None and should_cancel():
                    raise CancelledError(f"cancelled after {done} of {total} blocks")
                for ref in ready:
                    done += in_flight.pop(ref)
                    on_result(ray.get(ref))
                    if on_progress is not None:
                        on_progress(done, total)
        finally:
            # Free the CPUs of tasks still running; with the head gone, cancelling would block
            # (and the tasks are gone with their cluster).
            if in_flight and head_reachable():
                for ref in in_flight:
                    ray.cancel(ref, force=True)
