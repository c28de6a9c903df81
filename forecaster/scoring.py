r"""Scores of probabilistic forecasts, for backtests of fan charts.

An ensemble forecast is an :class:`xarray.DataArray` with a member dimension
(``draw`` by default) and any other dimensions (``origin``, ``economy``,
``year``, ...); the realised values have the same dimensions without the
member one. Every function labels and reduces by dimension name and is pure:
the only randomness, in :func:`pit`, comes from the generator passed in.

Missing values
    A NaN observation gives a NaN score (CRPS, PIT, interval hit). NaN
    *members* are ignored: an ensemble of ``M`` slots of which ``K`` are finite
    is scored as the ensemble of those ``K`` values. This is how ragged
    ensembles are represented (:func:`climatology` pads with NaN). The fair
    CRPS needs ``K >= 2``, the PIT and the interval ``K >= 1``; below that the
    score is NaN. Members must otherwise be finite (no infinities).

Alignment
    The cells scored are those of the forecast (``join="left"``): an
    observation missing from ``observed`` gives a NaN score, extra observations
    are ignored.

Benchmarks
    :func:`random_walk_drift` (a normal predictive law, scored with
    :func:`crps_normal`) and :func:`climatology` (an ensemble of past growth
    rates) use data up to the forecast origin only.

References
----------
Ferro, C. A. T. (2014). Fair scores for ensemble forecasts. *Quarterly Journal
of the Royal Meteorological Society* 140, 1917-1923. doi:10.1002/qj.2270.

Gneiting, T. and Raftery, A. E. (2007). Strictly proper scoring rules,
prediction, and estimation. *JASA* 102, 359-378. doi:10.1198/016214506000001437.

Zamo, M. and Naveau, P. (2018). Estimation of the continuous ranked
probability score with limited information and applications to ensemble
weather forecasts. *Mathematical Geosciences* 50, 209-234.
doi:10.1007/s11004-017-9709-7.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt
import scoringrules as sr
import xarray as xr

from forecaster.arrays import FloatArray

#: Fewest past observations :func:`random_walk_drift` needs for a mean and a standard deviation.
MIN_DRIFT_OBSERVATIONS = 5
#: scoringrules backend: plain numpy, the same numbers whether or not numba is installed.
_BACKEND = "numpy"


# --------------------------------------------------------------------------------------------------
# Helpers on numpy arrays, member axis last (the layout ``xr.apply_ufunc`` hands over)
# --------------------------------------------------------------------------------------------------


def _broadcast_case(fct: npt.ArrayLike, obs: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Members ``(..., M)`` and observations ``(...)`` as floats broadcast to one case shape."""
    f = np.asarray(fct, dtype=np.float64)
    o = np.asarray(obs, dtype=np.float64)
    shape = np.broadcast_shapes(f.shape[:-1], o.shape)
    return np.broadcast_to(f, (*shape, f.shape[-1])), np.broadcast_to(o, shape)


def _crps_fair_core(fct: npt.ArrayLike, obs: npt.ArrayLike) -> FloatArray:
    """Fair CRPS of ensembles ``(..., M)`` against ``(...)``, NaN members ignored."""
    f, o = _broadcast_case(fct, obs)
    m = f.shape[-1]
    if m < 2:
        return np.full(o.shape, np.nan)
    valid = ~np.isnan(f)
    # scoringrules' estimator="fair" forms all M x M pairwise differences (M^2 memory per case: 800 MB
    # for one 10,000-member ensemble). Its "pwm" estimator is algebraically the same fair score
    # (Zamo and Naveau 2018): on sorted members, (1/(2M(M-1))) sum_ij |x_i - x_j|
    # = (1/(M(M-1))) sum_i (2i - M - 1) x_(i) = 2 beta_1 - beta_0, so
    # E|X - y| + beta_0 - 2 beta_1 = CRPS_F, at O(M log M) time and O(M) memory. The tests check it
    # against the O(M^2) double sum to 1e-12, ties included.
    if valid.all():
        score = sr.crps_ensemble(o, f, m_axis=-1, estimator="pwm", backend=_BACKEND)
        return np.asarray(score, dtype=np.float64)
    # Ragged ensembles: weight 1/K on the K finite members, 0 on the NaN slots (filled with 0, any finite
    # value would do: with weight 0 they add nothing to either term). scoringrules' weighted pwm divides
    # by 1 - sum w^2 = 1 - 1/K, i.e. it is again the fair score of the K members.
    k = valid.sum(axis=-1)
    usable = k >= 2
    weights = np.where(usable[..., None], valid, True).astype(np.float64)  # no 0/0 where K < 2
    filled = np.where(valid, f, 0.0)
    score = sr.crps_ensemble(o, filled, m_axis=-1, ens_w=weights, estimator="pwm", backend=_BACKEND)
    return np.where(usable, np.asarray(score, dtype=np.float64), np.nan)


