"""Scores of probabilistic forecasts checked against their mathematics.

Statistical checks use fixed seeds and a tolerance of 4 Monte-Carlo standard errors (SE), stated at each
assertion: a correct implementation fails one with probability about 6e-5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scoringrules as sr
import xarray as xr
from scipy import integrate, stats

from forecaster import scoring
from forecaster.scoring import (
    climatology,
    coverage_table,
    crps_ensemble,
    crps_normal,
    interval_hit,
    pit,
    random_walk_drift,
    skill,
)

INV_SQRT_PI = 1 / math.sqrt(math.pi)  # E[CRPS(N(0,1), Y)] for Y ~ N(0,1): E|X-Y| - E|X-X'|/2 = 2/√π - 1/√π


def ensemble(values: np.ndarray) -> xr.DataArray:
    """Cases x members as a (case, draw) DataArray."""
    return xr.DataArray(values, dims=("case", "draw"))


def observed(values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims=("case",))


def pairwise_crps(x: np.ndarray, y: np.ndarray, fair: bool) -> np.ndarray:
    """The O(M^2) double-sum CRPS of ensembles x (n, M) against y (n,), chunked to bound memory."""
    m = x.shape[1]
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], 1000):
        xs, ys = x[start : start + 1000], y[start : start + 1000]
        e1 = np.abs(xs - ys[:, None]).mean(axis=1)
        pairs = np.abs(xs[:, :, None] - xs[:, None, :]).sum(axis=(1, 2))
        out[start : start + 1000] = e1 - pairs / (2 * m * (m - 1) if fair else 2 * m * m)
    return out


# ----------------------------------------------------------------------------------------------------------
# CRPS
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [5, 10, 50])
def test_fair_crps_of_perfect_ensembles_is_unbiased_and_plain_is_not(m: int) -> None:
    rng = np.random.default_rng(100 + m)
    n = 20_000
    x, y = rng.standard_normal((n, m)), rng.standard_normal(n)
    fair = crps_ensemble(ensemble(x), observed(y)).values
    # Fair CRPS is unbiased for the CRPS of the members' law: mean 1/√π within 4 SE (SE = sd/√n).
    se = fair.std(ddof=1) / math.sqrt(n)
    assert abs(fair.mean() - INV_SQRT_PI) < 4 * se

    # The plain (empirical-distribution) CRPS, by formula, exceeds it by S/(2M²(M-1)), S = Σ_ij |x_i-x_j|,
    # whose expectation is 1/(M√π). Checked on the paired differences: within 4 SE of their mean.
    plain = pairwise_crps(x, y, fair=False)
    gap = plain - fair
    gap_se = gap.std(ddof=1) / math.sqrt(n)
    assert abs(gap.mean() - INV_SQRT_PI / m) < 4 * gap_se
    # ... and the gap is resolved: 1/(M√π) is > 10 paired SE away from 0, so the test tells the two apart.
    assert gap.mean() > 10 * gap_se
    # For small ensembles the plain score's own mean is > 4 SE above 1/√π (it is biased, the fair one is not).
    plain_se = plain.std(ddof=1) / math.sqrt(n)
    if m <= 10:
        assert plain.mean() - INV_SQRT_PI > 4 * plain_se


def test_large_ensembles_approach_the_normal_closed_form() -> None:
    rng = np.random.default_rng(7)
    mu, sd = 0.012, 0.018  # TFP-growth scale
    ys = xr.DataArray([-0.05, -0.01, 0.0, 0.012, 0.02, 0.04, 0.09], dims=("point",))
    reps, m = 50, 2_000  # 50 independent ensembles of 2,000 members per observation
    members = xr.DataArray(mu + sd * rng.standard_normal((reps, ys.size, m)), dims=("rep", "point", "draw"))
    scores = crps_ensemble(members, ys)
    assert scores.dims == ("rep", "point")
    exact = crps_normal(mu, sd, ys)
    # The fair CRPS is unbiased for CRPS(N(mu, sd²), y): the mean over replicates is within 4 SE of the closed
    # form, SE = sd over replicates / √50 (about 0.1% of the score, i.e. one 100,000-member ensemble).
    se = scores.std("rep", ddof=1) / math.sqrt(reps)
    assert bool((abs(scores.mean("rep") - exact) < 4 * se).all())
    assert bool((se < 0.01 * exact).all())


@pytest.mark.parametrize(
    ("mu", "sd", "y"), [(0.0, 1.0, 0.0), (0.3, 2.0, -1.1), (1.0, 0.5, 3.0), (-0.02, 0.015, 0.01)]
)
def test_crps_normal_matches_the_integral_definition(mu: float, sd: float, y: float) -> None:
    def cdf(z: float) -> float:
        return float(stats.norm.cdf(z, loc=mu, scale=sd))

    below, _ = integrate.quad(lambda z: cdf(z) ** 2, -np.inf, y, epsabs=1e-13, epsrel=1e-12)
    above, _ = integrate.quad(lambda z: (1 - cdf(z)) ** 2, y, np.inf, epsabs=1e-13, epsrel=1e-12)
    assert float(crps_normal(mu, sd, y)) == pytest.approx(below + above, abs=1e-8)
    z = (y - mu) / sd
    by_formula = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - INV_SQRT_PI)
    assert float(crps_normal(mu, sd, y)) == pytest.approx(by_formula, abs=1e-12)


def test_crps_normal_broadcasts_by_name_and_handles_degenerate_sd() -> None:
    mean = xr.DataArray([0.0, 1.0], dims=("economy",), coords={"economy": ["A", "B"]})
    sd = xr.DataArray([1.0, 2.0, 0.5], dims=("year",), coords={"year": [2021, 2022, 2023]})
    y = xr.DataArray([[0.5, 0.2, -1.0], [1.0, np.nan, 2.0]], dims=("economy", "year"), coords=mean.coords)
    y = y.assign_coords(year=sd["year"])
    out = crps_normal(mean, sd, y.transpose("year", "economy"))
    assert set(out.dims) == {"economy", "year"}
    expected = sr.crps_normal(0.5, 0.0, 1.0)
    assert float(out.sel(economy="A", year=2021)) == pytest.approx(expected, abs=1e-15)
    assert np.isnan(out.sel(economy="B", year=2022))
    # sd = 0 is a point forecast (|y - mean|, the limit); a negative sd is NaN.
    assert float(crps_normal(1.0, 0.0, 3.5)) == 2.5
    assert np.isnan(crps_normal(1.0, -1.0, 3.5))


@pytest.mark.parametrize("m", [2, 3, 7, 16])
def test_crps_ensemble_equals_the_double_sum_including_ties(m: int) -> None:
    rng = np.random.default_rng(m)
    continuous = rng.standard_normal((300, m))
    tied = rng.integers(0, 4, size=(300, m)) / 2.0  # many equal members, and observations equal to members
    for x in (continuous, tied):
        y = rng.integers(0, 4, size=300) / 2.0
        got = crps_ensemble(ensemble(x), observed(y)).values
        np.testing.assert_allclose(got, pairwise_crps(x, y, fair=True), rtol=0, atol=1e-12)
        # ... and with scoringrules' own "fair" estimator (the O(M²) pairwise one).
        np.testing.assert_allclose(got, sr.crps_ensemble(y, x, estimator="fair", backend="numpy"), atol=1e-12)


def test_crps_ensemble_ignores_nan_members_and_propagates_nan_observations() -> None:
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((200, 8)), 1)  # ties too
    k = rng.integers(0, 9, size=200)  # finite members per case, ragged
    ragged = np.where(np.arange(8) < k[:, None], x, np.nan)
    rng.permuted(ragged, axis=1, out=ragged)  # NaN slots anywhere, not only at the end
    y = np.round(rng.standard_normal(200), 1)
    y[:10] = np.nan
    got = crps_ensemble(ensemble(ragged), observed(y)).values
    for i in range(200):
        members = ragged[i][~np.isnan(ragged[i])]
        if np.isnan(y[i]) or members.size < 2:
            assert np.isnan(got[i])
        else:
            want = pairwise_crps(members[None, :], y[i : i + 1], fair=True)[0]
            assert got[i] == pytest.approx(want, abs=1e-12)


def test_crps_ensemble_aligns_on_labels_and_keeps_forecast_cells() -> None:
    rng = np.random.default_rng(4)
    fct = xr.DataArray(
        rng.standard_normal((2, 3, 20)),
        dims=("economy", "year", "draw"),
        coords={"economy": ["A", "B"], "year": [2021, 2022, 2023]},
    )
    obs = xr.DataArray(  # other dimension order, one year missing, one extra year
        [[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]],
        dims=("year", "economy"),
        coords={"year": [2020, 2021, 2022], "economy": ["A", "B"]},
    )
    out = crps_ensemble(fct.transpose("draw", "year", "economy"), obs)
    assert out.sizes == {"year": 3, "economy": 2}
    assert np.isnan(out.sel(year=2023)).all()
    a2021 = pairwise_crps(fct.sel(economy="A", year=2021).values[None], np.array([0.2]), fair=True)[0]
    assert float(out.sel(economy="A", year=2021)) == pytest.approx(a2021, abs=1e-12)


# ----------------------------------------------------------------------------------------------------------
# PIT
# ----------------------------------------------------------------------------------------------------------

N_PIT, M_PIT = 200_000, 9
UNIFORM_VAR = 1 / 12
# SE of the mean of n U(0,1): √(1/(12n)); of the sample variance: √(Var((U-½)²)/n) = √((1/80 - 1/144)/n).
MEAN_SE = math.sqrt(UNIFORM_VAR / N_PIT)
VAR_SE = math.sqrt((1 / 80 - 1 / 144) / N_PIT)


def assert_uniform(u: np.ndarray) -> None:
    assert abs(u.mean() - 0.5) < 4 * MEAN_SE
    assert abs(u.var() - UNIFORM_VAR) < 4 * VAR_SE
    assert stats.kstest(u, "uniform").pvalue > 0.01


def plain_rank_pit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-randomised rank PIT (r - 1)/M, r = 1 + #{x_i < y}."""
    return (x < y[:, None]).sum(axis=1) / x.shape[1]


