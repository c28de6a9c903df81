"""Building blocks against closed forms (docs/model.md lists the checks).

Monte-Carlo checks use fixed seeds and tolerances of 5 Monte-Carlo standard
errors (SE): sqrt(p(1-p)/M) for proportions, s/sqrt(M) for means.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import gamma

from forecaster import Calibration, ForecastRequest, run_forecast, summarize
from forecaster.theory import (
    acr_real_wage,
    diffusion_term,
    frechet_sample,
    head_ries_trade_cost,
    idea_flow_cdf,
    kortum_growth,
    nqpf_index,
    price_index,
    trade_shares,
)

Z = 5.0  # tolerance in Monte-Carlo standard errors


def test_frechet_max_stability_and_argmax_shares() -> None:
    rng = np.random.default_rng(1)
    theta, scales, m = 4.0, np.array([1.0, 2.0, 3.5, 0.5]), 400_000
    draws = frechet_sample(rng, scales, theta, (m, 4))
    best = draws.max(axis=1)
    total = scales.sum()
    # P(max <= z) = exp(-sum(T) z^-theta)
    p = math.exp(-total * 1.7**-theta)
    assert abs((best <= 1.7).mean() - p) < Z * math.sqrt(p * (1 - p) / m)
    # P(argmax = k) = T_k / sum(T)
    shares = np.bincount(draws.argmax(axis=1), minlength=4) / m
    expected = scales / total
    assert np.all(np.abs(shares - expected) < Z * np.sqrt(expected * (1 - expected) / m))
    # E[max] = sum(T)^(1/theta) Gamma(1 - 1/theta)
    mean = total ** (1 / theta) * gamma(1 - 1 / theta)
    assert abs(best.mean() - mean) < Z * best.std() / math.sqrt(m)


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray | float]:
    """A 4-economy world as in the classic check of trade shares and price index (theta 4, sigma 2)."""
    return {
        "lam": np.array([1.0, 0.6, 1.5, 0.4]),
        "wage": np.array([1.0, 0.8, 1.2, 0.7]),
        "cost": np.array(
            [[1.0, 1.6, 1.4, 1.9], [1.6, 1.0, 1.5, 1.7], [1.4, 1.5, 1.0, 1.8], [1.9, 1.7, 1.8, 1.0]]
        ),
        "theta": 4.0,
        "sigma": 2.0,
    }


def test_eaton_kortum_shares_and_price_index_match_simulated_goods(world: dict) -> None:
    rng = np.random.default_rng(2)
    lam, wage, cost, theta, sigma = (world[k] for k in ("lam", "wage", "cost", "theta", "sigma"))
    m = 400_000
    z = frechet_sample(rng, lam, theta, (m, 4))  # productivity of each source for each good
    shares = trade_shares(lam, wage, cost, theta)
    prices = price_index(lam, wage, cost, theta, sigma)
    for n in range(4):
        offered = wage * cost[n] / z  # price offered to n by each source
        bought = offered.min(axis=1)
        freq = np.bincount(offered.argmin(axis=1), minlength=4) / m
        se = np.sqrt(shares[n] * (1 - shares[n]) / m)
        assert np.all(np.abs(freq - shares[n]) < Z * se)
        # CES price index: P = E[p^(1-sigma)]^(1/(1-sigma)); compare E[p^(1-sigma)].
        moment = bought ** (1 - sigma)
        assert abs(moment.mean() - prices[n] ** (1 - sigma)) < Z * moment.std() / math.sqrt(m)


def test_acr_real_wage_identity_and_gains(world: dict) -> None:
    lam, wage, cost, theta, sigma = (world[k] for k in ("lam", "wage", "cost", "theta", "sigma"))
    shares = trade_shares(lam, wage, cost, theta)
    real_wage = wage / price_index(lam, wage, cost, theta, sigma)
    np.testing.assert_allclose(real_wage, acr_real_wage(lam, np.diag(shares), theta, sigma), rtol=1e-12)
    # Gains from a cost change: W_hat = pi_nn_hat^(-1/theta).
    cheaper = 1 + (cost - 1) * 0.7
    new_shares = trade_shares(lam, wage, cheaper, theta)
    new_real_wage = wage / price_index(lam, wage, cheaper, theta, sigma)
    np.testing.assert_allclose(
        new_real_wage / real_wage, (np.diag(new_shares) / np.diag(shares)) ** (-1 / theta), rtol=1e-12
    )


def test_head_ries_inversion_recovers_symmetric_costs(world: dict) -> None:
    shares = trade_shares(world["lam"], world["wage"], world["cost"], world["theta"])
    np.testing.assert_allclose(head_ries_trade_cost(shares, world["theta"]), world["cost"], rtol=1e-12)


def test_gravity_regression_recovers_minus_theta() -> None:
    """G1: log(pi_ni / pi_nn) on log d_ni with exporter and importer effects has slope -theta."""
    rng = np.random.default_rng(3)
    n, theta = 8, 4.7
    cost = np.exp(rng.uniform(0.1, 1.0, (n, n)))
    np.fill_diagonal(cost, 1.0)
    shares = trade_shares(rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n), cost, theta)
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    y = np.log(shares[rows, cols] / shares[rows, rows])
    design = np.column_stack([np.log(cost[rows, cols]), np.eye(n)[cols], np.eye(n)[rows][:, 1:]])
    slope = np.linalg.lstsq(design, y, rcond=None)[0][0]
    assert slope == pytest.approx(-theta, rel=1e-10)


def test_diffusion_term_matches_monte_carlo_of_insights() -> None:
    """E[z'^(beta theta)] over the sellers' productivities = Gamma(1-b) sum pi^(1-b) lam^b."""
    rng = np.random.default_rng(4)
    theta, beta, m = 6.0, 0.3, 400_000
    lam, wage = np.array([1.0, 2.0, 0.5, 1.2]), np.ones(4)
    cost = np.array([1.0, 1.3, 1.5, 1.2])  # costs from each source to economy 0
    z = frechet_sample(rng, lam, theta, (m, 4))
    seller = np.argmin(wage * cost / z, axis=1)
    insight = z[np.arange(m), seller] ** (beta * theta)
    shares = trade_shares(lam, wage, cost[None, :], theta)
    expected = diffusion_term(shares, lam, beta)[0]
    assert abs(insight.mean() - expected) < Z * insight.std() / math.sqrt(m)


def test_diffusion_term_rises_with_openness() -> None:
    lam = np.ones(3)
    autarky = np.eye(3)
    open_shares = np.full((3, 3), 1 / 3)
    beta = 0.4
    np.testing.assert_allclose(diffusion_term(autarky, lam, beta), gamma(1 - beta))
    assert np.all(diffusion_term(open_shares, lam, beta) > diffusion_term(autarky, lam, beta))


def test_logistic_law_of_idea_flows() -> None:
    """Agents meet at rate alpha and keep the better idea: F(z, t) follows the logistic law."""
    rng = np.random.default_rng(5)
    kappa, alpha, horizon, dt, m = 3.0, 0.5, 6.0, 0.005, 40_000
    z = (1 - rng.random(m)) ** (-1 / kappa)  # Pareto(kappa) on [1, inf)
    for _ in range(round(horizon / dt)):
        meets = rng.random(m) < alpha * dt
        partner = rng.integers(0, m, m)
        z = np.where(meets, np.maximum(z, z[partner]), z)
    for level in (1.5, 2.0, 3.0):
        f0 = 1 - level**-kappa
        expected = idea_flow_cdf(f0, alpha, horizon)
        se = math.sqrt(expected * (1 - expected) / m)
        assert abs((z <= level).mean() - expected) < Z * se + alpha * dt  # + discretisation


def test_kortum_growth_is_the_growth_of_the_simulated_frontier() -> None:
    """Kortum (1997): ideas arrive in proportion to research growing at n, the frontier is Frechet with
    scale T(t) ~ e^{n t}, and mean log productivity grows at n / theta. Simulated: the best of the
    ideas drawn by two dates 60 years apart (frechet_sample at each date's T), 200,000 goods each.
    The SE of a mean log productivity is (pi / (theta sqrt 6)) / sqrt(M) (Gumbel law of log z)."""
    rng = np.random.default_rng(17)
    n, theta, years, goods = 0.02, 4.0, 60, 200_000
    start, end = (np.log(frechet_sample(rng, math.exp(n * t), theta, goods)).mean() for t in (0, years))
    se = math.pi / (theta * math.sqrt(6)) / math.sqrt(goods) * math.sqrt(2) / years
    assert (end - start) / years == pytest.approx(float(kortum_growth(n, theta)), abs=Z * se)
    assert abs((end - start) / years - n) > 100 * se  # not the research growth itself


def test_the_summary_bands_cover_a_held_out_draw_as_often_as_their_level(calibration: Calibration) -> None:
    """Draws are exchangeable: a draw held out of the forecast falls inside the summary's 5-95% band in
    90% of the cells, up to (M - 1)/(M + 1) for M draws and Monte-Carlo error (cells are correlated
    within a draw, so the error bound uses the number of held-out draws, not of cells)."""
    request = ForecastRequest(horizon_years=10, n_draws=2_100, seed=4, compare_to_baseline=False)
    draws = run_forecast(request, calibration).sel(scenario="policy", drop=True)
    held_out, kept = draws.isel(draw=slice(0, 100)), draws.isel(draw=slice(100, None))
    summary = summarize(kept.expand_dims(scenario=["policy"]))
    band = summary.tfp_growth_quantile.sel(quantile=[0.05, 0.95])
    low, high = band.sel(quantile=0.05), band.sel(quantile=0.95)
    inside = (held_out.tfp_growth >= low) & (held_out.tfp_growth <= high)
    per_draw = inside.mean(("year", "economy"))
    expected = 0.9 * 1999 / 2001
    assert abs(float(per_draw.mean()) - expected) < Z * float(per_draw.std()) / math.sqrt(100)
    assert float(per_draw.mean()) < 0.95  # a 5-95% band is not a 1-99% one


def test_nqpf_index_is_fixed_weight_fixed_base() -> None:
    components = np.array([[1.0, 0.02, 0.8, 0.3], [0.5, 0.01, 0.4, 0.15]])
    base = np.array([0.75, 0.015, 0.6, 0.225])
    weights = np.array([0.4, 0.2, 0.2, 0.2])
    index = nqpf_index(components, base, weights)
    np.testing.assert_allclose(index.mean(), 1.0)  # base = mean, so the mean index is 1
    np.testing.assert_allclose(index[0] / index[1], 2.0)  # homogeneous of degree one