def _crps_normal_core(mean: npt.ArrayLike, sd: npt.ArrayLike, obs: npt.ArrayLike) -> FloatArray:
    """Closed-form CRPS of N(mean, sd^2); ``sd == 0`` gives ``|y - mean|``, ``sd < 0`` NaN."""
    mu, sigma, y = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (mean, sd, obs)))
    positive = sigma > 0
    score = np.asarray(
        sr.crps_normal(y, mu, np.where(positive, sigma, 1.0), backend=_BACKEND), dtype=np.float64
    )
    point = np.where(sigma == 0, np.abs(y - mu), np.nan)
    return np.where(positive, score, point)


def _rank_counts(fct: npt.ArrayLike, obs: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Count members below ``y`` (NaN if ``y`` is NaN or none is finite), equal to ``y``, and finite."""
    f, o = _broadcast_case(fct, obs)
    y = o[..., None]
    below = (f < y).sum(axis=-1).astype(np.float64)
    ties = (f == y).sum(axis=-1).astype(np.float64)
    k = (~np.isnan(f)).sum(axis=-1).astype(np.float64)
    below[np.isnan(o) | (k == 0)] = np.nan
    return below, ties, k


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """Numpy's quantile interpolation, ``a + (b - a) t``, from ``b`` when ``t >= 0.5``."""
    diff = b - a
    return np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)


def _quantiles_ignoring_nan(fct: npt.ArrayLike, probs: Sequence[float]) -> list[FloatArray]:
    """Quantiles over the last axis of the finite members, numpy's default ``linear`` method.

    Same numbers as ``np.nanquantile`` (and ``np.quantile`` when no member is NaN), without its
    warnings on all-NaN rows, which give NaN.
    """
    f = np.asarray(fct, dtype=np.float64)
    if f.shape[-1] == 0:
        return [np.full(f.shape[:-1], np.nan) for _ in probs]
    ordered = np.sort(f, axis=-1)  # NaN last
    k = (~np.isnan(f)).sum(axis=-1)
    last = np.maximum(k - 1, 0)
    out = []
    for p in probs:
        h = (k - 1) * float(p)  # virtual index (n - 1) p of method 7 (Hyndman and Fan 1996)
        previous = np.floor(h)
        top = h >= k - 1
        i = np.where(top, last, np.maximum(previous, 0)).astype(np.intp)
        j = np.where(top, last, np.minimum(previous + 1, last)).astype(np.intp)
        a = np.take_along_axis(ordered, i[..., None], axis=-1)[..., 0]
        b = np.take_along_axis(ordered, j[..., None], axis=-1)[..., 0]
        q = _lerp(a, b, h - previous)
        out.append(np.where(k > 0, q, np.nan))
    return out


def _interval_hit_core(fct: npt.ArrayLike, obs: npt.ArrayLike, level: float) -> FloatArray:
    """1.0 inside the central ``level`` interval of the finite members, 0.0 outside, NaN if undefined."""
    f, o = _broadcast_case(fct, obs)
    lower, upper = _quantiles_ignoring_nan(f, [(1 - level) / 2, (1 + level) / 2])
    hit = ((lower <= o) & (o <= upper)).astype(np.float64)
    return np.where(np.isnan(o) | np.isnan(lower), np.nan, hit)


