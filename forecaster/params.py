r"""Model parameters: calibration plus policy, built by one pure function.

:class:`Assumptions` holds every modelling constant that is not data (lever
sizes, channel weights, priors), each with the published magnitude it is
sized to or labelled as an assumption; ``docs/model.md`` repeats them.
:func:`build_params` turns (calibration, policy, economies, horizon) into a
frozen :class:`ModelParams` whose arrays are read-only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from forecaster.arrays import FloatArray, readonly
from forecaster.calibration import Calibration
from forecaster.errors import PolicyError, RequestError
from forecaster.policy import LEVERS, Fragmentation, Lever, PolicyMix
from forecaster.theory import gravity_shares, great_circle_km

#: Channels of TFP growth, in the order of the ``channel`` dimension: own research, learning from
#: the home economy's own ideas (the i = n diffusion term), learning from abroad through the three
#: circulation channels, and the TFP residual (drift and macro shocks).
CHANNELS: tuple[str, ...] = ("research", "domestic", "goods", "factors", "digital", "residual")
#: Channels that carry ideas from abroad: international circulation.
FOREIGN_CHANNELS: tuple[str, ...] = ("goods", "factors", "digital")
#: NQPF components, in index order: simulated outcomes only (no lever sets any of them directly).
NQPF_COMPONENTS: tuple[str, ...] = ("tfp", "welfare_tfp")
#: Rows of the trade-cost effect matrices (see :attr:`ModelParams.cost_effects`).
COST_EFFECTS: tuple[str, ...] = (
    "hardware",
    "software",
    "digital",
    "fragmentation_bloc",
    "fragmentation_digital",
    "fragmentation_events",
)


@dataclass(frozen=True)
class Priors:
    r"""Priors of the per-draw uncertainty (all labelled in ``docs/model.md``).

    Attributes
    ----------
    theta_low, theta_high, theta_a, theta_b : float
        :math:`\theta = \theta_{low} + (\theta_{high}-\theta_{low})\,B` with
        :math:`B \sim \mathrm{Beta}(a, b)`: support is Eaton-Kortum's
        [3.60, 8.28], mean 4.94 (Head-Mayer's preferred 5), mode 4.54
        (Simonovska-Waugh's about 4).
    beta_high, beta_a, beta_b : float
        :math:`\beta = \beta_{high}\,\mathrm{Beta}(a, b)`, on [0, 0.7] with
        mean 0.35 (assumption).
    efficacy_a, efficacy_b : float
        Each lever delivers a Beta(6, 2) fraction of its nominal effect, mean
        0.75 (assumption: implementation uncertainty).
    research_persistence, research_volatility : float
        AR(1) of log research productivity: rho 0.8, sigma 0.10 (assumption).
    macro_correlation : float
        One-factor correlation 0.5 of the annual TFP-residual shocks across
        economies (assumption); their scale is each economy's measured TFP
        growth volatility (calibration field ``tfp_volatility``).
    fragmentation_hazard, fragmentation_jump_mean : float
        Fragmentation events arrive at 0.05 per year; each raises between-bloc
        log trade costs by an exponential jump of mean 0.02 (assumption; at the
        mean theta one mean-size event cuts between-bloc trade relative to home
        by about 9%, the order of the OECD-WTO (2025) -8.5% export loss of full
        data fragmentation).
    ideas_per_year : float
        Expected major ideas a year in the largest research economy; others
        in proportion to research spending (Poisson lumpiness; assumption).
    """

    theta_low: float = 3.60
    theta_high: float = 8.28
    theta_a: float = 2.0
    theta_b: float = 5.0
    beta_high: float = 0.7
    beta_a: float = 2.0
    beta_b: float = 2.0
    efficacy_a: float = 6.0
    efficacy_b: float = 2.0
    research_persistence: float = 0.8
    research_volatility: float = 0.10
    macro_correlation: float = 0.5
    fragmentation_hazard: float = 0.05
    fragmentation_jump_mean: float = 0.02
    ideas_per_year: float = 50.0

    @property
    def theta_mean(self) -> float:
        """Mean of the theta prior."""
        return self.theta_low + (self.theta_high - self.theta_low) * (
            self.theta_a / (self.theta_a + self.theta_b)
        )

    @property
    def beta_mean(self) -> float:
        """Mean of the beta prior."""
        return self.beta_high * self.beta_a / (self.beta_a + self.beta_b)

    @property
    def efficacy_mean(self) -> float:
        """Mean lever efficacy."""
        return self.efficacy_a / (self.efficacy_a + self.efficacy_b)


@dataclass(frozen=True)
class Assumptions:
    r"""Modelling constants that are not data.

    Attributes
    ----------
    hardware_trade_factor : float
        Rise of bilateral trade, relative to home sales, that the hardware lever
        delivers at full intensity: 1/0.72 (Limao and Venables 2001: worse
        infrastructure, from the median to the 75th percentile of transport
        costs, raises them by 12 pp and cuts trade by 28%; the lever is the
        reverse move). The log
        trade-cost cut is :math:`\ln(1/0.72)/\theta`, so the trade response is
        the cited one at every theta.
    software_cut_ln2 : float
        Full-intensity cut in regulatory log trade costs in units of
        :math:`\ln 2/\theta`: 1 is an FTA equivalent, doubling bilateral trade
        in partial equilibrium (Baier and Bergstrand 2007).
    software_diffusion_boost : float
        Relative rise of the enacting economy's diffusion rate (IP and
        standards alignment), 0.10 (assumption).
    digital_cost_per_stri : float
        :math:`\kappa`, log trade cost per unit of Digital STRI, 0.06: moving
        from the 2018 mean 0.18 to the most open 0.04 then raises exports by
        about the OECD-WTO (2025) +3.6% (derived, assumption).
    digital_open_stri : float
        Most open observed Digital STRI (0.04, OECD 2018), the digital lever's
        full-intensity target.
    fragmentation_stri_rise : float
        Rise in every economy's Digital STRI under full fragmentation, 0.3
        (assumption; OECD-WTO "data blocs" scenario in direction).
    industrial_link_boost : float
        Relative rise of FDI/talent links with partners at full intensity, 0.5
        (assumption, order of Bahar and Rapoport 2018).
    channel_weights : tuple of float
        Weights of the goods, factors and digital channels in sourcing ideas,
        (0.5, 0.3, 0.2) (assumption).
    distance_elasticities : tuple of float
        Gravity distance elasticities of the goods, factor and data channels,
        (0.9, 0.5, 0.3): goods from Disdier and Head (2008, recalled); factors
        and data are assumptions (less distance-sensitive).
    fdi_stock_to_inflow : float
        Foreign share of factor links = 12 x FDI inflows / GDP, capped at 0.8
        (assumption: stocks are about 12 years of inflows).
    digital_foreign_share : float
        Foreign share of the data channel = 0.5 x (1 - Digital STRI)
        (assumption).
    domestic_diffusion_share : float
        Share of home-grown knowledge growth (the part not learnt from abroad)
        that comes from diffusion of the economy's own ideas rather than from
        new research, 0.5 (assumption). The foreign share itself is data
        (calibration field ``foreign_idea_share``).
    knowledge_growth_floor : float
        Smallest base-year knowledge growth, 0.002 a year (assumption): ideas
        never make knowledge shrink, so an economy whose measured trend TFP
        growth is lower gets a constant negative TFP drift for the difference.
    nqpf_weights : tuple of float
        Weights of TFP and welfare-relevant TFP (TFP times the static gains
        from trade), (0.5, 0.5) (assumption; fixed, unlike sample-dependent
        entropy weights).
    priors : Priors
    """

    hardware_trade_factor: float = 1.0 / 0.72
    software_cut_ln2: float = 1.0
    software_diffusion_boost: float = 0.10
    digital_cost_per_stri: float = 0.06
    digital_open_stri: float = 0.04
    fragmentation_stri_rise: float = 0.3
    industrial_link_boost: float = 0.5
    channel_weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    distance_elasticities: tuple[float, float, float] = (0.9, 0.5, 0.3)
    fdi_stock_to_inflow: float = 12.0
    digital_foreign_share: float = 0.5
    domestic_diffusion_share: float = 0.5
    knowledge_growth_floor: float = 0.002
    nqpf_weights: tuple[float, float] = (0.5, 0.5)
    priors: Priors = field(default_factory=Priors)


DEFAULT_ASSUMPTIONS = Assumptions()


@dataclass(frozen=True, eq=False)
class ModelParams:
    r"""Everything the kernel needs, as read-only arrays (N economies, T years).

    Attributes
    ----------
    economies : tuple of str
    years : ndarray of int, shape (T,)
        Calendar years simulated (base year + 1, ..., base year + T).
    base_year : int
    goods_shares, factor_shares, digital_shares : ndarray, shape (N, N)
        Base-year sourcing weights of the three channels, rows summing to 1.
    channel_weights : ndarray, shape (3,)
    log_tfp0 : ndarray, shape (N,)
        Base-year log TFP relative to the USA.
    tfp_growth : ndarray, shape (N,)
        Trend TFP growth :math:`g_n` that every draw reproduces in the base year.
    knowledge_growth : ndarray, shape (N,)
        :math:`k_n = \max(g_n, k_{min})`, the part of trend TFP growth that
        comes from new knowledge; :math:`g_n - k_n \le 0` is a TFP drift.
    research_growth : ndarray, shape (N,)
        Growth of research input :math:`n_i`.
    tfp_volatility : ndarray, shape (N,)
        Standard deviation :math:`\sigma_n` of the annual TFP-residual shock.
    foreign_share : ndarray, shape (N,)
        :math:`F_n`, share of base-year knowledge growth learnt from abroad.
    domestic_share : ndarray, shape (N,)
        :math:`\psi_n`, share learnt from the economy's own ideas (diffusion at
        home); own research supplies :math:`1 - F_n - \psi_n`.
    ideas_mean : ndarray, shape (N,)
        Expected major ideas a year (Poisson lumpiness).
    ramps : ndarray, shape (T, 5)
        Intensity x phase-in of hardware, software, digital, industrial,
        fragmentation in each year.
    cost_effects : ndarray, shape (6, N, N)
        Log trade-cost change per unit coefficient, rows :data:`COST_EFFECTS`.
    industrial_links : ndarray, shape (N, N)
        Relative boost of factor links per unit industrial coefficient.
    digital_pairs : ndarray, shape (N, N)
        1 where the digital lever opens data flows (enacting-partner pairs).
    digital_gap : ndarray, shape (N,)
        Fall of Digital STRI per unit digital coefficient (enacting only).
    digital_stri0 : ndarray, shape (N,)
    software_enacting : ndarray, shape (N,)
        1 for economies enacting the software lever.
    nqpf_base : float
        Base-year mean TFP over the whole calibration (the index's fixed base).
    nqpf_weights : ndarray, shape (2,)
        Weights of :data:`NQPF_COMPONENTS`.
    assumptions : Assumptions
    """

    economies: tuple[str, ...]
    years: npt.NDArray[np.int64]
    base_year: int
    goods_shares: FloatArray
    factor_shares: FloatArray
    digital_shares: FloatArray
    channel_weights: FloatArray
    log_tfp0: FloatArray
    tfp_growth: FloatArray
    knowledge_growth: FloatArray
    research_growth: FloatArray
    tfp_volatility: FloatArray
    foreign_share: FloatArray
    domestic_share: FloatArray
    ideas_mean: FloatArray
    ramps: FloatArray
    cost_effects: FloatArray
    industrial_links: FloatArray
    digital_pairs: FloatArray
    digital_gap: FloatArray
    digital_stri0: FloatArray
    software_enacting: FloatArray
    nqpf_base: float
    nqpf_weights: FloatArray
    assumptions: Assumptions

    @property
    def n_economies(self) -> int:
        """Number of economies N."""
        return len(self.economies)

    @property
    def n_years(self) -> int:
        """Number of simulated years T."""
        return int(self.years.size)

    @property
    def sourcing_shares(self) -> FloatArray:
        r"""Base-year sourcing weights :math:`s^0 = \sum_c \omega_c x^{c,0}`, shape (N, N)."""
        omega = self.channel_weights
        return omega[0] * self.goods_shares + omega[1] * self.factor_shares + omega[2] * self.digital_shares


def ramp(start_year: int, phase_in_years: int, years: npt.NDArray[np.int64]) -> FloatArray:
    """Share of a measure's full effect in each year: linear over the phase-in.

    ``min(1, (year - start_year + 1) / phase_in_years)`` from ``start_year`` on,
    0 before; a phase-in of 0 acts at once.
    """
    elapsed = (years - start_year + 1).astype(float)
    if phase_in_years == 0:
        return np.asarray((elapsed >= 1).astype(float))
    return np.asarray(np.clip(elapsed / phase_in_years, 0.0, 1.0))


def _members(codes: tuple[str, ...], economies: tuple[str, ...], known: tuple[str, ...],
             path: str) -> FloatArray:
    for code in codes:
        if code not in known:
            raise PolicyError(path, f"unknown economy {code!r}; known economies: {list(known)}")
        if code not in economies:  # a lever acts between simulated economies only: it would do nothing
            raise PolicyError(path, f"{code!r} is not among the simulated economies {list(economies)}, so "
                                    f"its part of the lever would have no effect: add {code!r} to economies")
    if not codes:
        return np.ones(len(economies))
    return np.array([float(code in codes) for code in economies])


def _pair_mask(lever: Lever, economies: tuple[str, ...], known: tuple[str, ...],
               path: str) -> tuple[FloatArray, FloatArray]:
    """Enacting indicator (N,) and symmetric enacting-partner pair mask (N, N), zero diagonal."""
    enacting = _members(lever.enacting, economies, known, f"{path}.enacting")
    partners = _members(lever.partners, economies, known, f"{path}.partners")
    pairs = np.maximum(np.outer(enacting, partners), np.outer(partners, enacting))
    np.fill_diagonal(pairs, 0.0)
    return enacting, pairs


def build_params(
    calibration: Calibration,
    policy: PolicyMix,
    *,
    economies: Sequence[str] | None = None,
    horizon_years: int = 30,
    assumptions: Assumptions = DEFAULT_ASSUMPTIONS,
) -> ModelParams:
    r"""Combine calibration, policy and assumptions into :class:`ModelParams`.

    Parameters
    ----------
    calibration : Calibration
    policy : PolicyMix
    economies : sequence of str, optional
        Economies to simulate (at least two), default all in the calibration.
        Lever economies outside this set are accepted and have no effect.
    horizon_years : int
        Years simulated after the calibration's base year.
    assumptions : Assumptions

    Returns
    -------
    ModelParams

    Raises
    ------
    RequestError
        For unknown or too few economies or a bad horizon.
    PolicyError
        For unknown lever economies or a lever that starts after the horizon.
    """
    known = calibration.economies
    chosen = tuple(economies) if economies is not None else known
    unknown = [code for code in chosen if code not in known]
    if unknown:
        raise RequestError("economies", f"unknown economies {unknown}; known: {list(known)}")
    repeated = sorted({code for code in chosen if chosen.count(code) > 1})
    if repeated:
        raise RequestError("economies", f"each economy at most once, got {repeated} more than once")
    if len(chosen) < 2:
        raise RequestError("economies", f"need at least two economies, got {list(chosen)}")
    if horizon_years < 1:
        raise RequestError("horizon_years", f"must be at least 1, got {horizon_years}")
    cal = calibration.subset(chosen)
    n = len(chosen)
    years = np.arange(cal.base_year + 1, cal.base_year + 1 + horizon_years, dtype=np.int64)

    # Base-year sourcing weights of the three idea channels, from gravity profiles.
    distance = great_circle_km(cal["latitude"], cal["longitude"])
    size = cal["gdp_ppp"]
    delta_goods, delta_factors, delta_digital = assumptions.distance_elasticities
    import_share = np.clip(cal["import_penetration"], 0.01, 0.9)  # 1 - pi_nn, ACR's 1 - lambda
    goods = gravity_shares(size, distance, delta_goods, import_share)
    factor_foreign = np.clip(assumptions.fdi_stock_to_inflow * cal["fdi_openness"], 0.01, 0.8)
    factors = gravity_shares(size, distance, delta_factors, factor_foreign)
    digital_foreign = assumptions.digital_foreign_share * (1.0 - cal["digital_restrictiveness"])
    digital = gravity_shares(size, distance, delta_digital, np.clip(digital_foreign, 0.01, 0.9))
    omega = np.asarray(assumptions.channel_weights)

    # Shares of base-year knowledge growth: F_n from abroad (data), psi_n from the home economy's
    # own ideas, the rest from new research. Each draw solves its rates from them at its own
    # theta and beta (kernel.calibrated_rates), so that every draw starts from the same growth.
    foreign_share = cal["foreign_idea_share"]
    domestic_share = assumptions.domestic_diffusion_share * (1.0 - foreign_share)
    growth = cal["tfp_growth"]
    knowledge_growth = np.maximum(growth, assumptions.knowledge_growth_floor)

    # Policy: ramps and the matrices the levers act through.
    ramps = np.zeros((horizon_years, 5))
    masks = {}
    timings: list[tuple[str, Lever | Fragmentation]] = [(name, policy.lever(name)) for name in LEVERS]
    timings.append(("fragmentation", policy.fragmentation))
    for k, (name, measure) in enumerate(timings):
        phase = ramp(measure.start_year, measure.phase_in_years, years)
        ramps[:, k] = measure.intensity * phase
        if measure.intensity > 0 and phase.max() == 0:
            raise PolicyError(
                f"policy.{name}.start_year",
                f"must be at most {int(years[-1])} to act within the {horizon_years}-year horizon",
            )
        if isinstance(measure, Lever):
            masks[name] = _pair_mask(measure, chosen, known, f"policy.{name}")

    border = 1.0 - np.eye(n)
    blocs = np.asarray(cal.blocs)
    between_blocs = (blocs[:, None] != blocs[None, :]).astype(float)
    stri0 = cal["digital_restrictiveness"]
    digital_enacting, digital_pairs = masks["digital"]
    gap = np.maximum(stri0 - assumptions.digital_open_stri, 0.0) * digital_enacting
    kappa = assumptions.digital_cost_per_stri
    cost_effects = np.stack([
        masks["hardware"][1],
        masks["software"][1],
        0.5 * kappa * (gap[:, None] + gap[None, :]) * digital_pairs,
        between_blocs,
        kappa * assumptions.fragmentation_stri_rise * border,
        between_blocs,
    ])

    research_spend = cal["rd_intensity"] * size
    # Fixed base: the base-year mean over the whole calibration, not over the economies of
    # this request, so an economy's NQPF level does not depend on which others are simulated.
    nqpf_base = float(calibration["tfp_level"].mean())
    weights = np.asarray(assumptions.nqpf_weights)
    if not math.isclose(weights.sum(), 1.0) or not math.isclose(omega.sum(), 1.0):
        raise RequestError("assumptions", "NQPF and channel weights must each sum to 1")

    return ModelParams(
        economies=chosen,
        years=years,
        base_year=cal.base_year,
        goods_shares=readonly(goods),
        factor_shares=readonly(factors),
        digital_shares=readonly(digital),
        channel_weights=readonly(omega),
        log_tfp0=readonly(np.log(cal["tfp_level"])),
        tfp_growth=readonly(growth),
        knowledge_growth=readonly(knowledge_growth),
        research_growth=readonly(cal["research_growth"]),
        tfp_volatility=readonly(cal["tfp_volatility"]),
        foreign_share=readonly(foreign_share),
        domestic_share=readonly(domestic_share),
        ideas_mean=readonly(
            assumptions.priors.ideas_per_year * research_spend / research_spend.max()
        ),
        ramps=readonly(ramps),
        cost_effects=readonly(cost_effects),
        industrial_links=readonly(assumptions.industrial_link_boost * masks["industrial"][1]),
        digital_pairs=readonly(digital_pairs),
        digital_gap=readonly(gap),
        digital_stri0=readonly(stri0),
        software_enacting=readonly(masks["software"][0]),
        nqpf_base=nqpf_base,
        nqpf_weights=readonly(weights),
        assumptions=assumptions,
    )
