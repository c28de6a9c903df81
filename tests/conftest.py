"""Shared fixtures: the shipped calibration, parsed once, and one local Ray for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from cluster import RaySettings, connect
from forecaster import Calibration, load_calibration


@pytest.fixture(scope="session")
def calibration() -> Calibration:
    return load_calibration()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A real embedded Ray with 2 CPUs, started once (``ray.init`` costs seconds)."""
    connect(RaySettings(num_cpus=2))
    yield
    ray.shutdown()
