"""The vectorised kernel against the plain-loop reference implementation of the same model.

The kernel computes its draw x economy x economy arrays in float32, the loop everything in
float64, so they agree to about 1e-5 relative rather than bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecaster import PRESETS, Calibration
from forecaster.kernel import Paths, simulate
from forecaster.params import ModelParams, build_params
from forecaster.reference import simulate_loop
from forecaster.shocks import Shocks, draw_shocks, neutral_shocks

PRESET_NAMES = ["high-level-opening", "fragmentation", "baseline"]
HORIZON_YEARS = 12
RTOL, ATOL = 2e-5, 1e-7


def _params(calibration: Calibration, preset_name: str) -> ModelParams:
    return build_params(calibration, PRESETS[preset_name], horizon_years=HORIZON_YEARS)


def _assert_paths_agree(params: ModelParams, shocks: Shocks) -> None:
    kernel, loop = simulate(params, shocks), simulate_loop(params, shocks)
    for name in Paths.__dataclass_fields__:
        expected, actual = getattr(kernel, name), getattr(loop, name)
        assert actual.shape == expected.shape, name
        assert actual.dtype == np.float64, name
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=name)


@pytest.mark.parametrize("preset_name", PRESET_NAMES)
def test_kernel_matches_loop_on_random_shocks(calibration: Calibration, preset_name: str) -> None:
    params = _params(calibration, preset_name)
    assert params.n_economies == 12
    shocks = draw_shocks(np.random.default_rng(20240611), params, 40)
    # The draws exercise every path of the model: some fragmentation events occur.
    assert np.count_nonzero(shocks.fragmentation) > 0
    _assert_paths_agree(params, shocks)


@pytest.mark.parametrize("preset_name", PRESET_NAMES)
def test_kernel_matches_loop_on_neutral_shocks(calibration: Calibration, preset_name: str) -> None:
    params = _params(calibration, preset_name)
    _assert_paths_agree(params, neutral_shocks(params, 2))
