r"""Random inputs of the kernel, drawn outside it from one ``np.random.Generator``.

The kernel (:func:`forecaster.kernel.simulate`) is a deterministic function
of (parameters, shocks); every random number is drawn here, in a fixed order,
so a block's result depends only on its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from forecaster.params import ModelParams

FloatArray = npt.NDArray[np.float64]


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


def draw_shocks(
    rng: np.random.Generator, params: ModelParams, n_draws: int, shock_scale: float = 1.0
) -> Shocks:
    r"""Draw every random input of ``n_draws`` paths.

    Each component is its central value plus ``shock_scale`` times its random
    deviation, so ``shock_scale=0`` gives :func:`neutral_shocks` exactly (the
    deterministic path) and values in between shrink all uncertainty together.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    params : ModelParams
    n_draws : int
    shock_scale : float
        Scale of all uncertainty, 1 for the documented priors.

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
    research = rng.standard_normal(shape)
    lumpiness = rng.poisson(params.ideas_mean, shape) / params.ideas_mean
    # One-factor correlation: z_n = sqrt(c) f + sqrt(1 - c) e_n.
    common = rng.standard_normal((n_draws, params.n_years, 1))
    idiosyncratic = rng.standard_normal(shape)
    c = priors.macro_correlation
    macro = np.sqrt(c) * common + np.sqrt(1.0 - c) * idiosyncratic
    events = rng.poisson(priors.fragmentation_hazard, (n_draws, params.n_years))
    fragmentation = priors.fragmentation_jump_mean * rng.gamma(events.astype(float))
    neutral = neutral_shocks(params, n_draws)
    s = shock_scale
    return Shocks(
        theta=neutral.theta + s * (theta - neutral.theta),
        beta=neutral.beta + s * (beta - neutral.beta),
        efficacy=neutral.efficacy + s * (efficacy - neutral.efficacy),
        research=s * research,
        lumpiness=neutral.lumpiness + s * (lumpiness - neutral.lumpiness),
        macro=s * macro,
        fragmentation=s * fragmentation,
    )


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
