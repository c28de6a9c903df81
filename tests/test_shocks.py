"""The Poisson sampler by table inversion against scipy's law."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from forecaster.shocks import poisson_by_inversion

MEANS = np.array([2.2, 8.0, 50.0])  # the range of the calibration's idea arrivals


def test_poisson_counts_follow_the_poisson_law() -> None:
    """Chi-square goodness of fit per mean (bins with at least 5 expected counts), and the mean within
    4 Monte-Carlo standard errors sqrt(m / n)."""
    n = 200_000
    counts = poisson_by_inversion(np.random.default_rng(12), MEANS, (n, len(MEANS)))
    assert counts.dtype == np.float64 and np.all(counts == np.round(counts)) and counts.min() >= 0
    for k, mean in enumerate(MEANS):
        values = counts[:, k]
        assert abs(values.mean() - mean) < 4 * np.sqrt(mean / n)
        support = np.arange(int(mean + 10 * np.sqrt(mean) + 10))
        expected = n * stats.poisson.pmf(support, mean)
        keep = expected >= 5
        observed = np.bincount(values.astype(int), minlength=support.size)[: support.size]
        # Pool the tails into the first and last kept bins so that the counts add up to n.
        lo, hi = np.flatnonzero(keep)[[0, -1]]
        obs = np.concatenate([[observed[: lo + 1].sum()], observed[lo + 1 : hi], [n - observed[:hi].sum()]])
        exp = np.concatenate([[expected[: lo + 1].sum()], expected[lo + 1 : hi], [n - expected[:hi].sum()]])
        assert stats.chisquare(obs, exp).pvalue > 1e-3, mean


def test_a_wrong_law_is_detected() -> None:
    """The test above can fail: counts of a mean 5% off are rejected."""
    n = 200_000
    values = poisson_by_inversion(np.random.default_rng(12), np.array([8.4]), (n, 1))[:, 0]
    assert abs(values.mean() - 8.0) > 4 * np.sqrt(8.0 / n)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_same_seed_gives_the_same_counts(seed: int) -> None:
    first = poisson_by_inversion(np.random.default_rng(seed), MEANS, (1000, 3))
    again = poisson_by_inversion(np.random.default_rng(seed), MEANS, (1000, 3))
    np.testing.assert_array_equal(first, again)