@pytest.mark.parametrize("kind", ["continuous", "discrete"])
def test_randomised_pit_of_calibrated_ensembles_is_uniform(kind: str) -> None:
    rng = np.random.default_rng(11)
    if kind == "continuous":
        x, y = rng.standard_normal((N_PIT, M_PIT)), rng.standard_normal(N_PIT)
    else:  # exchangeable with many ties: members equal to each other and to the observation
        x, y = rng.poisson(2.0, (N_PIT, M_PIT)).astype(float), rng.poisson(2.0, N_PIT).astype(float)
    u = pit(ensemble(x), observed(y), np.random.default_rng(12)).values
    assert ((u >= 0) & (u <= 1)).all()
    assert_uniform(u)  # mean ½, variance 1/12 within 4 SE; KS not rejected at 1%

    # The plain rank PIT is discrete: with continuous values its variance is (M+2)/(12M) = 11/108, and with
    # ties also its mean is off. Either way it fails the same checks by far.
    plain = plain_rank_pit(x, y)
    assert abs(plain.var() - UNIFORM_VAR) > 4 * VAR_SE
    assert stats.kstest(plain, "uniform").pvalue < 1e-6
    if kind == "continuous":
        # Exact law of the plain PIT here: uniform on {0, 1/M, ..., 1}; 4 SE of its sample variance.
        d = np.arange(M_PIT + 1) / M_PIT - 0.5
        plain_var_se = math.sqrt((np.mean(d**4) - np.mean(d**2) ** 2) / N_PIT)
        assert abs(plain.var() - (M_PIT + 2) / (12 * M_PIT)) < 4 * plain_var_se


