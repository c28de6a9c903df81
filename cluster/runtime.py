"""Connecting to Ray: an embedded local instance by default, or an existing cluster.

Ray >= 2.59 turns token authentication on for local clusters and generates a
token in ``~/.ray/auth_token``. Ray reads ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN``
and ``RAY_AUTH_TOKEN_PATH`` when it is imported, so they must be in the
process environment (the Helm chart sets them from a Secret); this module
never changes them after import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import ray

from forecaster import ForecasterError


class ClusterUnavailableError(ForecasterError):
    """Ray cannot be reached or is not usable; the message says what is wrong."""


@dataclass(frozen=True)
class RaySettings:
    """How to reach Ray.

    Attributes
    ----------
    address : str
        Empty: start an embedded local Ray bound to loopback. Otherwise an
        existing cluster, e.g. ``"auto"`` or ``"10.0.0.5:6379"``.
    num_cpus : int or None
        CPUs of the embedded instance (ignored when connecting).
    include_dashboard : bool
        Start the dashboard of an embedded instance (off unless asked).
    """

    address: str = ""
    num_cpus: int | None = None
    include_dashboard: bool = False

    @classmethod
    def from_env(cls) -> RaySettings:
        """Read ``FORECASTER_RAY_ADDRESS`` (or ``RAY_ADDRESS``) and ``FORECASTER_RAY_NUM_CPUS``."""
        cpus = os.environ.get("FORECASTER_RAY_NUM_CPUS", "")
        return cls(
            address=os.environ.get("FORECASTER_RAY_ADDRESS", os.environ.get("RAY_ADDRESS", "")),
            num_cpus=int(cpus) if cpus else None,
            include_dashboard=os.environ.get("FORECASTER_RAY_DASHBOARD", "") == "1",
        )


def connect(settings: RaySettings) -> None:
    """Start or join Ray as ``settings`` say; idempotent within a process.

    Raises
    ------
    ClusterUnavailableError
        If the cluster at ``settings.address`` cannot be joined.
    """
    if ray.is_initialized():
        return
    try:
        if settings.address:
            ray.init(address=settings.address, log_to_driver=False)
        else:
            os.environ.pop("RAY_ADDRESS", None)  # never join a stray cluster by accident
            ray.init(
                num_cpus=settings.num_cpus,
                include_dashboard=settings.include_dashboard,
                log_to_driver=False,
                _node_ip_address="127.0.0.1",
            )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = settings.address or "an embedded local instance"
        raise ClusterUnavailableError(f"cannot connect to Ray at {where}: {error}") from None


def readiness() -> dict[str, object]:
    """Report whether Ray is usable: connected, CPUs, and a problem description if any."""
    if not ray.is_initialized():
        return {"ready": False, "problem": "Ray is not connected"}
    try:
        cpus = ray.cluster_resources().get("CPU", 0)
    except Exception as error:  # Ray raises several private types when the GCS is gone
        return {"ready": False, "problem": f"Ray cluster unreachable: {error}"}
    if cpus < 1:
        return {"ready": False, "problem": "Ray cluster has no CPUs"}
    return {"ready": True, "cpus": cpus}
