"""Shared fixtures: the shipped calibration, parsed once."""

from __future__ import annotations

import pytest

from forecaster import Calibration, load_calibration


@pytest.fixture(scope="session")
def calibration() -> Calibration:
    return load_calibration()