def _past_years(history: xr.DataArray, first: float, last: int) -> xr.DataArray:
    """``history`` restricted to ``first <= year <= last``."""
    year = np.asarray(history["year"].values)
    return history.isel(year=np.flatnonzero((year >= first) & (year <= last)))


def _forecast_years(origin: int, horizon_years: int) -> npt.NDArray[np.int64]:
    if horizon_years < 1:
        raise ValueError(f"horizon_years must be at least 1, got {horizon_years}")
    return np.arange(origin + 1, origin + horizon_years + 1, dtype=np.int64)


def _check_history(history: xr.DataArray) -> None:
    if "year" not in history.dims:
        raise ValueError(f"history needs a 'year' dimension, it has {tuple(history.dims)}")


# --------------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------------


def crps_ensemble(forecast: xr.DataArray, observed: xr.DataArray, dim: str = "draw") -> xr.DataArray:
    r"""Fair continuous ranked probability score of an ensemble forecast (Ferro 2014).

    .. math::
        \mathrm{CRPS}_F(x, y) = \frac{1}{M}\sum_{i=1}^{M} |x_i - y|
        - \frac{1}{2M(M-1)} \sum_{i=1}^{M}\sum_{j=1}^{M} |x_i - x_j|

    The fair estimator is unbiased for the CRPS of the distribution the
    ``M`` members are drawn from: the plain (empirical-distribution) score,
    with :math:`1/(2M^2)` in the second term, favours under-dispersed small
    ensembles. Computed with :func:`scoringrules.crps_ensemble` (numpy
    backend, ``estimator="pwm"``, which on sorted members equals the fair
    score in :math:`O(M \log M)` time and :math:`O(M)` memory; see the
    comment in the code). Lower is better; same units as the forecast.

    Parameters
    ----------
    forecast : xarray.DataArray
        Ensemble, dimensions ``(dim, *cases)`` in any order. NaN members are
        ignored (ragged ensembles); cases with fewer than 2 finite members
        score NaN.
    observed : xarray.DataArray
        Realised values, dimensions ``cases`` (any subset, broadcast), aligned
        on the forecast's coordinates (missing observations give NaN).
    dim : str
        The member dimension.

    Returns
    -------
    xarray.DataArray
        ``crps``, dimensions ``cases``; NaN where the observation is NaN.
    """
    out = xr.apply_ufunc(
        _crps_fair_core, forecast, observed, input_core_dims=[[dim], []], join="left", keep_attrs=False
    )
    return out.rename("crps").assign_attrs(long_name="fair ensemble CRPS (Ferro 2014)")


def crps_normal(
    mean: xr.DataArray | float, sd: xr.DataArray | float, observed: xr.DataArray | float
) -> xr.DataArray:
    r"""Closed-form CRPS of a normal predictive law (Gneiting and Raftery 2007).

    .. math::
        \mathrm{CRPS}(\mathcal{N}(\mu, \sigma^2), y)
        = \sigma \left[ z \left(2\Phi(z) - 1\right) + 2\varphi(z) - \frac{1}{\sqrt{\pi}} \right],
        \qquad z = \frac{y - \mu}{\sigma},

    through :func:`scoringrules.crps_normal` (numpy backend).

    Parameters
    ----------
    mean, sd : xarray.DataArray or float
        Mean and standard deviation of the predictive law. ``sd == 0`` is a
        point forecast, scored ``|y - mean|`` (the limit); ``sd < 0`` or NaN
        gives NaN.
    observed : xarray.DataArray or float
        Realised values.

    Returns
    -------
    xarray.DataArray
        ``crps``, the three arguments broadcast by dimension name (aligned on
        the coordinates of ``mean``); NaN where any input is NaN.
    """
    out = xr.apply_ufunc(_crps_normal_core, mean, sd, observed, join="left", keep_attrs=False)
    if not isinstance(out, xr.DataArray):
        out = xr.DataArray(out)
    return out.rename("crps").assign_attrs(long_name="CRPS of a normal predictive law")