def test_pit_of_a_too_narrow_ensemble_is_u_shaped() -> None:
    rng = np.random.default_rng(13)
    x, y = 0.5 * rng.standard_normal((20_000, M_PIT)), rng.standard_normal(20_000)
    u = pit(ensemble(x), observed(y), rng).values
    assert u.var() > UNIFORM_VAR + 0.02  # too many PITs near 0 and 1


def test_pit_is_deterministic_given_the_seed_and_handles_nan() -> None:
    rng = np.random.default_rng(14)
    fct = xr.DataArray(
        np.round(rng.standard_normal((3, 4, 6)), 1),
        dims=("economy", "year", "draw"),
        coords={"economy": ["A", "B", "C"], "year": [1, 2, 3, 4]},
    )
    obs = xr.DataArray(np.round(rng.standard_normal((3, 4)), 1), dims=("economy", "year"), coords=fct.coords)
    obs[0, 0] = np.nan
    fct[1, 1, :] = np.nan  # no finite member
    fct[2, 2, :3] = np.nan  # three finite members
    first = pit(fct, obs, np.random.default_rng(5))
    xr.testing.assert_identical(first, pit(fct, obs, np.random.default_rng(5)))
    # Same draws whatever the order of the input dimensions.
    swapped = pit(
        fct.transpose("draw", "year", "economy"), obs.transpose("year", "economy"), np.random.default_rng(5)
    )
    xr.testing.assert_identical(first, swapped.transpose(*first.dims))
    assert not np.allclose(first.fillna(0), pit(fct, obs, np.random.default_rng(6)).fillna(0))
    assert np.isnan(first[0, 0]) and np.isnan(first[1, 1])
    # With K finite members the PIT lies in [a, a + b + 1] / (K + 1).
    members = fct[2, 2].values[3:]
    y = float(obs[2, 2])
    a, b = (members < y).sum(), (members == y).sum()
    assert a / 4 <= float(first[2, 2]) <= (a + b + 1) / 4


