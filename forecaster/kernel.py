r"""The simulation kernel: a pure numpy function of (parameters, shocks).

One annual step, for every draw at once (arrays ``[draw, n, i]`` with ``n``
the destination/learner and ``i`` the source/teacher):

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gamma as gamma_function

from forecaster.params import ModelParams
from forecaster.shocks import Shocks
from forecaster.theory import normalize_sources, nqpf_index

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
    ramps = params.ramps[year_index]
    activity = np.empty((shocks.n_draws, 5))
    activity[:, :4] = ramps[:4] * shocks.efficacy
    activity[:, 4] = ramps[4]
    return activity


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
    assumptions = params.assumptions
    fta = math.log(2.0) / theta
    coefficients = np.stack(
        [
            -assumptions.hardware_cut * activity[:, 0],
            -assumptions.software_cut_ln2 * fta * activity[:, 1],
            -activity[:, 2],
            fta * activity[:, 4],
            activity[:, 4],
            events,
        ],
        axis=1,
    )
    n = params.n_economies
    flat = coefficients @ params.cost_effects.reshape(len(coefficients[0]), n * n)
    return flat.reshape(-1, n, n)


def goods_shares(
    params: ModelParams, log_cost_change: FloatArray, theta: FloatArray
) -> npt.NDArray[np.float32]:
    r"""Trade shares after a change in trade costs (exact-hat Eaton-Kortum), shape (D, N, N).

    :math:`\pi_{ni} = \pi^0_{ni}\,\hat d_{ni}^{-\theta} / \sum_k \pi^0_{nk}\hat d_{nk}^{-\theta}`,
    computed as one ``exp`` of the log change.
    """
    exponent = (-theta[:, None, None] * log_cost_change).astype(BILATERAL)
    return np.asarray(normalize_sources(params.goods_shares.astype(BILATERAL) * np.exp(exponent)), BILATERAL)


def simulate(params: ModelParams, shocks: Shocks) -> Paths:
    """Simulate every draw of ``shocks`` under ``params``.

    Vectorised over draws; the only Python loop is over years. Deterministic:
    the same inputs give bit-identical outputs.

    Parameters
    ----------
    params : ModelParams
    shocks : Shocks
        D draws, with T and N matching ``params``.

    Returns
    -------
    Paths
    """
    a = params.assumptions
    priors = a.priors
    n_draws, n_years, n = shocks.n_draws, params.n_years, params.n_economies
    theta, beta = shocks.theta, shocks.beta
    omega = params.channel_weights
    border = 1.0 - np.eye(n)

    log_tfp = np.broadcast_to(params.log_tfp0, (n_draws, n)).copy()
    log_productivity = np.zeros((n_draws, n))
    events = np.cumsum(shocks.fragmentation, axis=1)
    research_path = (1.0 + params.research_growth) ** np.arange(n_years)[:, None]  # R(t)/R(0)
    own_scale = theta[:, None] * params.own_rate
    diffusion_scale = (theta * gamma_function(1.0 - beta))[:, None] * params.diffusion_rate
    minus_beta = (-beta[:, None, None]).astype(BILATERAL)
    # Factor links f0 (1 + a L) have row sums 1 + a (f0 L) 1, so they normalise in closed form.
    factor_shares = params.factor_shares.astype(BILATERAL)
    factor_boost = (params.factor_shares * params.industrial_links).astype(BILATERAL)
    factor_boost_total = factor_boost.sum(axis=1)
    # Data links g0 (1 + P (o_n o_i - 1)) = g0 (1 - P) + g0 P o_n o_i.
    digital_shares = params.digital_shares.astype(BILATERAL)
    data_fixed = (params.digital_shares * (1.0 - params.digital_pairs)).astype(BILATERAL)
    data_opened = (params.digital_shares * params.digital_pairs).astype(BILATERAL)
    border = border.astype(BILATERAL)
    insight_weight = (theta * beta)[:, None]
    stri0 = params.digital_stri0
    nqpf_prev = _nqpf(params, np.exp(params.log_tfp0), params.rd_intensity0, 1.0 - stri0,
                      params.talent0)

    # One list per output, one entry per year, stacked once at the end: writing into
    # year slices of (draw, year, ...) arrays is strided and measurably slower.
    out: dict[str, list[FloatArray]] = {name: [] for name in Paths.__dataclass_fields__}

    for t in range(n_years):
        activity = lever_activity(params, shocks, t)
        industrial, digital, fragmentation = activity[:, 3:4], activity[:, 2:3], activity[:, 4:5]

        # Goods channel: trade shares after the change in trade costs.
        log_cost = log_trade_cost_change(params, theta, activity, events[:, t])
        goods = goods_shares(params, log_cost, theta)

        # Factor channel: FDI and talent links with partners rise with the industrial lever.
        # Channels whose measure is inactive this year keep their base-year shares.
        if industrial.any():
            factors = (factor_shares + industrial[:, :, None].astype(BILATERAL) * factor_boost) / (
                1 + industrial.astype(BILATERAL) * factor_boost_total
            )[:, :, None]
        else:
            factors = np.broadcast_to(factor_shares, goods.shape)

        # Data channel: links scale with (1 - STRI_n)(1 - STRI_i); the digital lever opens
        # enacting-partner pairs, fragmentation tightens every economy's regime.
        stri_lever = stri0 - digital * params.digital_gap
        stri = np.clip(stri_lever + a.fragmentation_stri_rise * fragmentation, 0.0, 1.0)
        if digital.any() or fragmentation.any():
            opening = ((1.0 - stri_lever) / (1.0 - stri0)).astype(BILATERAL)
            data_links = data_fixed + data_opened * (opening[:, :, None] * opening[:, None, :])
            if fragmentation.any():
                closing = ((1.0 - stri) / (1.0 - stri_lever)).astype(BILATERAL)
                data_links *= 1 + border * (closing[:, :, None] * closing[:, None, :] - 1)
            data = normalize_sources(data_links)
        else:
            data = np.broadcast_to(digital_shares, goods.shape)

        # Buera-Oberfield diffusion: nu Gamma(1-b) sum_i s^(1-b) (lam_i/lam_n)^b, split by
        # channel in proportion to each channel's part of the sourcing weight s.
        channel_shares = (goods, factors, data)
        sourcing = sum(w * x for w, x in zip(omega.astype(BILATERAL), channel_shares, strict=True))
        # lam_i^beta relative to lam_n^beta, via log TFP; kept float64 for range.
        insight = np.exp(insight_weight * log_tfp)
        # s^(1-b) / s = s^(-b), as exp(-b ln s): faster than np.power.
        per_unit = np.exp(minus_beta * np.log(sourcing)) * insight[:, None, :].astype(BILATERAL)
        flows = np.stack(
            [w * np.einsum("dni,dni->dn", x, per_unit) for w, x in zip(omega, channel_shares, strict=True)],
            axis=-1,
        ) / insight[:, :, None]
        software_boost = 1.0 + (
            a.software_diffusion_boost * activity[:, 1:2] * params.software_enacting
        )
        diffusion = (diffusion_scale * software_boost)[:, :, None] * flows

        # Own research (Kortum): ideas arrive in proportion to research effort R(t).
        log_productivity = (
            priors.research_persistence * log_productivity
            + priors.research_volatility * shocks.research[:, t]
        )
        own = own_scale * research_path[t] * np.exp(
            log_productivity - theta[:, None] * (log_tfp - params.log_tfp0)
        ) * shocks.lumpiness[:, t]

        total = own + diffusion.sum(axis=-1)
        knowledge_growth = np.log1p(total) / theta[:, None]  # d ln(lam) / theta
        shock = priors.macro_volatility * shocks.macro[:, t]
        log_tfp = log_tfp + knowledge_growth + shock

        # Attribute growth to channels in proportion to their flows (0 where nothing flows).
        share = knowledge_growth / np.where(total > 0, total, 1.0)
        channels = np.concatenate(
            [(own * share)[:, :, None], diffusion * share[:, :, None], shock[:, :, None]], axis=-1
        )
        tfp = np.exp(log_tfp)

        years_elapsed = t + 1
        rd = params.rd_intensity0 * (
            1.0 + a.industrial_rd_boost * industrial * params.industrial_enacting
        )
        talent = params.talent0 * (1.0 + a.talent_growth) ** years_elapsed * (
            1.0 + a.industrial_talent_boost * industrial * params.industrial_enacting
        )
        nqpf = _nqpf(params, tfp, rd, 1.0 - stri, talent)
        out["tfp"].append(tfp)
        out["tfp_growth"].append(knowledge_growth + shock)
        out["channel_growth"].append(channels)
        out["nqpf"].append(nqpf)
        out["nqpf_growth"].append(np.log(nqpf / nqpf_prev))
        out["import_share"].append(1.0 - np.diagonal(goods, axis1=1, axis2=2).astype(np.float64))
        nqpf_prev = nqpf

    return Paths(**{name: np.stack(values, axis=1) for name, values in out.items()})


def _nqpf(params: ModelParams, *components: FloatArray) -> FloatArray:
    """NQPF index of (TFP, R&D intensity, digital openness, talent), each (..., N)."""
    stacked = np.stack(np.broadcast_arrays(*components), axis=-1)
    return nqpf_index(stacked, params.nqpf_base, params.nqpf_weights)
