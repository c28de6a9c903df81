r"""The simulation kernel: a pure numpy function of (parameters, shocks).

One annual step, for every draw at once (bilateral arrays pair a destination
or learner ``n`` with a source or teacher ``i``):

1. Trade costs move by policy and fragmentation events,
   :math:`\ln\hat d_{ni} = \sum_k c_k\,C^{(k)}_{ni}`, and trade shares follow
   the exact-hat form of Eaton-Kortum with unit costs moving one-for-one with
   TFP: :math:`\pi_{ni} = \pi^0_{ni}\hat d_{ni}^{-\theta} / \sum_k \pi^0_{nk}\hat d_{nk}^{-\theta}`.
2. Factor (FDI, talent) and data links move with the industrial and digital
   levers; ideas are sourced with weights
   :math:`s_{ni} = \omega_g\pi_{ni} + \omega_f f_{ni} + \omega_d g_{ni}`.
3. Knowledge grows by own research and Buera-Oberfield diffusion,

   .. math::
       \frac{\Delta\lambda_n}{\lambda_n} = \theta(1-\phi)g_n\frac{R_n(t)}{R_n(0)}
       \frac{\lambda_n(0)}{\lambda_n(t)} e^{x_n} L_n
       + \theta\nu_n(1 + 0.1\,a_s E^s_n)\Gamma(1-\beta)\sum_i s_{ni}^{1-\beta}
       \left(\frac{\lambda_i}{\lambda_n}\right)^{\beta}

   with AR(1) research productivity :math:`x_n`, idea lumpiness :math:`L_n`,
   the software lever's diffusion boost for enacting economies
   :math:`E^s_n`, and log TFP :math:`=\ln\lambda/\theta` plus a correlated
   residual shock.

The full model, with every parameter's source, is in ``docs/model.md``.

Layout and cost. The work is a few dozen elementwise passes a year over
(draw x economy x economy) arrays, two of them transcendental (``log`` and
``exp`` for :math:`s^{-\beta}`; the ``exp`` of the trade shares is taken once per
distinct trade-cost pattern, not per pair). Inside :func:`simulate`
the draw axis is the *last* one (``[n, i, d]`` and ``[n, d]``): numpy's inner loop
then runs over the block's draws rather than over 12 sources, so scaling by a
per-draw or per-economy factor, a sum over sources or the channel contraction
costs about one plain pass. The bilateral arrays are buffers reused every year,
and each year's results are written straight into the outputs (laid out
``[d, t, ...]``), so that no large temporary is allocated: on Linux each fresh
array of a few MB costs about as much in page faults as several passes over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
from scipy.special import gamma as gamma_function

from forecaster.params import ModelParams
from forecaster.shocks import Shocks
from forecaster.theory import normalize_sources

FloatArray = npt.NDArray[np.float64]

#: Precision of the draw x economy x economy arrays (shares, sourcing weights). Single
#: precision makes the exp/log passes several times faster; its relative rounding
#: (about 1e-7) is far below Monte-Carlo error. State and outputs stay float64.
BILATERAL = np.float32


@dataclass(frozen=True, eq=False)
class Paths:
    r"""Simulated paths of D draws over T years for N economies.

    Attributes
    ----------
    tfp : ndarray, shape (D, T, N)
        TFP level relative to the base-year USA.
    tfp_growth : ndarray, shape (D, T, N)
        Annual log TFP growth.
    channel_growth : ndarray, shape (D, T, N, 5)
        ``tfp_growth`` split by channel (research, goods, factors, digital,
        shocks); sums to ``tfp_growth`` over the last axis.
    nqpf : ndarray, shape (D, T, N)
        NQPF composite index.
    nqpf_growth : ndarray, shape (D, T, N)
        Annual log growth of the NQPF index.
    import_share : ndarray, shape (D, T, N)
        Share of absorption bought abroad, :math:`1 - \pi_{nn}`.
    """

    tfp: FloatArray
    tfp_growth: FloatArray
    channel_growth: FloatArray
    nqpf: FloatArray
    nqpf_growth: FloatArray
    import_share: FloatArray


def lever_activity(params: ModelParams, shocks: Shocks, year_index: int) -> FloatArray:
    """Delivered size of each measure in one year, shape (D, 5).

    Columns: hardware, software, digital, industrial (intensity x phase-in x
    drawn efficacy) and fragmentation (intensity x phase-in).
    """
    return np.asarray(params.ramps[year_index] * _efficacy(shocks))


def _efficacy(shocks: Shocks) -> FloatArray:
    """Delivered fraction of the five measures, shape (D, 5): fragmentation is delivered in full."""
    return np.column_stack([shocks.efficacy, np.ones(shocks.n_draws)])


def cost_coefficients(
    params: ModelParams, theta: FloatArray, activity: FloatArray, events: FloatArray
) -> FloatArray:
    r"""Coefficients :math:`c_k` of the trade-cost effect matrices, shape (..., 6).

    Rows follow :data:`forecaster.params.COST_EFFECTS`; see
    :func:`log_trade_cost_change` for the formula.

    Parameters
    ----------
    params : ModelParams
    theta : ndarray, shape (D,)
    activity : ndarray, shape (..., D, 5)
        From :func:`lever_activity` (one year) or stacked over years.
    events : ndarray, shape (..., D)
        Cumulated fragmentation jumps.
    """
    assumptions = params.assumptions
    fta = math.log(2.0) / theta
    return np.stack(
        [
            -assumptions.hardware_cut * activity[..., 0],
            -assumptions.software_cut_ln2 * fta * activity[..., 1],
            -activity[..., 2],
            fta * activity[..., 4],
            activity[..., 4],
            events,
        ],
        axis=-1,
    )


def log_trade_cost_change(
    params: ModelParams, theta: FloatArray, activity: FloatArray, events: FloatArray
) -> FloatArray:
    r"""Change in log trade costs against the base year, shape (D, N, N).

    .. math::
        \ln\hat d = -0.113\,a_h P_h - \frac{\ln 2}{\theta} a_s P_s
        - a_d\,\frac{\kappa}{2}(\Delta_n + \Delta_i) P_d
        + a_f\left(\frac{\ln 2}{\theta} B + \kappa\,0.3\,(1 - I)\right) + J\,B

    with pair masks :math:`P`, between-bloc mask :math:`B` and cumulated
    fragmentation jumps :math:`J`.

    Parameters
    ----------
    params : ModelParams
    theta : ndarray, shape (D,)
    activity : ndarray, shape (D, 5)
        From :func:`lever_activity`.
    events : ndarray, shape (D,)
        Cumulated fragmentation jumps.
    """
    coefficients = cost_coefficients(params, theta, activity, events)
    n = params.n_economies
    flat = coefficients @ params.cost_effects.reshape(coefficients.shape[-1], n * n)
    return flat.reshape(-1, n, n)


def goods_shares(
    params: ModelParams, log_cost_change: FloatArray, theta: FloatArray
) -> npt.NDArray[np.float32]:
    r"""Trade shares after a change in trade costs (exact-hat Eaton-Kortum), shape (D, N, N).

    :math:`\pi_{ni} = \pi^0_{ni}\,\hat d_{ni}^{-\theta} / \sum_k \pi^0_{nk}\hat d_{nk}^{-\theta}`,
    computed as one ``exp`` of the log change. :func:`simulate` computes the same
    shares in its own (draws-last) layout.
    """
    exponent = (-theta[:, None, None] * log_cost_change).astype(BILATERAL)
    return np.asarray(normalize_sources(params.goods_shares.astype(BILATERAL) * np.exp(exponent)), BILATERAL)


def simulate(params: ModelParams, shocks: Shocks) -> Paths:
    """Simulate every draw of ``shocks`` under ``params``.

    Vectorised over draws; the only Python loop is over years. Deterministic:
    the same inputs give bit-identical outputs, and a draw's outputs do not depend
    on which other draws are simulated with it.

    Parameters
    ----------
    params : ModelParams
    shocks : Shocks
        D draws, with T and N matching ``params``.

    Returns
    -------
    Paths
    """
    if shocks.n_draws == 1:
        # With a draw axis of length one numpy sums over sources pairwise and BLAS uses gemv
        # instead of gemm, which round differently: simulate the draw twice so that its result
        # is bit-identical to the same draw inside a larger block.
        twice = Shocks(**{f.name: np.concatenate([getattr(shocks, f.name)] * 2) for f in fields(Shocks)})
        paths = _simulate(params, twice)
        return Paths(**{f.name: getattr(paths, f.name)[:1].copy() for f in fields(Paths)})
    return _simulate(params, shocks)


def _column(vector: FloatArray) -> FloatArray:
    """View a per-economy (N,) vector as (N, 1), to broadcast over draws."""
    return vector[:, None]


def _bilateral(matrix: FloatArray) -> npt.NDArray[np.float32]:
    """Convert a constant (N, N) matrix to float32 (N, N, 1), to broadcast over draws."""
    return np.asarray(matrix, dtype=BILATERAL)[:, :, None]


def _diagonal(array: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """View the [n, n, :] entries of a contiguous (N, N, D) array as (N, D)."""
    n, _, n_draws = array.shape
    return array.reshape(n * n, n_draws)[:: n + 1]


def _year_of(output: FloatArray, t: int) -> FloatArray:
    """View year t of a (D, T, N, ...) output as (N, ..., D)."""
    return np.moveaxis(output[:, t], 0, -1)


def _shock_of(values: FloatArray, t: int) -> FloatArray:
    """Copy year t of a (D, T, N) shock into a C-ordered (N, D) array.

    A transposed view would make every result computed from it transposed
    too, and slow to combine with the C-ordered state.
    """
    return np.ascontiguousarray(values[:, t].T)


def _simulate(params: ModelParams, shocks: Shocks) -> Paths:
    """Run :func:`simulate` for at least two draws, draws last (see the module docstring)."""
    a = params.assumptions
    priors = a.priors
    n_draws, n_years, n = shocks.n_draws, params.n_years, params.n_economies
    theta, beta = shocks.theta, shocks.beta
    minus_theta = -theta[:, None]
    # Python floats keep float32 arithmetic in float32 (numpy float64 scalars would promote).
    w_goods, w_factors, w_digital = (float(w) for w in params.channel_weights)

    efficacy = _efficacy(shocks)
    events = np.cumsum(shocks.fragmentation, axis=1)
    # Pairs whose trade costs move alike (the same column of the effect matrices: e.g. all
    # pairs outside the lever masks within or between blocs) share one exponential, so exp is
    # taken once per distinct column and gathered to the pairs (5 columns of 144 for the
    # high-level-opening preset, 48 for the baseline).
    cost_patterns, pattern_of_pair = np.unique(
        params.cost_effects.reshape(-1, n * n).T, axis=0, return_inverse=True
    )
    cost_patterns = cost_patterns.astype(BILATERAL)
    pattern_of_pair = pattern_of_pair.ravel()
    goods0 = _bilateral(params.goods_shares)
    # Factor links f0 (1 + a L) have row sums 1 + a (f0 L) 1, so they normalise in closed form.
    factors0 = _bilateral(params.factor_shares)
    factor_links = params.factor_shares * params.industrial_links
    factor_boost = _bilateral(factor_links)
    factor_boost_total = _column(factor_links.sum(axis=1)).astype(BILATERAL)
    # Data links g0 (1 + P (o_n o_i - 1)) = g0 (1 - P) + g0 P o_n o_i.
    data0 = w_digital * _bilateral(params.digital_shares)
    data_fixed = _bilateral(params.digital_shares * (1.0 - params.digital_pairs))
    data_opened = _bilateral(params.digital_shares * params.digital_pairs)
    stri0 = _column(params.digital_stri0)
    digital_gap = _column(params.digital_gap)
    minus_beta = (-beta).astype(BILATERAL)
    insight_weight = theta * beta
    diffusion_scale = theta * gamma_function(1.0 - beta) * _column(params.diffusion_rate)
    software_enacting = _column(params.software_enacting)
    own_scale = theta * _column(params.own_rate)
    research_path = (1.0 + params.research_growth) ** np.arange(n_years)[:, None]  # R(t)/R(0)
    log_tfp0 = _column(params.log_tfp0)
    # NQPF = sum_k w_k c_k / base_k (theory.nqpf_index written out). R&D intensity and talent
    # are linear in the industrial lever, so the R&D, openness and talent terms are
    # nqpf_fixed + nqpf_slope x lever - w_open STRI, with (T, N) tables.
    nqpf_weights = params.nqpf_weights / params.nqpf_base
    rd = nqpf_weights[1] * params.rd_intensity0
    talent_path = (1.0 + a.talent_growth) ** np.arange(1, n_years + 1)[:, None]
    talent = nqpf_weights[3] * params.talent0 * talent_path  # (T, N)
    nqpf_fixed = rd + nqpf_weights[2] + talent
    enacting = params.industrial_enacting
    nqpf_slope = enacting * (a.industrial_rd_boost * rd + a.industrial_talent_boost * talent)

    # Bilateral buffers, (N, N, D), reused every year. channels holds the three channels'
    # parts of the sourcing weights, omega_c x^c_ni (rows sum to omega_c); s is their sum.
    channels = np.empty((3, n, n, n_draws), BILATERAL)
    goods, factors, data = channels
    sourcing = np.empty((n, n, n_draws), BILATERAL)
    scratch = np.empty((n, n, n_draws), BILATERAL)
    # Outputs in their final layout, written year by year through _year_of views.
    tfp, tfp_growth, nqpf, import_share = (np.empty((n_draws, n_years, n)) for _ in range(4))
    channel_growth = np.empty((n_draws, n_years, n, 5))

    log_tfp = np.repeat(log_tfp0, n_draws, axis=1)
    log_productivity = np.zeros((n, n_draws))

    for t in range(n_years):
        activity = params.ramps[t] * efficacy  # lever_activity, (D, 5)
        software, digital, industrial = activity[:, 1], activity[:, 2], activity[:, 3]
        fragmentation = params.ramps[t, 4]  # the same for every draw

        # Goods channel: pi0 exp(-theta ln d-hat), normalised over sources.
        coefficients = cost_coefficients(params, theta, activity, events[:, t])
        exponent = np.ascontiguousarray((coefficients * minus_theta).T, dtype=BILATERAL)
        per_pattern = np.exp(cost_patterns @ exponent)
        np.take(per_pattern, pattern_of_pair, axis=0, out=goods.reshape(n * n, n_draws), mode="clip")
        goods *= goods0
        goods_total = goods.sum(axis=1)
        np.subtract(1.0, _diagonal(goods) / goods_total, out=_year_of(import_share, t), dtype=np.float64)
        goods *= (w_goods / goods_total)[:, None, :]

        # Factor channel: FDI and talent links with partners rise with the industrial lever.
        # Channels whose measure is inactive this year keep their base-year shares.
        if industrial.any():
            industrial32 = industrial.astype(BILATERAL)
            np.multiply(factor_boost, industrial32, out=factors)
            factors += factors0
            factors *= (w_factors / (1 + factor_boost_total * industrial32))[:, None, :]
        else:
            np.multiply(factors0, w_factors, out=factors)

        # Data channel: links scale with (1 - STRI_n)(1 - STRI_i); the digital lever opens
        # enacting-partner pairs, fragmentation tightens every economy's regime.
        stri_lever = stri0 - digital * digital_gap
        stri = np.clip(stri_lever + a.fragmentation_stri_rise * fragmentation, 0.0, 1.0)
        if digital.any() or fragmentation != 0:
            opening = ((1.0 - stri_lever) / (1.0 - stri0)).astype(BILATERAL)
            np.multiply(opening[:, None, :], opening[None, :, :], out=data)
            data *= data_opened
            data += data_fixed
            if fragmentation != 0:
                closing = ((1.0 - stri) / (1.0 - stri_lever)).astype(BILATERAL)
                np.multiply(closing[:, None, :], closing[None, :, :], out=scratch)
                _diagonal(scratch)[...] = 1.0  # only links with partners are cut
                data *= scratch
            data *= (w_digital / data.sum(axis=1))[:, None, :]
        else:
            np.copyto(data, data0)

        # Buera-Oberfield diffusion: nu Gamma(1-b) sum_i s^(1-b) (lam_i/lam_n)^b, split by channel
        # in proportion to each channel's part of s: sum_i omega_c x^c_ni s^(-b) (lam_i/lam_n)^b.
        np.add(goods, factors, out=sourcing)
        sourcing += data
        # s^(-b) (lam_i/lam_n)^b as one exp of -b ln s + theta b (ln TFP_i - ln TFP_n). Log TFP is
        # centred per draw before rounding to float32, so the exponent keeps ~1e-7 precision.
        np.log(sourcing, out=sourcing)
        sourcing *= minus_beta
        insight = insight_weight * log_tfp
        insight = (insight - insight.mean(axis=0)).astype(BILATERAL)
        np.subtract(insight[None, :, :], insight[:, None, :], out=scratch)
        sourcing += scratch
        np.exp(sourcing, out=sourcing)
        flows = np.einsum("cnid,nid->cnd", channels, sourcing)  # one pass for the 3 channels
        software_boost = 1.0 + a.software_diffusion_boost * software * software_enacting
        diffusion = (diffusion_scale * software_boost) * flows  # (3, N, D)

        # Own research (Kortum): ideas arrive in proportion to research effort R(t).
        log_productivity = (
            priors.research_persistence * log_productivity
            + priors.research_volatility * _shock_of(shocks.research, t)
        )
        own = own_scale * _column(research_path[t]) * np.exp(
            log_productivity - theta * (log_tfp - log_tfp0)
        ) * _shock_of(shocks.lumpiness, t)

        # ln(1 + total) rather than log1p: half the cost, and its absolute error (~1e-16) is far
        # below the float32 rounding of the flows.
        total = own + diffusion[0] + diffusion[1] + diffusion[2]
        knowledge_growth = np.log(1.0 + total) / theta
        shock = priors.macro_volatility * _shock_of(shocks.macro, t)
        log_tfp = log_tfp + knowledge_growth + shock

        # Attribute growth to channels in proportion to their flows (0 where nothing flows).
        share = knowledge_growth / np.where(total > 0, total, 1.0)
        channels_t = _year_of(channel_growth, t)  # (N, 5, D)
        np.multiply(own, share, out=channels_t[:, 0])
        np.multiply(diffusion, share, out=np.moveaxis(channels_t[:, 1:4], 1, 0))
        channels_t[:, 4] = shock
        _year_of(tfp, t)[...] = log_tfp  # exponentiated after the loop, in one pass
        np.add(knowledge_growth, shock, out=_year_of(tfp_growth, t))
        # NQPF terms other than TFP; the TFP term is added after the loop.
        _year_of(nqpf, t)[...] = (
            _column(nqpf_fixed[t]) + _column(nqpf_slope[t]) * industrial - nqpf_weights[2] * stri
        )

    np.exp(tfp, out=tfp)
    nqpf_growth = np.multiply(tfp, nqpf_weights[0])  # the TFP term (this buffer is reused below)
    nqpf += nqpf_growth
    nqpf0 = (
        nqpf_weights[0] * np.exp(params.log_tfp0)
        + nqpf_weights[1] * params.rd_intensity0
        + nqpf_weights[2] * (1.0 - params.digital_stri0)
        + nqpf_weights[3] * params.talent0
    )
    np.divide(nqpf[:, 0], nqpf0, out=nqpf_growth[:, 0])
    np.divide(nqpf[:, 1:], nqpf[:, :-1], out=nqpf_growth[:, 1:])
    np.log(nqpf_growth, out=nqpf_growth)

    return Paths(
        tfp=tfp,
        tfp_growth=tfp_growth,
        channel_growth=channel_growth,
        nqpf=nqpf,
        nqpf_growth=nqpf_growth,
        import_share=import_share,
    )
