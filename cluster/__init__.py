"""Distributed execution of forecasts on Ray, behind :class:`forecaster.Executor`."""

from cluster.executor import RayExecutor, group_blocks
from cluster.runtime import ClusterUnavailableError, RaySettings, connect, readiness

__all__ = ["ClusterUnavailableError", "RayExecutor", "RaySettings", "connect", "group_blocks", "readiness"]
