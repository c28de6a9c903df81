"""Distributed execution of forecasts on Ray, behind :class:`forecaster.Executor`."""

from cluster.executor import RayExecutor
from cluster.runtime import (
    ClusterUnavailableError,
    RayEnvironment,
    RaySettings,
    connect,
    disconnect,
    head_reachable,
    readiness,
)

__all__ = [
    "ClusterUnavailableError", "RayEnvironment", "RayExecutor", "RaySettings", "connect", "disconnect",
    "head_reachable", "readiness",
]
