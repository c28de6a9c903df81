r"""Building blocks of the Frechet "best idea" family, each with its formula.

These are the closed forms the engine is built from and tested against:
Kortum (1997), Eaton and Kortum (2002), Arkolakis, Costinot and
Rodriguez-Clare (2012), Head and Ries (2001) / Novy (2013), Alvarez, Buera and
Lucas (2008) and Buera and Oberfield (2020). Axis convention for bilateral
arrays: ``[..., n, i]`` is destination (buyer, learner) ``n`` and source
(seller, teacher) ``i``; leading axes broadcast (e.g. draws).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import gamma as gamma_function

from forecaster.arrays import FloatArray

ArrayLike = npt.ArrayLike


def frechet_sample(
    rng: np.random.Generator, scale: ArrayLike, theta: float, size: int | tuple[int, ...]
) -> FloatArray:
    r"""Draw from the Frechet distribution :math:`F(z) = \exp(-T z^{-\theta})`.

    By inversion: :math:`z = (-\ln U / T)^{-1/\theta}` with :math:`U` uniform.
    The maximum of independent draws with scales :math:`T_k` is Frechet with scale
    :math:`\sum_k T_k`, and :math:`P(\arg\max = k) = T_k / \sum T`.

    Parameters
    ----------
    rng : numpy.random.Generator
    scale : array_like
        :math:`T > 0`, broadcast against ``size``.
    theta : float
        Shape :math:`\theta > 0` (dispersion of productivity is :math:`1/\theta`).
    size : int or tuple of int

    Returns
    -------
    ndarray of shape ``size``
    """
    uniform = rng.random(size)
    return np.asarray((-np.log(uniform) / np.asarray(scale, dtype=float)) ** (-1.0 / theta))


def normalize_sources(weights: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
    """Divide bilateral weights by their sum over sources (the last axis)."""
    return weights / np.einsum("...i->...", weights)[..., None]


def trade_shares(
    lam: ArrayLike, unit_cost: ArrayLike, trade_cost: ArrayLike, theta: float | FloatArray
) -> FloatArray:
    r"""Eaton-Kortum trade shares.

    .. math::
        \pi_{ni} = \frac{\lambda_i (w_i d_{ni})^{-\theta}}{\Phi_n},\qquad
        \Phi_n = \sum_k \lambda_k (w_k d_{nk})^{-\theta}

    Parameters
    ----------
    lam, unit_cost : array_like, shape (..., N)
        Technology :math:`\lambda_i` and unit cost :math:`w_i` of each source.
    trade_cost : array_like, shape (..., N, N)
        Iceberg cost :math:`d_{ni} \ge 1` from source ``i`` to destination ``n``.
    theta : float or array broadcastable to (..., 1, 1)

    Returns
    -------
    ndarray, shape (..., N, N)
        Rows (destinations) sum to one.
    """
    lam = np.asarray(lam, dtype=float)[..., None, :]
    cost = np.asarray(unit_cost, dtype=float)[..., None, :] * np.asarray(trade_cost, dtype=float)
    return np.asarray(normalize_sources(lam * cost ** (-np.asarray(theta))), dtype=np.float64)


def price_index(
    lam: ArrayLike, unit_cost: ArrayLike, trade_cost: ArrayLike, theta: float, sigma: float
) -> FloatArray:
    r"""Eaton-Kortum CES price index :math:`P_n = \gamma\,\Phi_n^{-1/\theta}`.

    .. math::
        \gamma = \Gamma\!\left(\frac{\theta + 1 - \sigma}{\theta}\right)^{1/(1-\sigma)},
        \qquad \sigma < 1 + \theta

    Parameters
    ----------
    lam, unit_cost : array_like, shape (..., N)
    trade_cost : array_like, shape (..., N, N)
    theta, sigma : float
        Trade elasticity and elasticity of substitution between goods.

    Returns
    -------
    ndarray, shape (..., N)
    """
    if not sigma < 1 + theta:
        raise ValueError(f"sigma must be below 1 + theta = {1 + theta}, got {sigma}")
    lam = np.asarray(lam, dtype=float)[..., None, :]
    cost = np.asarray(unit_cost, dtype=float)[..., None, :] * np.asarray(trade_cost, dtype=float)
    phi = (lam * cost ** (-theta)).sum(axis=-1)
    return np.asarray(_gamma_constant(theta, sigma) * phi ** (-1.0 / theta))


def _gamma_constant(theta: float, sigma: float) -> float:
    return float(gamma_function((theta + 1.0 - sigma) / theta) ** (1.0 / (1.0 - sigma)))


def acr_real_wage(
    lam_home: ArrayLike, domestic_share: ArrayLike, theta: float, sigma: float
) -> FloatArray:
    r"""Real wage from the ACR identity, :math:`w_n/P_n = \gamma^{-1}(\lambda_n/\pi_{nn})^{1/\theta}`.

    Consequently the gains from a change are
    :math:`\hat W_n = \hat\pi_{nn}^{-1/\theta}` (Arkolakis, Costinot and
    Rodriguez-Clare 2012, with trade elasticity :math:`-\theta`).

    Parameters
    ----------
    lam_home : array_like, shape (..., N)
        Own technology :math:`\lambda_n`.
    domestic_share : array_like, shape (..., N)
        :math:`\pi_{nn}`.
    theta, sigma : float

    Returns
    -------
    ndarray, shape (..., N)
    """
    ratio = np.asarray(lam_home, dtype=float) / np.asarray(domestic_share, dtype=float)
    return np.asarray(ratio ** (1.0 / theta) / _gamma_constant(theta, sigma))


def head_ries_trade_cost(shares: ArrayLike, theta: float) -> FloatArray:
    r"""Infer symmetric bilateral trade costs from trade shares (Head-Ries / Novy).

    .. math::
        \hat d_{ni} = \left(\frac{\pi_{ni}\,\pi_{in}}{\pi_{nn}\,\pi_{ii}}\right)^{-1/(2\theta)}

    Exact when :math:`d_{ni} = d_{in}` and :math:`d_{nn} = 1`. (Novy's tariff
    equivalent is :math:`\hat d - 1` with :math:`\sigma - 1` in place of
    :math:`\theta`.)

    Parameters
    ----------
    shares : array_like, shape (..., N, N)
    theta : float

    Returns
    -------
    ndarray, shape (..., N, N)
        Ones on the diagonal.
    """
    pi = np.asarray(shares, dtype=float)
    own = np.diagonal(pi, axis1=-2, axis2=-1)
    ratio = pi * np.swapaxes(pi, -1, -2) / (own[..., :, None] * own[..., None, :])
    return np.asarray(ratio ** (-1.0 / (2.0 * theta)))


def diffusion_term(shares: ArrayLike, lam: ArrayLike, beta: float | FloatArray) -> FloatArray:
    r"""Buera-Oberfield arrival of insights from the sellers to each economy.

    .. math::
        \frac{\dot\lambda_n}{\alpha_t} = \Gamma(1-\beta)\sum_i \pi_{ni}^{1-\beta}\lambda_i^{\beta}

    This equals :math:`E[z'^{\beta\theta}]` for an insight :math:`z'` drawn
    from the best sellers to ``n``. Openness raises it: with equal
    :math:`\lambda`, :math:`\sum_i \pi_{ni}^{1-\beta}` is 1 in autarky and
    grows as sourcing spreads.

    Parameters
    ----------
    shares : array_like, shape (..., N, N)
        Sourcing weights :math:`\pi_{ni}`, rows summing to one.
    lam : array_like, shape (..., N)
        Knowledge stocks :math:`\lambda_i`.
    beta : float or array broadcastable to (...,)
        Weight of insights, :math:`0 \le \beta < 1`.

    Returns
    -------
    ndarray, shape (..., N)
    """
    beta = np.asarray(beta, dtype=float)
    pi = np.asarray(shares, dtype=float)
    lam_beta = np.asarray(lam, dtype=float) ** beta[..., None]
    total = (pi ** (1.0 - beta[..., None, None]) * lam_beta[..., None, :]).sum(axis=-1)
    return np.asarray(gamma_function(1.0 - beta)[..., None] * total)


def idea_flow_cdf(initial_cdf: ArrayLike, alpha: float, t: float) -> FloatArray:
    r"""Logistic law of pure idea flows (Alvarez, Buera and Lucas 2008).

    Agents meet others at Poisson rate :math:`\alpha` and keep the better
    productivity, so :math:`\partial F/\partial t = -\alpha F (1-F)` and

    .. math::
        F(z, t) = \frac{F_0(z)}{F_0(z) + (1 - F_0(z))\, e^{\alpha t}}

    With a Pareto tail of index :math:`\kappa`, every quantile grows
    asymptotically at :math:`\alpha/\kappa`.
    """
    f0 = np.asarray(initial_cdf, dtype=float)
    return np.asarray(f0 / (f0 + (1.0 - f0) * np.exp(alpha * t)))


def kortum_growth(research_growth: ArrayLike, theta: float) -> FloatArray:
    r"""Kortum (1997) steady-state TFP growth :math:`g = n / \theta`.

    With ideas arriving at a rate proportional to research effort growing at
    :math:`n`, the knowledge stock grows at :math:`n` and TFP
    :math:`= \lambda^{1/\theta}` at :math:`n/\theta`.
    """
    return np.asarray(np.asarray(research_growth, dtype=float) / theta)


def gravity_shares(
    size: ArrayLike, distance: ArrayLike, distance_elasticity: float, foreign_share: ArrayLike
) -> FloatArray:
    r"""Bilateral sourcing shares from a gravity profile with a given foreign share.

    .. math::
        s_{ni} = f_n\,\frac{M_i\,\mathrm{dist}_{ni}^{-\delta}}
        {\sum_{k \ne n} M_k\,\mathrm{dist}_{nk}^{-\delta}}\quad (i \ne n),
        \qquad s_{nn} = 1 - f_n

    Parameters
    ----------
    size : array_like, shape (N,)
        Market size :math:`M_i` of each source.
    distance : array_like, shape (N, N)
        Bilateral distance; the diagonal is ignored.
    distance_elasticity : float
        :math:`\delta \ge 0`.
    foreign_share : array_like, shape (N,)
        :math:`f_n \in (0, 1)`, share of sourcing from abroad.

    Returns
    -------
    ndarray, shape (N, N)
        Rows sum to one.
    """
    size = np.asarray(size, dtype=float)
    dist = np.asarray(distance, dtype=float)
    foreign = np.asarray(foreign_share, dtype=float)
    n = size.size
    off_diagonal = ~np.eye(n, dtype=bool)
    profile = np.where(off_diagonal, size[None, :] * np.where(off_diagonal, dist, 1.0) ** (
        -distance_elasticity), 0.0)
    shares = foreign[:, None] * profile / profile.sum(axis=1, keepdims=True)
    shares[~off_diagonal] = 1.0 - foreign
    return np.asarray(shares)


def great_circle_km(latitude: ArrayLike, longitude: ArrayLike) -> FloatArray:
    """Great-circle distances (km) between points, shape (N, N), by the haversine formula."""
    lat = np.radians(np.asarray(latitude, dtype=float))
    lon = np.radians(np.asarray(longitude, dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * 6371.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def nqpf_index(
    components: FloatArray, base: FloatArray, weights: FloatArray
) -> FloatArray:
    r"""Fixed-weight, fixed-base NQPF composite.

    .. math::
        \mathrm{NQPF}_n(t) = \sum_k w_k \frac{c_{k,n}(t)}{\bar c_k},\qquad \sum_k w_k = 1

    where :math:`\bar c_k` is fixed once (the base-year cross-economy mean of
    component ``k``), so levels are comparable across economies and years and
    do not move when the sample changes (unlike entropy-weight indices).

    Parameters
    ----------
    components : ndarray, shape (..., K)
        Component values (in the model: TFP and welfare-relevant TFP).
    base : ndarray, shape (K,)
        Fixed normalisers :math:`\bar c_k`.
    weights : ndarray, shape (K,)
        Fixed weights summing to one.

    Returns
    -------
    ndarray, shape (...)
    """
    return np.asarray((components / base) @ weights)