def pit(
    forecast: xr.DataArray, observed: xr.DataArray, rng: np.random.Generator, dim: str = "draw"
) -> xr.DataArray:
    r"""Randomised probability integral transform of an ensemble forecast.

    With ``M`` finite members, ``a`` of them below ``y`` and ``b`` equal to
    it, the rank of ``y`` among the ``M + 1`` pooled values is
    :math:`r = a + 1 + J`, ties broken at random (:math:`J` uniform on
    :math:`\{0, \dots, b\}`), and

    .. math::
        u = \frac{r - 1 + V}{M + 1}, \qquad V \sim U(0, 1).

    Given ``a`` and ``b`` this is uniform on :math:`[a, a + b + 1] / (M + 1)`,
    so it is drawn as :math:`u = (a + (b + 1)\,W)/(M + 1)` with one
    :math:`W \sim U(0, 1)` per case. If ``y`` and the members are
    exchangeable (a calibrated ensemble) ``u`` is exactly :math:`U(0, 1)`,
    continuous or discrete values alike; the plain rank ``(r - 1)/M`` is
    discrete and is not.

    Parameters
    ----------
    forecast : xarray.DataArray
        Ensemble, dimensions ``(dim, *cases)``; NaN members are ignored.
    observed : xarray.DataArray
        Realised values, dimensions ``cases`` (aligned as in
        :func:`crps_ensemble`).
    rng : numpy.random.Generator
        Source of the ``W``: exactly one ``rng.random`` call of one double
        per case (NaN cases included), in C order over the case dimensions
        sorted by name. Same inputs and same generator state give the same
        output, whatever the order of the input dimensions.
    dim : str
        The member dimension.

    Returns
    -------
    xarray.DataArray
        ``pit`` in [0, 1], dimensions ``cases``; NaN where the observation is
        NaN or no member is finite.
    """
    below, ties, k = xr.apply_ufunc(
        _rank_counts,
        forecast,
        observed,
        input_core_dims=[[dim], []],
        output_core_dims=[[], [], []],
        join="left",
        keep_attrs=False,
    )
    order = sorted(below.dims, key=str)
    template = below.transpose(*order)
    w = template.copy(data=rng.random(template.shape))
    u = (below + (ties + 1) * w) / (k + 1)
    return u.transpose(*below.dims).rename("pit").assign_attrs(long_name="randomised ensemble PIT")


def interval_hit(
    forecast: xr.DataArray, observed: xr.DataArray, level: float, dim: str = "draw"
) -> xr.DataArray:
    r"""Whether the realised value lies in the ensemble's central interval.

    .. math::
        h = \mathbf{1}\left\{ q_{(1-\ell)/2} \le y \le q_{(1+\ell)/2} \right\}

    with :math:`q_p` the ensemble quantile by numpy's default ``linear``
    method (``(K - 1) p`` interpolated between order statistics of the ``K``
    finite members). For a calibrated ensemble the mean of ``h`` tends to
    ``level`` as the ensemble grows.

    Parameters
    ----------
    forecast : xarray.DataArray
        Ensemble, dimensions ``(dim, *cases)``; NaN members are ignored.
    observed : xarray.DataArray
        Realised values, dimensions ``cases`` (aligned as in
        :func:`crps_ensemble`).
    level : float
        Central probability of the interval, in (0, 1].
    dim : str
        The member dimension.

    Returns
    -------
    xarray.DataArray
        ``hit``: 1.0 or 0.0, NaN where the observation is NaN or no member is
        finite.
    """
    if not 0 < level <= 1:
        raise ValueError(f"level must be in (0, 1], got {level}")
    out = xr.apply_ufunc(
        _interval_hit_core,
        forecast,
        observed,
        input_core_dims=[[dim], []],
        kwargs={"level": float(level)},
        join="left",
        keep_attrs=False,
    )
    long_name = f"observed in the central {level:g} interval"
    return out.rename("hit").assign_attrs(long_name=long_name, level=level)


