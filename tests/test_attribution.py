"""Lever attribution (exact Shapley values) and policy comparison on common random numbers."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import xarray as xr

from forecaster import PRESETS, Calibration, ForecastRequest, RequestError, run_forecast, summarize
from forecaster.attribution import PLAYERS, active_players, attribute, shapley_values, sub_mixes
from forecaster.comparison import compare
from forecaster.engine import run_mixes
from forecaster.plan import MIX_OUTCOMES

REQUEST = ForecastRequest(policy=PRESETS["high-level-opening"], economies=("CHN", "USA", "EU"),
                          horizon_years=6, n_draws=400, seed=5, block_size=100)


# ---- the Shapley weights, on games whose values are known in closed form ----------------------


def _values(game: object, k: int) -> np.ndarray:
    """v(S) for every coalition S, by bit mask."""
    return np.array([game([i for i in range(k) if mask >> i & 1]) for mask in range(2**k)])  # type: ignore[operator]


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_an_additive_game_gives_each_player_its_own_worth(k: int) -> None:
    worth = np.arange(1.0, k + 1) ** 2
    phi = shapley_values(_values(lambda members: worth[members].sum(), k))
    np.testing.assert_allclose(phi, worth, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k", "carriers"), [(3, (0, 2)), (4, (1,)), (5, (0, 1, 2, 3, 4))])
def test_a_unanimity_game_splits_evenly_among_its_carriers_and_gives_dummies_nothing(
    k: int, carriers: tuple[int, ...]
) -> None:
    phi = shapley_values(_values(lambda members: float(set(carriers) <= set(members)), k))
    expected = [1 / len(carriers) if i in carriers else 0.0 for i in range(k)]
    np.testing.assert_allclose(phi, expected, rtol=0, atol=1e-12)


def test_two_players_that_enter_alike_get_the_same_even_in_a_nonlinear_game() -> None:
    # Players 0 and 1 are interchangeable; 2 interacts with both (v is not additive).
    def game(members: list[int]) -> float:
        alike = (0 in members) + (1 in members)
        return alike**2 + 3.0 * alike * (2 in members) + 0.5 * (2 in members)

    phi = shapley_values(_values(game, 3))
    assert phi[0] == pytest.approx(phi[1], abs=1e-12)
    assert phi.sum() == pytest.approx(game([0, 1, 2]) - game([]), abs=1e-12)  # efficiency


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_any_game_is_shared_exactly_and_cells_are_independent(k: int) -> None:
    values = np.random.default_rng(k).normal(size=(7, 2**k))  # seven unrelated games, one per row
    phi = shapley_values(values)
    np.testing.assert_allclose(phi.sum(axis=-1), values[:, -1] - values[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(phi[3], shapley_values(values[3]))
    with pytest.raises(ValueError, match="2\\*\\*k coalitions"):
        shapley_values(np.zeros((2, 6)))


# ---- attribution of the model's effects ----------------------------------------------------------


@pytest.fixture(scope="module")
def attributed(calibration: Calibration) -> xr.Dataset:
    return attribute(REQUEST, calibration=calibration)


def test_contributions_sum_to_the_total_effect(attributed: xr.Dataset) -> None:
    assert attributed.attrs["levers"] == "hardware,software,digital,industrial"
    for name in MIX_OUTCOMES:
        scale = float(abs(attributed[f"{name}_total"]).max())
        assert scale > 0
        gap = abs(attributed[name].sum("lever") - attributed[f"{name}_total"]).max()
        assert float(gap) <= 1e-12 * max(scale, 1.0), name  # float rounding of 16 terms


def test_the_total_is_the_mix_against_the_baseline_on_the_same_draws(
    attributed: xr.Dataset, calibration: Calibration
) -> None:
    compared = compare(REQUEST, [REQUEST.policy, PRESETS["baseline"]], calibration=calibration)
    for name in MIX_OUTCOMES:
        difference = compared[f"{name}_difference"].sel(policy=REQUEST.policy.name, other="baseline")
        np.testing.assert_allclose(attributed[f"{name}_total"], difference, rtol=1e-12, atol=1e-15)


def test_a_lever_at_zero_intensity_gets_exactly_zero(calibration: Calibration) -> None:
    policy = dataclasses.replace(PRESETS["digital"], hardware=dataclasses.replace(
        PRESETS["digital"].hardware, intensity=0.0))
    request = dataclasses.replace(REQUEST, policy=policy)
    result = attribute(request, levers=("digital", "hardware"), calibration=calibration)
    for name in MIX_OUTCOMES:
        assert (result[name].sel(lever="hardware") == 0).all(), name
        assert (result[f"{name}_interaction"] == 0).all(), name


def test_a_single_lever_gets_the_whole_effect(calibration: Calibration) -> None:
    request = dataclasses.replace(REQUEST, policy=PRESETS["software"])
    result = attribute(request, calibration=calibration)
    assert list(result.lever.values) == ["software"]
    for name in MIX_OUTCOMES:
        xr.testing.assert_equal(result[name].sel(lever="software", drop=True), result[f"{name}_total"])
        assert float(abs(result[f"{name}_total"]).max()) > 0


def test_the_dominant_lever_of_china_is_measured_well_beyond_its_error(attributed: xr.Dataset) -> None:
    last = attributed.sel(year=attributed.year[-1], economy="CHN")
    contributions = last["tfp"]
    largest = contributions.argmax("lever")
    # The ranking is meaningful only if the lead exceeds a few standard errors of the difference.
    lead = float(np.sort(contributions.values)[-1] - np.sort(contributions.values)[-2])
    assert lead > 4 * float(np.hypot(*np.sort(last["tfp_mcse"].values)[-2:]))
    assert str(contributions.lever[largest].values) == "software"  # the ln 2 / theta lever


def test_bad_attributions_are_refused_naming_the_field(calibration: Calibration) -> None:
    with pytest.raises(RequestError, match="policy: sets no lever above intensity 0"):
        attribute(dataclasses.replace(REQUEST, policy=PRESETS["baseline"]), calibration=calibration)
    with pytest.raises(RequestError, match="levers: must be distinct names"):
        attribute(REQUEST, levers=("digital", "digital"), calibration=calibration)
    with pytest.raises(RequestError, match="levers: must be distinct names"):
        attribute(REQUEST, levers=("tariffs",), calibration=calibration)
    with pytest.raises(RequestError, match=r"x 16 policy mixes = .* exceeds the limit"):
        attribute(dataclasses.replace(REQUEST, n_draws=200_000, horizon_years=30, economies=()),
                  calibration=calibration)


def test_sub_mixes_keep_the_timing_and_economies_of_the_mix() -> None:
    mixes = sub_mixes(PRESETS["high-level-opening"], ("digital", "software"))
    assert [mix.name for mix in mixes] == ["none", "digital", "software", "digital+software"]
    assert mixes[1].digital == PRESETS["high-level-opening"].digital
    assert mixes[1].software == dataclasses.replace(PRESETS["high-level-opening"].software, intensity=0.0)
    assert active_players(PRESETS["fragmentation"]) == ("fragmentation",) and "fragmentation" in PLAYERS


# ---- comparing policies ----------------------------------------------------------------------


POLICIES = [PRESETS["baseline"], PRESETS["digital"], PRESETS["high-level-opening"]]


@pytest.fixture(scope="module")
def compared(calibration: Calibration) -> xr.Dataset:
    return compare(REQUEST, POLICIES, calibration=calibration)


def test_each_policy_is_its_own_forecast_on_the_same_draws(
    compared: xr.Dataset, calibration: Calibration, shuffled_executor: object
) -> None:
    runs = run_mixes(REQUEST, POLICIES, calibration, executor=shuffled_executor)  # type: ignore[arg-type]
    for policy in POLICIES:
        alone = run_forecast(dataclasses.replace(REQUEST, policy=policy, compare_to_baseline=False),
                             calibration)
        for name in MIX_OUTCOMES:
            np.testing.assert_array_equal(runs[name].sel(mix=policy.name), alone[name].sel(scenario="policy"))
        summary = summarize(alone)
        xr.testing.assert_equal(compared["tfp_mean"].sel(policy=policy.name, drop=True), summary["tfp_mean"])


def test_probabilities_are_coherent(compared: xr.Dataset) -> None:
    np.testing.assert_allclose(compared["prob_first"].sum("policy"), 1.0, rtol=0, atol=1e-12)
    beats = compared["prob_beats"]
    for a, b in itertools.combinations(compared.policy.values, 2):
        both = beats.sel(policy=a, other=b) + beats.sel(policy=b, other=a)
        assert float(both.max()) <= 1 + 1e-12  # ties count for neither
    assert float(beats.sel(policy="digital", other="digital").max()) == 0.0
    difference = compared["tfp_difference"]
    xr.testing.assert_allclose(difference, -difference.rename(policy="other", other="policy")
                               .transpose(*difference.dims))


def test_common_draws_make_paired_differences_sharper_than_independent_ones(compared: xr.Dataset) -> None:
    last = compared.sel(year=compared.year[-1], economy="CHN")
    paired = float(last["tfp_difference_mcse"].sel(policy="high-level-opening", other="baseline"))
    independent = float(np.hypot(last["tfp_mcse"].sel(policy="high-level-opening"),
                                 last["tfp_mcse"].sel(policy="baseline")))
    assert paired < independent / 5


def test_bad_comparisons_are_refused_naming_the_field(calibration: Calibration) -> None:
    with pytest.raises(RequestError, match="policies: must be 2 to 6 policies, got 1"):
        compare(REQUEST, POLICIES[:1], calibration=calibration)
    with pytest.raises(RequestError, match="policies: must be 2 to 6 policies, got 7"):
        compare(REQUEST, [dataclasses.replace(POLICIES[0], name=f"p{i}") for i in range(7)],
                calibration=calibration)
    with pytest.raises(RequestError, match="policies: must have distinct names"):
        compare(REQUEST, [POLICIES[1], POLICIES[1]], calibration=calibration)
