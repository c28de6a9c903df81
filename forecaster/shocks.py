r"""Random inputs of the kernel, drawn outside it from one ``np.random.Generator``.

The kernel (:func:`forecaster.kernel.simulate`) is a deterministic function
of (parameters, shocks); every random number is drawn here, in a fixed order,
so a block's result depends only on its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import pdtr

from forecaster.arrays import FloatArray
from forecaster.params import ModelParams

#: Bins of the guide table that inverts the Poisson CDF (a power of two, so that
#: ``uniform * bins`` and its floor are exact).
POISSON_GUIDE_BINS = 1024


@dataclass(frozen=True, eq=False)
class Shocks:
    """Per-draw random inputs for D draws, T years, N economies.

    Attributes
    ----------
    theta : ndarray, shape (D,)
        Trade elasticity / Frechet shape.
    beta : ndarray, shape (D,)
        Weight of insights in idea diffusion.
    efficacy : ndarray, shape (D, 4)
        Fraction of nominal effect each lever delivers (hardware, software,
        digital, industrial).
    research : ndarray, shape (D, T, N)
        Standard-normal innovations of log research productivity (AR(1)).
    lumpiness : ndarray, shape (D, T, N)
        Idea-arrival multiplier, Poisson(m) / m, mean 1.
    macro : ndarray, shape (D, T, N)
        Standard-normal TFP-residual shocks, correlated across economies.
    fragmentation : ndarray, shape (D, T)
        Increments of between-bloc log trade costs from fragmentation events.
    """

    theta: FloatArray
    beta: FloatArray
    efficacy: FloatArray
    research: FloatArray
    lumpiness: FloatArray
    macro: FloatArray
    fragmentation: FloatArray

    @property
    def n_draws(self) -> int:
        """Number of draws D."""
        return int(self.theta.size)


#: Per-draw parameters, scaled by ``parameter_scale``; every other field is a shock, scaled by
#: ``shock_scale``.
PARAMETERS = ("theta", "beta", "efficacy")


def draw_shocks(
    rng: np.random.Generator,
    params: ModelParams,
    n_draws: int,
    shock_scale: float = 1.0,
    parameter_scale: float = 1.0,
) -> Shocks:
    r"""Draw every random input of ``n_draws`` paths.

    Each component is its central value plus a scale times its random
    deviation: ``parameter_scale`` for the per-draw parameters
    (:data:`PARAMETERS`: theta, beta, lever efficacy) and ``shock_scale`` for
    the shocks along the path (research innovations, idea lumpiness, macro
    shocks, fragmentation events). Both 0 give :func:`neutral_shocks` exactly
    (the deterministic path). The random stream is the same whatever the
    scales.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    params : ModelParams
    n_draws : int
    shock_scale : float
        Scale of the shocks, 1 for the documented priors.
    parameter_scale : float
        Scale of the spread of the parameter draws, 1 for the documented priors.

    Returns
    -------
    Shocks
    """
    priors = params.assumptions.priors
    shape = (n_draws, params.n_years, params.n_economies)
    theta = priors.theta_low + (priors.theta_high - priors.theta_low) * rng.beta(
        priors.theta_a, priors.theta_b, n_draws
    )
    beta = priors.beta_high * rng.beta(priors.beta_a, priors.beta_b, n_draws)
    efficacy = rng.beta(priors.efficacy_a, priors.efficacy_b, (n_draws, 4))
    # Normals in single precision: numpy's float32 ziggurat is faster, and its resolution is far
    # finer than Monte-Carlo error. They are held in float64 like every other input.
    research = rng.standard_normal(shape, dtype=np.float32).astype(np.float64)
    lumpiness = poisson_by_inversion(rng, params.ideas_mean, shape)
    lumpiness /= params.ideas_mean
    # One-factor correlation: z_n = sqrt(c) f + sqrt(1 - c) e_n.
    common = rng.standard_normal((n_draws, params.n_years, 1), dtype=np.float32)
    idiosyncratic = rng.standard_normal(shape, dtype=np.float32)
    c = priors.macro_correlation
    macro = np.multiply(idiosyncratic, math.sqrt(1.0 - c), dtype=np.float64)
    macro += np.multiply(common, math.sqrt(c), dtype=np.float64)
    events = rng.poisson(priors.fragmentation_hazard, (n_draws, params.n_years))
    fragmentation = priors.fragmentation_jump_mean * rng.gamma(events.astype(float))
    drawn = Shocks(
        theta=theta,
        beta=beta,
        efficacy=efficacy,
        research=research,
        lumpiness=lumpiness,
        macro=macro,
        fragmentation=fragmentation,
    )
    if shock_scale == 1.0 and parameter_scale == 1.0:
        return drawn
    neutral = neutral_shocks(params, n_draws)

    def scaled(name: str) -> FloatArray:
        scale = parameter_scale if name in PARAMETERS else shock_scale
        value, centre = getattr(drawn, name), getattr(neutral, name)
        # At scale 1 the drawn value itself, not centre + (value - centre), which may round.
        return value if scale == 1.0 else centre + scale * (value - centre)

    return Shocks(**{name: scaled(name) for name in Shocks.__dataclass_fields__})


def poisson_by_inversion(
    rng: np.random.Generator, means: FloatArray, shape: tuple[int, ...]
) -> FloatArray:
    r"""Poisson counts with mean ``means[n]`` along the last axis, by inversion of the CDF.

    One uniform :math:`U` per count gives :math:`X = \min\{k : F(k) > U\}`. A guide
    table (Chen and Asau 1974; Devroye 1986, section III.2.4) of
    :data:`POISSON_GUIDE_BINS` equal bins of :math:`U` holds :math:`X` for every bin
    that contains no step of :math:`F`; only the few uniforms in other bins are
    searched. About four times faster than ``Generator.poisson`` for means of 2 to 50
    (which costs some 50 ns a count), and exact up to the float64 rounding of
    :math:`F` (computed with ``scipy.special.pdtr``), whose far tail, below 1e-16, is
    folded into the table's last count.

    Parameters
    ----------
    rng : numpy.random.Generator
    means : ndarray, shape (N,)
        Poisson means, positive.
    shape : tuple of int
        Shape of the result; its last axis has length N.

    Returns
    -------
    ndarray of float, shape ``shape``
    """
    bins = POISSON_GUIDE_BINS
    edges = np.arange(bins + 1) / bins
    cdfs = []
    guide = np.empty((len(means), bins))
    for economy, mean in enumerate(means):
        cdf = pdtr(np.arange(int(mean + 12.0 * math.sqrt(mean) + 30.0)), mean)
        cdf[-1] = 1.0
        cdfs.append(cdf)
        # Smallest count for the bottom and for the top of each bin; equal when no step of F
        # falls inside the bin, which then maps to that count (-1 marks the others).
        low = np.searchsorted(cdf, edges[:-1], side="right")
        high = np.searchsorted(cdf, edges[1:], side="left")
        guide[economy] = np.where(low == high, low, -1)
    # In place where possible: every fresh array of this size costs page faults.
    scaled = rng.random(shape)
    scaled *= bins  # U * bins, exact
    index = scaled.astype(np.intp)
    index += bins * np.arange(len(means))
    counts = np.take(guide, index)
    unresolved = np.flatnonzero(counts < 0)
    economy_of = unresolved % len(means)
    for economy, cdf in enumerate(cdfs):
        flat = unresolved[economy_of == economy]
        counts.flat[flat] = np.searchsorted(cdf, scaled.flat[flat] / bins, side="right")
    return counts


def neutral_shocks(params: ModelParams, n_draws: int = 1) -> Shocks:
    """Shocks at their central values: prior means, no innovations, no events."""
    priors = params.assumptions.priors
    shape = (n_draws, params.n_years, params.n_economies)
    return Shocks(
        theta=np.full(n_draws, priors.theta_mean),
        beta=np.full(n_draws, priors.beta_mean),
        efficacy=np.full((n_draws, 4), priors.efficacy_mean),
        research=np.zeros(shape),
        lumpiness=np.ones(shape),
        macro=np.zeros(shape),
        fragmentation=np.zeros((n_draws, params.n_years)),
    )