# ----------------------------------------------------------------------------------------------------------
# Interval hits
# ----------------------------------------------------------------------------------------------------------


def test_quantile_helper_matches_numpy() -> None:
    rng = np.random.default_rng(21)
    x = np.round(rng.standard_normal((500, 11)), 1)
    probs = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0]
    for got, p in zip(scoring._quantiles_ignoring_nan(x, probs), probs, strict=True):
        np.testing.assert_array_equal(got, np.quantile(x, p, axis=-1))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0] = np.nan
    for got, p in zip(scoring._quantiles_ignoring_nan(x, probs), probs, strict=True):
        np.testing.assert_array_equal(got[1:], np.nanquantile(x[1:], p, axis=-1))
        assert np.isnan(got[0])


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_calibrated_ensembles_cover_at_the_nominal_rate(level: float) -> None:
    rng = np.random.default_rng(int(level * 100))
    n, m = 10_000, 401
    x, y = rng.standard_normal((n, m)), rng.standard_normal(n)
    hits = interval_hit(ensemble(x), observed(y), level)
    rate = float(hits.mean())
    se = math.sqrt(level * (1 - level) / n)  # binomial SE of the hit rate (0.003 at 90%, 0.005 at 50%)
    # With (M-1)p an integer the interval runs between order statistics i and j, and for exchangeable y the
    # exact coverage is (j - i)/(M + 1) = level (M-1)/(M+1): 0.4975 and 0.8955 here, within 4 SE.
    assert abs(rate - level * (m - 1) / (m + 1)) < 4 * se
    assert abs(rate - level) < 4 * se + level * 2 / (m + 1)
    # A too-narrow ensemble (sd 0.5 against a truth of sd 1) covers far less: 2Φ(0.5 z) - 1, 0.59 at 90%.
    narrow = float(interval_hit(ensemble(0.5 * x), observed(y), level).mean())
    assert narrow < level - 10 * se
    assert narrow == pytest.approx(2 * stats.norm.cdf(0.5 * stats.norm.ppf((1 + level) / 2)) - 1, abs=0.03)


