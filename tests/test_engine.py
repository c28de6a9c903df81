"""The engine: reproducibility, invariants, and the published-number checks G1, G2, G4."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from forecaster import PRESETS, Calibration, Executor, ForecastRequest, PolicyMix, run_forecast
from forecaster.calibration import calibration_from_dict
from forecaster.kernel import goods_shares, lever_activity, log_trade_cost_change, simulate
from forecaster.params import CHANNELS, DEFAULT_ASSUMPTIONS, FOREIGN_CHANNELS, build_params
from forecaster.plan import plan_blocks
from forecaster.policy import Lever
from forecaster.shocks import draw_shocks, neutral_shocks
from forecaster.theory import acr_real_wage

SMALL = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=8, n_draws=250, seed=7, block_size=60
)


def test_same_request_gives_bit_identical_results(calibration: Calibration) -> None:
    xr.testing.assert_identical(run_forecast(SMALL, calibration), run_forecast(SMALL, calibration))


def test_result_does_not_depend_on_how_blocks_are_grouped(
    calibration: Calibration, shuffled_executor: Executor
) -> None:
    serial = run_forecast(SMALL, calibration)
    shuffled = run_forecast(SMALL, calibration, executor=shuffled_executor)
    xr.testing.assert_identical(serial, shuffled)


def test_different_seeds_give_different_draws(calibration: Calibration) -> None:
    other = dataclasses.replace(SMALL, seed=8)
    a, b = run_forecast(SMALL, calibration), run_forecast(other, calibration)
    assert not np.array_equal(a.nqpf.values, b.nqpf.values)


def test_blocks_cover_draws_once_with_distinct_seeds() -> None:
    blocks = plan_blocks(2_500, seed=1, block_size=1_000)
    assert [(b.start, b.size) for b in blocks] == [(0, 1000), (1000, 1000), (2000, 500)]
    states = {tuple(np.random.default_rng(b.seed).integers(0, 2**62, 4)) for b in blocks}
    assert len(states) == 3


def test_zero_shock_limit_is_the_deterministic_path(calibration: Calibration) -> None:
    request = dataclasses.replace(SMALL, shock_scale=0.0, parameter_scale=0.0, n_draws=20, block_size=7)
    ds = run_forecast(request, calibration)
    params = build_params(calibration, request.policy, horizon_years=request.horizon_years)
    deterministic = simulate(params, neutral_shocks(params, 1))
    for name in ("tfp", "tfp_growth", "real_income", "nqpf", "import_share"):
        values = ds[name].sel(scenario="policy").values
        np.testing.assert_array_equal(values, np.broadcast_to(getattr(deterministic, name), values.shape))


def test_small_shocks_converge_to_the_deterministic_path(calibration: Calibration) -> None:
    params = build_params(calibration, PRESETS["high-level-opening"], horizon_years=8)
    path = simulate(params, neutral_shocks(params)).tfp
    gaps = []
    for scale in (0.1, 0.01, 0.001):
        shocks = draw_shocks(np.random.default_rng(3), params, 50, shock_scale=scale, parameter_scale=scale)
        gaps.append(np.abs(simulate(params, shocks).tfp - path).max())
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-3


def test_channels_sum_to_tfp_growth(calibration: Calibration) -> None:
    ds = run_forecast(SMALL, calibration)
    np.testing.assert_allclose(ds.channel_growth.sum("channel"), ds.tfp_growth, atol=1e-12)


def _with_field(calibration: Calibration, field: str, values: dict[str, float]) -> Calibration:
    data = {"name": "test", "version": "1", "base_year": calibration.base_year, "economies": {
        code: {**record, field: {**record[field], "value": values[code]}}
        for code, record in ((code, calibration.sources[code]) for code in values)
    }}
    return calibration_from_dict(data)


def test_kortum_steady_state_growth_n_over_theta(calibration: Calibration) -> None:
    """Own research only, R growing at n: lam_t / lam_0 = 1 + K ((1+n)^t - 1) / n, growth -> n/theta."""
    autarky = _with_field(calibration, "foreign_idea_share", dict.fromkeys(calibration.economies, 0.0))
    assumptions = dataclasses.replace(DEFAULT_ASSUMPTIONS, domestic_diffusion_share=0.0)
    params = build_params(autarky, PRESETS["baseline"], horizon_years=100, assumptions=assumptions)
    shocks = neutral_shocks(params)
    paths = simulate(params, shocks)
    theta = float(shocks.theta[0])
    k, n = params.knowledge_growth, params.research_growth
    t = np.arange(1, 101)[:, None]
    log_lam = np.log1p(np.expm1(theta * k) * ((1 + n) ** t - 1) / n)
    # Economies whose trend is below the knowledge floor have a TFP drift, which feeds back into
    # lambda(0)/lambda(t): the closed form is for the others.
    exact = params.tfp_growth >= k
    assert exact.sum() >= 6
    np.testing.assert_allclose(np.log(paths.tfp[0])[:, exact], log_lam[:, exact] / theta, rtol=1e-9)
    # In annual steps the steady state is ln(1 + n) / theta (n / theta in continuous time);
    # convergence is slow where research grows slowly, so check the gap shrinks for all.
    steady = np.log1p(n[exact]) / theta
    late = paths.tfp_growth[0, -1, exact]
    fast = n[exact] >= 0.03
    assert np.all(np.abs(late - steady)[fast] < 0.05 * steady[fast])
    assert np.all(np.abs(late - steady) < np.abs(paths.tfp_growth[0, 50, exact] - steady))


def test_theta_prior_mass_and_centre(calibration: Calibration) -> None:
    """G2: the theta prior lies in EK's [3.60, 8.28] and is centred on 4-5."""
    params = build_params(calibration, PRESETS["baseline"], horizon_years=1)
    theta = draw_shocks(np.random.default_rng(9), params, 100_000).theta
    assert theta.min() >= 3.60 and theta.max() <= 8.28
    assert 4.0 <= np.median(theta) <= 5.0
    assert 4.0 <= theta.mean() <= 5.2


