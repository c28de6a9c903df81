"""Ray implementation of :class:`forecaster.Executor`.

Ray's documented patterns (docs.ray.io "Design Patterns & Anti-patterns"):
the inputs are ``ray.put`` once and passed by reference; each task runs a
whole group of blocks (the forecaster sizes groups so tasks are coarse); a
bounded number of tasks is in flight so the object store never fills; results
are collected with ``ray.wait`` as they finish and yielded at once, so the
driver holds at most one result beyond what the caller keeps. Tasks are pure
functions of (inputs, group), so a retried task returns the bit-identical result.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import ray

from cluster.runtime import head_reachable
from forecaster.engine import Finished
from forecaster.plan import Block

#: Retries after a worker dies; a retry reruns the same blocks with the same seeds.
MAX_RETRIES = 3
#: Longest wait for a result before yielding None, so the caller can cancel.
POLL_SECONDS = 0.5

Inputs = TypeVar("Inputs")
Result = TypeVar("Result")


@ray.remote(max_retries=MAX_RETRIES)
def _run_group(task: Callable[[Any, Sequence[Block]], Any], inputs: Any, group: Sequence[Block]) -> Any:
    return task(inputs, group)


class RayExecutor:
    """Run groups of forecast blocks as Ray tasks on the connected cluster.

    Parameters
    ----------
    max_in_flight : int, optional
        Most tasks submitted and not yet collected; default twice the cluster's CPUs.
    """

    def __init__(self, max_in_flight: int | None = None) -> None:
        self.max_in_flight = max_in_flight

    def run(
        self, task: Callable[[Inputs, Sequence[Block]], Result], inputs: Inputs,
        groups: Sequence[Sequence[Block]],
    ) -> Generator[Finished[Result], None, None]:
        """Run every group as a Ray task; see :class:`forecaster.Executor`."""
        n_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        limit = self.max_in_flight or 2 * n_cpus
        inputs_ref = ray.put(inputs)
        pending = iter(groups)
        in_flight: dict[ray.ObjectRef, int] = {}  # blocks in each task
        try:
            while True:
                while len(in_flight) < limit and (group := next(pending, None)) is not None:
                    in_flight[_run_group.remote(task, inputs_ref, group)] = len(group)
                if not in_flight:
                    return
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
                if not ready:
                    yield None
                for ref in ready:
                    yield in_flight.pop(ref), ray.get(ref)
        finally:
            # Free the CPUs of tasks still running (closed early: cancelled or failed); with the
            # head gone, cancelling would block (and the tasks are gone with their cluster).
            if in_flight and head_reachable():
                for ref in in_flight:
                    ray.cancel(ref, force=True)