def test_interval_hit_edges_nan_and_ragged_members() -> None:
    x = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 1.0, np.nan, 3.0, np.nan], [np.nan] * 5])
    # 50% central interval of 0..4: [1, 3] (inclusive); of {0, 1, 3}: [0.5, 2].
    y = np.array([3.0, 2.0, 1.0])
    hits = interval_hit(ensemble(x), observed(y), 0.5).values
    np.testing.assert_array_equal(hits[:2], [1.0, 1.0])
    assert np.isnan(hits[2])
    outside = interval_hit(ensemble(x[:2]), observed(np.array([3.01, 2.01])), 0.5)
    np.testing.assert_array_equal(outside, [0.0, 0.0])
    assert np.isnan(interval_hit(ensemble(x[:1]), observed(np.array([np.nan])), 0.9).values).all()
    with pytest.raises(ValueError, match="level"):
        interval_hit(ensemble(x), observed(y), 1.5)


def test_coverage_table() -> None:
    hits = xr.DataArray(
        [[1.0, 0.0, 1.0, np.nan], [1.0, 1.0, 1.0, 1.0], [np.nan] * 4],
        dims=("economy", "year"),
        coords={"economy": ["A", "B", "C"]},
    )
    table = coverage_table(hits, "year")
    np.testing.assert_array_equal(table["n"], [3, 4, 0])
    np.testing.assert_allclose(table["coverage"][:2], [2 / 3, 1.0])
    np.testing.assert_allclose(table["se"][:2], [math.sqrt(2 / 9 / 3), 0.0])
    assert np.isnan(table["coverage"][2]) and np.isnan(table["se"][2])
    pooled = coverage_table(hits, ["economy", "year"])
    assert int(pooled["n"]) == 7 and float(pooled["coverage"]) == pytest.approx(6 / 7)


# ----------------------------------------------------------------------------------------------------------
# Benchmarks
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def history() -> xr.DataArray:
    years = np.arange(2000, 2013)
    a = [0.05, 0.04, 0.03, 0.01, 0.02, 0.03, 0.00, 0.02, 0.01, 0.07, 0.08, 0.09, 0.10]
    b = [0.02, np.nan, 0.01, 0.03, np.nan, 0.01, 0.02, 0.03, 0.05, 0.0, 0.0, 0.0, 0.0]
    c = [np.nan, np.nan, np.nan, np.nan, np.nan, 0.01, 0.02, 0.03, 0.04, 0.01, 0.02, 0.03, 0.04]
    return xr.DataArray(
        [a, b, c], dims=("economy", "year"), coords={"economy": ["A", "B", "C"], "year": years}
    )


def perturb_after(history: xr.DataArray, origin: int) -> xr.DataArray:
    later = history["year"] > origin
    return history.where(~later, history * 10 + 1.0)


def test_random_walk_drift_by_hand(history: xr.DataArray) -> None:
    mean, sd = random_walk_drift(history, origin=2008, horizon_years=3, window=6)  # years 2003..2008
    assert mean.dims == ("economy", "year") and sd.dims == ("economy", "year")
    np.testing.assert_array_equal(mean["year"], [2009, 2010, 2011])
    # A: 0.01 0.02 0.03 0.00 0.02 0.01 -> mean 0.015, squared deviations (25+25+225+225+25+25)e-6 = 550e-6,
    # sd = √(550e-6 / 5) = √1.1e-4.
    np.testing.assert_allclose(mean.sel(economy="A"), 0.015, atol=1e-15)
    np.testing.assert_allclose(sd.sel(economy="A"), math.sqrt(1.1e-4), rtol=1e-12)
    # B: 0.03 (2004 NaN skipped) 0.01 0.02 0.03 0.05 -> 5 values, mean 0.028, sd ddof=1.
    b = np.array([0.03, 0.01, 0.02, 0.03, 0.05])
    np.testing.assert_allclose(mean.sel(economy="B"), b.mean(), rtol=1e-12)
    np.testing.assert_allclose(sd.sel(economy="B"), b.std(ddof=1), rtol=1e-12)
    # C: only 4 values in the window -> NaN (at least 5 needed).
    assert mean.sel(economy="C").isnull().all() and sd.sel(economy="C").isnull().all()