@pytest.mark.parametrize(
    ("lever_name", "factor"),
    [
        ("software", 2.0),  # G4: an FTA equivalent doubles members' trade (Baier and Bergstrand 2007)
        ("hardware", 1 / 0.72),  # G5: trade -28% for the 75th- against median-percentile transport costs
    ],
)
def test_each_trade_cost_lever_moves_bilateral_trade_by_its_source_at_every_theta(
    calibration: Calibration, lever_name: str, factor: float
) -> None:
    """At full intensity pi_ni / pi_nn moves by exactly the cited factor whatever theta (PE); the GE share
    pi_ni itself moves by less."""
    year = calibration.base_year + 1
    lever = Lever(intensity=1.0, start_year=year, phase_in_years=0, enacting=("CHN",), partners=("USA",))
    params = build_params(calibration, PolicyMix(**{lever_name: lever}), horizon_years=1)
    shocks = dataclasses.replace(
        neutral_shocks(params, 3), theta=np.array([3.6, 4.94, 8.28]), efficacy=np.ones((3, 4))
    )
    log_cost = log_trade_cost_change(params, shocks.theta, lever_activity(params, shocks, 0), np.zeros(3))
    shares = goods_shares(params, log_cost, shocks.theta).astype(float)
    base = params.goods_shares
    chn, usa = params.economies.index("CHN"), params.economies.index("USA")
    for n, i in ((chn, usa), (usa, chn)):
        relative = (shares[:, n, i] / shares[:, n, n]) / (base[n, i] / base[n, n])
        np.testing.assert_allclose(relative, factor, rtol=1e-5)
        assert np.all((shares[:, n, i] / base[n, i] > 1) & (shares[:, n, i] / base[n, i] < factor))


def test_gravity_regression_on_the_engine_recovers_theta(calibration: Calibration) -> None:
    """G1 on the kernel's goods block: log-share changes against log-cost changes have slope -theta."""
    params = build_params(calibration, PRESETS["high-level-opening"], horizon_years=10)
    shocks = draw_shocks(np.random.default_rng(11), params, 4)
    log_cost = log_trade_cost_change(
        params, shocks.theta, lever_activity(params, shocks, 9), np.cumsum(shocks.fragmentation, axis=1)[:, 9]
    )
    shares = goods_shares(params, log_cost, shocks.theta).astype(float)
    base = params.goods_shares
    n = params.n_economies
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    for d in range(4):
        y = np.log(shares[d][rows, cols] / shares[d][rows, rows]) - np.log(
            base[rows, cols] / base[rows, rows]
        )
        slope = np.linalg.lstsq(log_cost[d][rows, cols][:, None], y, rcond=None)[0][0]
        assert slope == pytest.approx(-shocks.theta[d], rel=1e-4)


@pytest.mark.parametrize("lever_name", ["hardware", "software", "digital", "industrial"])
def test_each_lever_raises_the_enacting_economys_tfp_and_real_income(
    calibration: Calibration, lever_name: str
) -> None:
    params_base = build_params(calibration, PRESETS["baseline"], horizon_years=15)
    params = build_params(calibration, PRESETS[lever_name], horizon_years=15)
    shocks = draw_shocks(np.random.default_rng(2), params, 200)
    china = params.economies.index("CHN")
    policy, base = simulate(params, shocks), simulate(params_base, shocks)
    assert np.all(policy.tfp[:, -1, china] > base.tfp[:, -1, china])
    assert np.all(policy.real_income[:, -1, china] > base.real_income[:, -1, china])
    if lever_name != "industrial":
        assert np.all(policy.import_share[:, -1, china] > base.import_share[:, -1, china])
        assert np.all(policy.static_gain[:, -1, china] > base.static_gain[:, -1, china])


