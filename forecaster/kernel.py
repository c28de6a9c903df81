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
3. Knowledge grows by own research, by learning from the economy's own ideas
   and by Buera-Oberfield diffusion from abroad,

   .. math::
       \frac{\Delta\lambda_n}{\lambda_n} = \rho_n\frac{R_n(t)}{R_n(0)}
       \frac{\lambda_n(0)}{\lambda_n(t)} e^{x_n} L_n
       + \nu^H_n s_{nn}^{1-\beta}
       + \nu^F_n(1 + 0.1\,a_s E^s_n)\sum_{i\ne n} s_{ni}^{1-\beta}
       \left(\frac{\lambda_i}{\lambda_n}\right)^{\beta}

   with AR(1) research productivity :math:`x_n`, idea lumpiness :math:`L_n`,
   the software lever's diffusion boost for enacting economies
   :math:`E^s_n`, and log TFP :math:`=\ln\lambda/\theta` plus a correlated
   residual. The rates :math:`\rho, \nu^H, \nu^F` are solved for every draw
   at its own :math:`\theta, \beta` (:func:`calibrated_rates`), so that every
   draw reproduces base-year growth and its split between research, home and
   abroad.
4. Static gains from trade (Arkolakis, Costinot and Rodriguez-Clare 2012):
   real income moves by :math:`\ln\hat W_n = \ln\widehat{\mathrm{TFP}}_n
   - \ln\hat\pi_{nn}/\theta`.

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

from forecaster.arrays import FloatArray
from forecaster.params import CHANNELS, ModelParams
from forecaster.shocks import Shocks
from forecaster.theory import normalize_sources

#: Precision of the draw x economy x economy arrays (shares, sourcing weights). Single
#: precision makes the exp/log passes several times faster; its relative rounding
#: (about 1e-7) is far below Monte-Carlo error. State and outputs stay float64.
BILATERAL = np.float32


@dataclass(frozen=True, eq=False)
class Paths:
    r"""Simulated paths of D draws over T years for N economies.

    Outcomes:

    Attributes
    ----------
    tfp : ndarray, shape (D, T, N)
        TFP level relative to the economy's own base year.
    tfp_growth : ndarray, shape (D, T, N)
        Annual log TFP growth.
    channel_growth : ndarray, shape (D, T, N, 6)
        ``tfp_growth`` split by channel (:data:`~forecaster.params.CHANNELS`);
        sums to ``tfp_growth`` over the last axis.
    static_gain : ndarray, shape (D, T, N)
        Log real-income change from trade shares against the base year (ACR),
        :math:`-\ln(\pi_{nn}(t)/\pi_{nn}(0))/\theta`.
    real_income : ndarray, shape (D, T, N)
        Log real income against the base year: ``log(tfp) + static_gain``
        (dynamic plus static gains).
    nqpf : ndarray, shape (D, T, N)
        NQPF composite index of TFP and welfare-relevant TFP.
    nqpf_growth : ndarray, shape (D, T, N)
        Annual log growth of the NQPF index.

    Circulation indicators (moved by the levers directly; never part of an outcome index):

    import_share : ndarray, shape (D, T, N)
        Share of absorption bought abroad, :math:`1 - \pi_{nn}`.
    digital_openness : ndarray, shape (D, T, N)
        :math:`1 - \mathrm{STRI}_n`, Digital STRI after levers and fragmentation.
    foreign_factor_share : ndarray, shape (D, T, N)
        Foreign share of factor (FDI, talent) links, :math:`1 - f_{nn}`.
    """

    tfp: FloatArray
    tfp_growth: FloatArray
    channel_growth: FloatArray
    static_gain: FloatArray
    real_income: FloatArray
    nqpf: FloatArray
    nqpf_growth: FloatArray
    import_share: FloatArray
    digital_openness: FloatArray
    foreign_factor_share: FloatArray


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
            -math.log(assumptions.hardware_trade_factor) / theta * activity[..., 0],
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
        \ln\hat d = -\frac{\ln(1/0.72)}{\theta}\,a_h P_h - \frac{\ln 2}{\theta} a_s P_s
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