def test_random_walk_drift_reads_nothing_after_the_origin(history: xr.DataArray) -> None:
    for origin in (2006, 2008, 2010):
        before = random_walk_drift(history, origin, 2, 8)
        after = random_walk_drift(perturb_after(history, origin), origin, 2, 8)
        for x, y in zip(before, after, strict=True):
            xr.testing.assert_identical(x, y)
        assert not random_walk_drift(perturb_after(history, origin - 1), origin, 2, 8)[0].equals(before[0])


def test_climatology_by_hand_and_no_look_ahead(history: xr.DataArray) -> None:
    clim = climatology(history, origin=2008, horizon_years=2)
    assert clim.dims == ("economy", "year", "draw")
    np.testing.assert_array_equal(clim["year"], [2009, 2010])
    assert clim.sizes["draw"] == 9  # A has 9 years up to 2008
    for year in (2009, 2010):
        np.testing.assert_array_equal(clim.sel(economy="A", year=year), history.sel(economy="A").values[:9])
        np.testing.assert_array_equal(
            clim.sel(economy="B", year=year), [0.02, 0.01, 0.03, 0.01, 0.02, 0.03, 0.05, np.nan, np.nan]
        )
        np.testing.assert_array_equal(clim.sel(economy="C", year=year)[:4], [0.01, 0.02, 0.03, 0.04])
        assert clim.sel(economy="C", year=year)[4:].isnull().all()
    xr.testing.assert_identical(clim, climatology(perturb_after(history, 2008), 2008, 2))
    assert not climatology(perturb_after(history, 2007), 2008, 2).equals(clim)
    # Scoring ignores the NaN padding: B is scored as its own 7 values.
    obs = history.sel(year=[2009, 2010])
    got = crps_ensemble(clim, obs).sel(economy="B")
    own = np.array([0.02, 0.01, 0.03, 0.01, 0.02, 0.03, 0.05])
    want = pairwise_crps(np.tile(own, (2, 1)), obs.sel(economy="B").values, fair=True)
    np.testing.assert_allclose(got, want, atol=1e-14)


# ----------------------------------------------------------------------------------------------------------
# Skill
# ----------------------------------------------------------------------------------------------------------


def test_skill() -> None:
    rng = np.random.default_rng(31)
    n, m = 4_000, 20
    y = observed(rng.standard_normal(n))
    perfect = crps_ensemble(ensemble(rng.standard_normal((n, m))), y)
    too_wide = crps_ensemble(ensemble(3 * rng.standard_normal((n, m))), y)
    # Expected means 1/√π = 0.564 and E|X - Y| - E|X - X'|/2 = (√10 - √18/2)√(2/π) = 0.831: skill about 0.32.
    s = skill(perfect, too_wide)
    assert s.ndim == 0 and 0.25 < float(s) < 0.40
    assert float(skill(perfect, perfect)) == 0.0
    assert float(skill(too_wide, perfect)) < 0
    # Only cells finite in both count; non-finite ones in either are left out of both means.
    holes = too_wide.copy()
    holes[:100] = np.nan
    holes[100] = np.inf
    expected = 1 - float(perfect[101:].mean()) / float(too_wide[101:].mean())
    assert float(skill(perfect, holes)) == pytest.approx(expected, rel=1e-12)
    # Per-group skill over some dimensions, and against a closed-form benchmark.
    scores = perfect.expand_dims(economy=["A", "B"]).copy()
    assert skill(scores, scores, dims="case").dims == ("economy",)
    normal_wide = crps_normal(0.0, 3.0, y)
    assert float(skill(perfect, normal_wide)) == pytest.approx(1 - INV_SQRT_PI / 0.831, abs=0.04)