# --------------------------------------------------------------------------------------------------
# Naive benchmarks (data up to the origin only)
# --------------------------------------------------------------------------------------------------


def random_walk_drift(
    history: xr.DataArray, origin: int, horizon_years: int, window: int
) -> tuple[xr.DataArray, xr.DataArray]:
    r"""Predictive law of annual growth under a random walk with drift in log TFP.

    If :math:`\log A_t = \log A_{t-1} + \mu + \sigma \varepsilon_t`, annual
    growth :math:`g_t = \mu + \sigma\varepsilon_t` is :math:`N(\mu, \sigma^2)`
    at every horizon. :math:`\mu` and :math:`\sigma` are estimated by

    .. math::
        \hat\mu = \frac{1}{n}\sum_{t \in W} g_t, \qquad
        \hat\sigma^2 = \frac{1}{n - 1}\sum_{t \in W} (g_t - \hat\mu)^2,

    over the ``n`` finite values in :math:`W = \{\text{origin} - \text{window}
    + 1, \dots, \text{origin}\}` (parameter uncertainty is ignored). Nothing
    after ``origin`` is read. Score it with :func:`crps_normal`.

    Parameters
    ----------
    history : xarray.DataArray
        Annual log TFP growth, dimensions ``(economy, year)`` (any other
        dimensions are carried along); integer ``year`` coordinate.
    origin : int
        Last year of data available to the forecaster.
    horizon_years : int
        Forecast years ``origin + 1 .. origin + horizon_years``.
    window : int
        Length of the estimation window in years.

    Returns
    -------
    mean, sd : xarray.DataArray
        Dimensions ``(*other, year)`` with ``year`` the forecast years, the
        same value at each; NaN for series with fewer than
        :data:`MIN_DRIFT_OBSERVATIONS` finite values in the window.
    """
    _check_history(history)
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    target = _forecast_years(origin, horizon_years)
    past = _past_years(history, origin - window + 1, origin).astype(np.float64)
    n = past.count("year")
    divisor = n.where(n >= MIN_DRIFT_OBSERVATIONS)  # NaN below the minimum: no 0/0, no warning
    mean = past.sum("year", skipna=True) / divisor
    sd = (((past - mean) ** 2).sum("year", skipna=True) / (divisor - 1)) ** 0.5
    attrs = {"origin": origin, "window": window, "benchmark": "random walk with drift"}
    mean = mean.expand_dims(year=target, axis=-1).rename("mean").assign_attrs(attrs)
    sd = sd.expand_dims(year=target, axis=-1).rename("sd").assign_attrs(attrs)
    return mean, sd


def climatology(history: xr.DataArray, origin: int, horizon_years: int, dim: str = "draw") -> xr.DataArray:
    """Ensemble of an economy's own past annual growth rates, the same at every forecast year.

    The members for an economy are all its finite growth rates with
    ``year <= origin``, in chronological order: the distribution pooled over
    that economy's own past (not over economies). Economies have different
    numbers of past observations, so the ensemble is ragged: the member
    dimension has the length of the longest record and shorter ones are padded
    with NaN at the end. :func:`crps_ensemble`, :func:`pit` and
    :func:`interval_hit` ignore NaN members, so each economy is scored against
    its own ``K`` values. Nothing after ``origin`` is read.

    Parameters
    ----------
    history : xarray.DataArray
        Annual log TFP growth, dimensions ``(economy, year)`` (any other
        dimensions are carried along); integer ``year`` coordinate.
    origin : int
        Last year of data available to the forecaster.
    horizon_years : int
        Forecast years ``origin + 1 .. origin + horizon_years``.
    dim : str
        Name of the member dimension.

    Returns
    -------
    xarray.DataArray
        Dimensions ``(*other, year, dim)``, ``year`` the forecast years; no
        coordinate on ``dim``.
    """
    _check_history(history)
    target = _forecast_years(origin, horizon_years)
    past = _past_years(history, -np.inf, origin).transpose(..., "year")
    values = np.asarray(past.values, dtype=np.float64)
    valid = ~np.isnan(values)
    packed = np.take_along_axis(values, np.argsort(~valid, axis=-1, kind="stable"), axis=-1)
    members = int(valid.sum(axis=-1).max()) if values.size else 0
    other = [d for d in past.dims if d != "year"]
    coords = {name: c for name, c in past.coords.items() if "year" not in c.dims}
    ensemble = xr.DataArray(packed[..., :members], dims=[*other, dim], coords=coords)
    return (
        ensemble.expand_dims(year=target, axis=-2)
        .copy()  # expand_dims gives a read-only broadcast view
        .rename("climatology")
        .assign_attrs(origin=origin, benchmark="climatology: own past growth, year <= origin")
    )


