"""Sobol' indices: SALib's estimators on functions whose indices are known, and the model's design."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from forecaster import PRESETS, Calibration, ForecastRequest, RequestError
from forecaster.report import tornado_chart
from forecaster.sensitivity import GROUPS, sensitivity, sobol_indices

REQUEST = ForecastRequest(policy=PRESETS["high-level-opening"], economies=("CHN", "USA"),
                          horizon_years=5, n_draws=300, seed=2, block_size=100)


def _pick_freeze(function: object, a: np.ndarray, b: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """f(A), f(A_B) for each group of columns, f(B): shape (G + 2, M)."""
    rows = [a]
    for members in groups:
        mixed = a.copy()
        mixed[:, members] = b[:, members]
        rows.append(mixed)
    rows.append(b)
    return np.stack([function(x) for x in rows])  # type: ignore[operator]


def test_the_ishigami_function_gives_its_closed_form_indices() -> None:
    a_coef, b_coef = 7.0, 0.1

    def ishigami(x: np.ndarray) -> np.ndarray:
        return np.sin(x[:, 0]) + a_coef * np.sin(x[:, 1]) ** 2 + b_coef * x[:, 2] ** 4 * np.sin(x[:, 0])

    # Closed form (Ishigami and Homma 1990; Sobol' and Levitan 1999).
    v1 = 0.5 * (1 + b_coef * math.pi**4 / 5) ** 2
    v2 = a_coef**2 / 8
    v13 = 8 * b_coef**2 * math.pi**8 / 225
    total = v1 + v2 + v13
    first, whole = np.array([v1, v2, 0.0]) / total, np.array([v1 + v13, v2, v13]) / total
    rng = np.random.default_rng(11)
    a, b = rng.uniform(-math.pi, math.pi, (2, 40_000, 3))
    found = sobol_indices(_pick_freeze(ishigami, a, b, [[0], [1], [2]]), ["x1", "x2", "x3"], seed=3)
    # The _conf half-widths are 95 % bootstrap intervals (about 2 standard errors): within 2 of them.
    assert np.all(np.abs(found["first_order"] - first) < 2 * found["first_order_conf"] + 1e-3)
    assert np.all(np.abs(found["total_order"] - whole) < 2 * found["total_order_conf"] + 1e-3)
    assert found["total_order_conf"].max() < 0.05  # the test has power: intervals are narrow


def test_a_linear_model_gives_shares_of_variance_also_for_groups() -> None:
    coefficients, scales = np.array([1.0, 2.0, 0.5, 3.0]), np.array([1.0, 0.5, 2.0, 1.0])
    shares = (coefficients * scales) ** 2 / ((coefficients * scales) ** 2).sum()
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, scales, (2, 40_000, 4))
    found = sobol_indices(_pick_freeze(lambda x: x @ coefficients, a, b, [[0, 1], [2], [3]]),
                          ["first two", "third", "fourth"], seed=4)
    expected = [shares[:2].sum(), shares[2], shares[3]]  # additive: first-order = total = share
    for key in ("first_order", "total_order"):
        assert np.all(np.abs(found[key] - expected) < 2 * found[f"{key}_conf"] + 1e-3), key


def test_an_output_that_does_not_vary_has_no_indices() -> None:
    found = sobol_indices(np.ones((4, 50)), ["a", "b"], seed=1)
    assert all(np.isnan(values).all() for values in found.values())


@pytest.fixture(scope="module")
def indices(calibration: Calibration) -> xr.Dataset:
    return sensitivity(REQUEST, calibration=calibration)


def test_the_model_indices_are_coherent_and_reproducible(
    indices: xr.Dataset, calibration: Calibration, shuffled_executor: object
) -> None:
    assert list(indices.group.values) == list(GROUPS) and list(indices.output.values) == ["tfp", "tfp_effect"]
    slack = 2 * (indices["first_order_conf"] + indices["total_order_conf"])
    assert bool((indices["first_order"] <= indices["total_order"] + slack).all())
    assert bool((indices["first_order"].sum("group") <= 1 + slack.max()).all())
    assert bool((indices["variance"] > 0).all())
    again = sensitivity(REQUEST, calibration=calibration, executor=shuffled_executor)  # type: ignore[arg-type]
    xr.testing.assert_identical(indices, again)  # same draws, same bootstrap, any task layout


@pytest.mark.parametrize(("scale", "silent"), [("shock_scale", "shock"), ("parameter_scale", "parameter")])
def test_inputs_switched_off_explain_exactly_nothing(
    calibration: Calibration, scale: str, silent: str
) -> None:
    found = sensitivity(dataclasses.replace(REQUEST, **{scale: 0.0}), calibration=calibration)
    quiet = found.sel(group=found.kind == silent)
    assert quiet.sizes["group"] > 0
    assert bool((quiet["total_order"] == 0).all()) and bool((quiet["first_order"] == 0).all())
    loud = found.sel(group=found.kind != silent, output="tfp")
    assert float(loud["total_order"].sum("group").min()) > 0.5  # the rest explains the spread


def test_a_named_subset_is_estimated_alone_and_bad_groups_are_refused(
    indices: xr.Dataset, calibration: Calibration
) -> None:
    subset = sensitivity(REQUEST, groups=("macro", "beta"), calibration=calibration)
    assert list(subset.group.values) == ["macro", "beta"]
    np.testing.assert_array_equal(subset["variance"], indices["variance"])  # the same A and B draws
    for key in ("first_order", "total_order"):  # SALib centres on all outputs: equal within errors
        alone, among_all = subset[key], indices[key].sel(group=["macro", "beta"])
        margin = 2 * (subset[f"{key}_conf"] + indices[f"{key}_conf"].sel(group=["macro", "beta"]))
        assert bool((abs(alone - among_all) <= margin).all()), key
    with pytest.raises(RequestError, match=r"groups: must be distinct names among \['theta'"):
        sensitivity(REQUEST, groups=("theta", "weather"), calibration=calibration)
    with pytest.raises(RequestError, match="groups: must be distinct names"):
        sensitivity(REQUEST, groups=(), calibration=calibration)


def test_the_tornado_chart_is_a_png_for_each_output(indices: xr.Dataset, tmp_path: Path) -> None:
    for output in ("tfp", "tfp_effect"):
        path = tornado_chart(indices, "CHN", tmp_path / f"{output}.png", output=output)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