def test_fragmentation_cuts_trade_tfp_and_real_income(calibration: Calibration) -> None:
    params_base = build_params(calibration, PRESETS["baseline"], horizon_years=15)
    params = build_params(calibration, PRESETS["fragmentation"], horizon_years=15)
    shocks = draw_shocks(np.random.default_rng(2), params, 200)
    policy, base = simulate(params, shocks), simulate(params_base, shocks)
    assert np.all(policy.import_share[:, -1] < base.import_share[:, -1])
    assert np.all(policy.tfp[:, -1] < base.tfp[:, -1])
    assert np.all(policy.static_gain[:, -1] < base.static_gain[:, -1])
    assert np.all(policy.real_income[:, -1] < base.real_income[:, -1])


def test_static_gain_is_the_acr_change_in_real_wages(calibration: Calibration) -> None:
    """static_gain = ln of ACR's W-hat = -ln(pi_nn hat) / theta, and real_income adds ln TFP-hat."""
    params = build_params(calibration, PRESETS["fragmentation"], horizon_years=6)
    shocks = draw_shocks(np.random.default_rng(5), params, 4)
    paths = simulate(params, shocks)
    pi0 = np.diagonal(params.goods_shares)
    for d, theta in enumerate(shocks.theta):
        pi = 1.0 - paths.import_share[d]
        lam_hat = paths.tfp[d] ** theta  # lambda_n(t) / lambda_n(0)
        wage_hat = acr_real_wage(lam_hat, pi, theta, 2.0) / acr_real_wage(np.ones_like(pi0), pi0, theta, 2.0)
        np.testing.assert_allclose(paths.real_income[d], np.log(wage_hat), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(paths.static_gain[d], -np.log(pi / pi0) / theta, rtol=1e-9, atol=1e-15)


def test_first_year_growth_is_the_same_for_every_parameter_draw(calibration: Calibration) -> None:
    """Per-draw calibration: without shocks, every draw of theta and beta starts at the data's growth."""
    params = build_params(calibration, PRESETS["baseline"], horizon_years=2)
    shocks = draw_shocks(np.random.default_rng(4), params, 2_000, shock_scale=0.0, parameter_scale=1.0)
    assert np.ptp(shocks.theta) > 2.0 and np.ptp(shocks.beta) > 0.4  # the parameters do vary
    first = simulate(params, shocks).tfp_growth[:, 0]
    np.testing.assert_allclose(first, np.broadcast_to(params.tfp_growth, first.shape), rtol=0, atol=1e-6)
    # ... and they still widen the future: later years differ between draws.
    assert np.ptp(simulate(params, shocks).tfp_growth[:, 1], axis=0).max() > 1e-4


def test_foreign_share_of_base_year_growth_is_the_calibrated_one(calibration: Calibration) -> None:
    """Learning from abroad is F_n of first-year knowledge growth; learning at home is counted apart."""
    params = build_params(calibration, PRESETS["baseline"], horizon_years=1)
    shocks = draw_shocks(np.random.default_rng(8), params, 500, shock_scale=0.0)
    channels = simulate(params, shocks).channel_growth[:, 0]  # (D, N, channel)
    knowledge = channels[..., :5].sum(-1)
    foreign = channels[..., [CHANNELS.index(c) for c in FOREIGN_CHANNELS]].sum(-1) / knowledge
    domestic = channels[..., CHANNELS.index("domestic")] / knowledge
    np.testing.assert_allclose(foreign, np.broadcast_to(params.foreign_share, foreign.shape), rtol=1e-5)
    np.testing.assert_allclose(domestic, np.broadcast_to(params.domestic_share, domestic.shape), rtol=1e-5)
    usa = params.economies.index("USA")
    assert params.foreign_share[usa] == pytest.approx(0.35)  # EK 1996: 60-70% of US growth is domestic


def test_nqpf_level_does_not_depend_on_which_economies_are_simulated(calibration: Calibration) -> None:
    everyone = build_params(calibration, PRESETS["baseline"], horizon_years=3)
    pair = build_params(calibration, PRESETS["baseline"], economies=["CHN", "USA"], horizon_years=3)
    assert everyone.nqpf_base == pair.nqpf_base
    first = simulate(everyone, neutral_shocks(everyone)).nqpf[0, 0, everyone.economies.index("USA")]
    # The USA's own components are the same; its TFP path differs only through diffusion.
    assert first == pytest.approx(simulate(pair, neutral_shocks(pair)).nqpf[0, 0, 1], rel=1e-3)


def test_zero_trend_growth_gives_finite_channels(calibration: Calibration) -> None:
    data = {
        "name": "flat",
        "version": "1",
        "base_year": 2023,
        "economies": {code: dict(calibration.sources[code]) for code in ("CHN", "USA")},
    }
    for code in ("CHN", "USA"):
        data["economies"][code]["tfp_growth"] = {**data["economies"][code]["tfp_growth"], "value": 0.0}
        data["economies"][code]["research_growth"] = {
            **data["economies"][code]["research_growth"],
            "value": 0.0,
        }
    flat = calibration_from_dict(data)
    params = build_params(flat, PRESETS["baseline"], horizon_years=3)
    paths = simulate(params, draw_shocks(np.random.default_rng(0), params, 5))
    assert np.isfinite(paths.channel_growth).all()
    np.testing.assert_allclose(paths.channel_growth.sum(-1), paths.tfp_growth, atol=1e-15)