# --------------------------------------------------------------------------------------------------
# Aggregates
# --------------------------------------------------------------------------------------------------


def coverage_table(hits: xr.DataArray, dims: str | Sequence[Hashable]) -> xr.Dataset:
    r"""Empirical coverage of interval hits with a binomial standard error.

    .. math::
        \hat p = \frac{1}{n}\sum h, \qquad \mathrm{se} = \sqrt{\hat p(1 - \hat p)/n}

    over the ``n`` non-NaN hits along ``dims``.

    The binomial standard error treats the hits as independent. They are not:
    the years of one forecast path share shocks (hits at successive horizons
    from one origin are correlated), and forecasts from successive origins
    overlap in the years they cover, so the same realised year is counted
    several times. The effective sample size is smaller than ``n`` and the
    binomial ``se`` understates the uncertainty; tabulate by horizon, or
    resample whole origins (block bootstrap) for an honest interval.

    Parameters
    ----------
    hits : xarray.DataArray
        From :func:`interval_hit`: 1.0, 0.0 or NaN (not counted).
    dims : str or sequence of str
        Dimensions to pool over; the others are kept.

    Returns
    -------
    xarray.Dataset
        ``coverage`` (:math:`\hat p`), ``se`` and ``n``, over the remaining
        dimensions; NaN where ``n == 0``.
    """
    n = hits.count(dims)
    denominator = n.where(n > 0)
    rate = hits.sum(dims, skipna=True) / denominator
    se = (rate * (1 - rate) / denominator) ** 0.5
    return xr.Dataset({"coverage": rate, "se": se, "n": n})


def skill(
    model_crps: xr.DataArray, benchmark_crps: xr.DataArray, dims: str | Sequence[Hashable] | None = None
) -> xr.DataArray:
    r"""CRPS skill score of a model against a benchmark.

    .. math::
        S = 1 - \frac{\overline{\mathrm{CRPS}}_{\text{model}}}{\overline{\mathrm{CRPS}}_{\text{benchmark}}}

    with both means over the same cells: those present in both arguments
    (inner join on coordinates, broadcast by dimension name) where both scores
    are finite. Positive: the model beats the benchmark; 0: as good; 1: a
    perfect (zero-CRPS) model.

    Parameters
    ----------
    model_crps, benchmark_crps : xarray.DataArray
        Scores, e.g. from :func:`crps_ensemble` or :func:`crps_normal`.
    dims : str or sequence of str, optional
        Dimensions to average over; all of them by default (a 0-d result).

    Returns
    -------
    xarray.DataArray
        The skill score; NaN if no cell is finite in both or the benchmark's mean CRPS is 0.
    """
    model, benchmark = xr.broadcast(*xr.align(model_crps, benchmark_crps, join="inner"))
    both = xr.apply_ufunc(np.isfinite, model) & xr.apply_ufunc(np.isfinite, benchmark)
    n = both.sum(dims)
    denominator = n.where(n > 0)
    mean_model = model.where(both, 0.0).sum(dims) / denominator
    mean_benchmark = benchmark.where(both, 0.0).sum(dims) / denominator
    return (1 - mean_model / mean_benchmark.where(mean_benchmark != 0)).rename("skill")