def calibrated_rates(
    params: ModelParams, theta: FloatArray, beta: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Rates of own research, home learning and learning from abroad for each draw, each (N, D).

    Solved at each draw's own :math:`\theta, \beta` so that, in the base year
    (base-year sourcing weights :math:`s^0`, relative stocks
    :math:`\lambda_i/\lambda_n = e^{\theta(\ell^0_i-\ell^0_n)}`, neutral
    shocks), knowledge grows by :math:`K_n = e^{\theta k_n} - 1`, so that TFP
    grows by exactly :math:`k_n`, and the shares of :math:`K_n` from abroad,
    from home and from research are :math:`F_n`, :math:`\psi_n` and
    :math:`1 - F_n - \psi_n`:

    .. math::
        \rho_n = (1 - F_n - \psi_n) K_n,\qquad
        \nu^H_n = \frac{\psi_n K_n}{(s^0_{nn})^{1-\beta}},\qquad
        \nu^F_n = \frac{F_n K_n}{\sum_{i\ne n} (s^0_{ni})^{1-\beta}
        e^{\theta\beta(\ell^0_i-\ell^0_n)}}.

    Parameter uncertainty then widens the future (how fast gaps close, how
    strongly levers act) without moving the starting point.

    Parameters
    ----------
    params : ModelParams
    theta, beta : ndarray, shape (D,)

    Returns
    -------
    research, home, abroad : ndarray, shape (N, D)
        :math:`\rho`, :math:`\nu^H` and :math:`\nu^F`.
    """
    total = np.expm1(np.multiply.outer(params.knowledge_growth, theta))  # K_n, (N, D)
    log_sourcing = np.log(params.sourcing_shares)[:, :, None]
    gap = (params.log_tfp0[None, :] - params.log_tfp0[:, None])[:, :, None]
    terms = np.exp((1.0 - beta) * log_sourcing + (theta * beta) * gap)  # (N, N, D)
    home_terms = np.diagonal(terms).T.copy()  # the i = n terms, gap 0: (s0_nn)^(1-beta)
    np.einsum("nnd->nd", terms)[...] = 0.0  # a writable view of the diagonal
    abroad_terms = terms.sum(axis=1)
    foreign, home = params.foreign_share[:, None], params.domestic_share[:, None]
    return (1.0 - foreign - home) * total, home * total / home_terms, foreign * total / abroad_terms


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
    own_scale, home_rate, abroad_rate = calibrated_rates(params, theta, beta)
    software_enacting = _column(params.software_enacting)
    research_path = (1.0 + params.research_growth) ** np.arange(n_years)[:, None]  # R(t)/R(0)
    log_tfp0 = _column(params.log_tfp0)
    # Measured trend growth below the knowledge floor is a constant TFP drift (<= 0).
    drift = _column(params.tfp_growth - params.knowledge_growth)
    tfp_volatility = _column(params.tfp_volatility)

    # Bilateral buffers, (N, N, D), reused every year. channels holds the three channels'
    # parts of the sourcing weights, omega_c x^c_ni (rows sum to omega_c); s is their sum.
    channels = np.empty((3, n, n, n_draws), BILATERAL)
    goods, factors, data = channels
    sourcing = np.empty((n, n, n_draws), BILATERAL)
    scratch = np.empty((n, n, n_draws), BILATERAL)
    # Outputs in their final layout, written year by year through _year_of views.
    log_tfp_path, tfp_growth, import_share, digital_openness, foreign_factor_share = (
        np.empty((n_draws, n_years, n)) for _ in range(5)
    )
    channel_growth = np.empty((n_draws, n_years, n, len(CHANNELS)))

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
        foreign_factors = _year_of(foreign_factor_share, t)
        np.subtract(1.0, _diagonal(factors) / w_factors, out=foreign_factors, dtype=np.float64)

        # Data channel: links scale with (1 - STRI_n)(1 - STRI_i); the digital lever opens
        # enacting-partner pairs, fragmentation tightens every economy's regime.
        stri_lever = stri0 - digital * digital_gap
        stri = np.clip(stri_lever + a.fragmentation_stri_rise * fragmentation, 0.0, 1.0)
        np.subtract(1.0, stri, out=_year_of(digital_openness, t))
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

        # Buera-Oberfield diffusion: sum_i s^(1-b) (lam_i/lam_n)^b, the home term (i = n) apart and
        # the foreign terms split by channel in proportion to each channel's part of s:
        # sum_{i != n} omega_c x^c_ni s^(-b) (lam_i/lam_n)^b.
        np.add(goods, factors, out=sourcing)
        sourcing += data
        home_sourcing = _diagonal(sourcing).copy()  # s_nn, (N, D)
        # s^(-b) (lam_i/lam_n)^b as one exp of -b ln s + theta b (ln TFP_i - ln TFP_n). Log TFP is
        # centred per draw before rounding to float32, so the exponent keeps ~1e-7 precision.
        np.log(sourcing, out=sourcing)
        sourcing *= minus_beta
        insight = insight_weight * log_tfp
        insight = (insight - insight.mean(axis=0)).astype(BILATERAL)
        np.subtract(insight[None, :, :], insight[:, None, :], out=scratch)
        sourcing += scratch
        np.exp(sourcing, out=sourcing)
        home = home_rate * (home_sourcing * _diagonal(sourcing))  # nu^H s_nn^(1-b), (N, D)
        for channel in channels:
            _diagonal(channel)[...] = 0.0  # learning at home is counted apart, not as circulation
        flows = np.einsum("cnid,nid->cnd", channels, sourcing)  # one pass for the 3 channels
        software_boost = 1.0 + a.software_diffusion_boost * software * software_enacting
        abroad = (abroad_rate * software_boost) * flows  # (3, N, D)

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
        total = own + home + abroad[0] + abroad[1] + abroad[2]
        knowledge_growth = np.log(1.0 + total) / theta
        residual = drift + tfp_volatility * _shock_of(shocks.macro, t)
        log_tfp = log_tfp + knowledge_growth + residual

        # Attribute growth to channels in proportion to their flows (0 where nothing flows).
        share = knowledge_growth / np.where(total > 0, total, 1.0)
        channels_t = _year_of(channel_growth, t)  # (N, 6, D)
        np.multiply(own, share, out=channels_t[:, 0])
        np.multiply(home, share, out=channels_t[:, 1])
        np.multiply(abroad, share, out=np.moveaxis(channels_t[:, 2:5], 1, 0))
        channels_t[:, 5] = residual
        _year_of(log_tfp_path, t)[...] = log_tfp
        np.add(knowledge_growth, residual, out=_year_of(tfp_growth, t))

    # After the loop, in whole-array passes: TFP against the base year, the static gains
    # -ln(pi_nn / pi0_nn) / theta, real income and the NQPF index.
    log_tfp_path -= params.log_tfp0
    static_gain = np.log1p(-import_share)
    static_gain -= np.log(np.diagonal(params.goods_shares))
    static_gain /= minus_theta[:, :, None]
    real_income = log_tfp_path + static_gain
    tfp = np.exp(log_tfp_path)
    nqpf, nqpf_growth = nqpf_paths(params, tfp, static_gain)
    return Paths(
        tfp=tfp,
        tfp_growth=tfp_growth,
        channel_growth=channel_growth,
        static_gain=static_gain,
        real_income=real_income,
        nqpf=nqpf,
        nqpf_growth=nqpf_growth,
        import_share=import_share,
        digital_openness=digital_openness,
        foreign_factor_share=foreign_factor_share,
    )


def nqpf_paths(
    params: ModelParams, tfp: FloatArray, static_gain: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r"""Compute the NQPF composite and its annual log growth, each shape (D, T, N).

    A fixed-weight, fixed-base index of two simulated outcomes, TFP and
    welfare-relevant TFP (TFP times the static gains from trade
    :math:`e^{G_n}`), both relative to the calibration's base-year mean TFP
    :math:`\bar A^0`:

    .. math::
        \mathrm{NQPF}_n(t) = \frac{A^0_n\,\widehat{\mathrm{TFP}}_n(t)}{\bar A^0}
        \left(w_1 + w_2\,e^{G_n(t)}\right).

    No lever sets a component directly: levers act on it only through the
    simulated TFP path and trade shares.

    Parameters
    ----------
    params : ModelParams
    tfp : ndarray, shape (D, T, N)
        TFP against the base year.
    static_gain : ndarray, shape (D, T, N)
        :math:`G_n(t)`, the ACR log real-income change.
    """
    w_tfp, w_welfare = (float(w) for w in params.nqpf_weights)
    level0 = np.exp(params.log_tfp0) / params.nqpf_base
    nqpf = np.exp(static_gain)
    nqpf *= w_welfare
    nqpf += w_tfp
    nqpf *= tfp
    nqpf *= level0
    growth = np.empty_like(nqpf)
    np.divide(nqpf[:, 0], level0 * (w_tfp + w_welfare), out=growth[:, 0])
    np.divide(nqpf[:, 1:], nqpf[:, :-1], out=growth[:, 1:])
    np.log(growth, out=growth)
    return nqpf, growth
