"""Distributed execution of forecasts on Ray, behind :class:`forecaster.Executor`."""

from cluster.executor import RayExecutor
from cluster.runtime import ClusterUnavailableError, RaySettings, connect, disconnect, readiness

__all__ = ["ClusterUnavailableError", "RayExecutor", "RaySettings", "connect", "disconnect", "readiness"]
