r"""A readable reference implementation of the model in plain Python loops.

:func:`simulate_loop` computes the same annual step as
:func:`forecaster.kernel.simulate`, one draw, one year and one economy at a time,
with Python floats, lists and the :mod:`math` module only. It was written from
the equations (the module docstring of :mod:`forecaster.kernel` and section 2 of
``docs/model.md``), not translated from the vectorised code, so the two
implementations check each other: the test-suite asserts that they agree, and
``benchmarks/bench_engine.py`` measures how much faster the kernel is.

Everything here is float64. The kernel keeps its draw x economy x economy arrays
in float32, so the two agree to about 1e-5 relative, not bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecaster.kernel import Paths
from forecaster.params import ModelParams
from forecaster.shocks import Shocks

Matrix = list[list[float]]


@dataclass(frozen=True)
class _Model:
    """The parameters of :class:`ModelParams` as Python floats and lists (``[n][i]`` for matrices)."""

    n: int
    n_years: int
    goods0: Matrix
    factors0: Matrix
    digital0: Matrix
    omega: list[float]
    log_tfp0: list[float]
    research_growth: list[float]
    own_rate: list[float]
    diffusion_rate: list[float]
    ramps: Matrix
    cost_effects: list[Matrix]
    industrial_links: Matrix
    digital_pairs: Matrix
    digital_gap: list[float]
    stri0: list[float]
    software_enacting: list[float]
    industrial_enacting: list[float]
    rd0: list[float]
    talent0: list[float]
    nqpf_base: list[float]
    nqpf_weights: list[float]
    hardware_cut: float
    software_cut_ln2: float
    software_diffusion_boost: float
    fragmentation_stri_rise: float
    industrial_rd_boost: float
    industrial_talent_boost: float
    talent_growth: float
    research_persistence: float
    research_volatility: float
    macro_volatility: float

    @classmethod
    def from_params(cls, params: ModelParams) -> _Model:
        a = params.assumptions
        return cls(
            n=params.n_economies,
            n_years=params.n_years,
            goods0=params.goods_shares.tolist(),
            factors0=params.factor_shares.tolist(),
            digital0=params.digital_shares.tolist(),
            omega=params.channel_weights.tolist(),
            log_tfp0=params.log_tfp0.tolist(),
            research_growth=params.research_growth.tolist(),
            own_rate=params.own_rate.tolist(),
            diffusion_rate=params.diffusion_rate.tolist(),
            ramps=params.ramps.tolist(),
            cost_effects=params.cost_effects.tolist(),
            industrial_links=params.industrial_links.tolist(),
            digital_pairs=params.digital_pairs.tolist(),
            digital_gap=params.digital_gap.tolist(),
            stri0=params.digital_stri0.tolist(),
            software_enacting=params.software_enacting.tolist(),
            industrial_enacting=params.industrial_enacting.tolist(),
            rd0=params.rd_intensity0.tolist(),
            talent0=params.talent0.tolist(),
            nqpf_base=params.nqpf_base.tolist(),
            nqpf_weights=params.nqpf_weights.tolist(),
            hardware_cut=a.hardware_cut,
            software_cut_ln2=a.software_cut_ln2,
            software_diffusion_boost=a.software_diffusion_boost,
            fragmentation_stri_rise=a.fragmentation_stri_rise,
            industrial_rd_boost=a.industrial_rd_boost,
            industrial_talent_boost=a.industrial_talent_boost,
            talent_growth=a.talent_growth,
            research_persistence=a.priors.research_persistence,
            research_volatility=a.priors.research_volatility,
            macro_volatility=a.priors.macro_volatility,
        )


@dataclass(frozen=True)
class _Draw:
    """One draw of :class:`Shocks` as Python floats and lists (``[t][n]`` for paths)."""

    theta: float
    beta: float
    efficacy: list[float]
    research: Matrix
    lumpiness: Matrix
    macro: Matrix
    fragmentation: list[float]


def simulate_loop(params: ModelParams, shocks: Shocks) -> Paths:
    r"""Simulate every draw of ``shocks`` under ``params`` with plain Python loops.

    The readable reference that the vectorised :func:`forecaster.kernel.simulate`
    is tested and benchmarked against. It was written independently from the
    model's equations (the :mod:`forecaster.kernel` module docstring and
    ``docs/model.md`` section 2) and loops over draws, years and economies with
    Python floats and :mod:`math`; numpy is used only to read the inputs and to
    build the returned arrays.

    Parameters
    ----------
    params : ModelParams
    shocks : Shocks
        D draws, with T and N matching ``params``.

    Returns
    -------
    Paths
        Float64 paths with the same fields and shapes as the kernel's.

    See Also
    --------
    forecaster.kernel.simulate : The vectorised kernel, the one used in production.

    Notes
    -----
    Computed in float64 throughout. The kernel computes its bilateral
    (draw x economy x economy) arrays in float32, so the two agree to about
    1e-5 relative, not bit for bit. The loop is several hundred times slower
    than the kernel; use it to check the kernel, not to forecast.
    """
    model = _Model.from_params(params)
    draws = zip(
        shocks.theta.tolist(),
        shocks.beta.tolist(),
        shocks.efficacy.tolist(),
        shocks.research.tolist(),
        shocks.lumpiness.tolist(),
        shocks.macro.tolist(),
        shocks.fragmentation.tolist(),
        strict=True,
    )
    paths = [_simulate_draw(model, _Draw(*draw)) for draw in draws]
    return Paths(**{
        name: np.array([path[name] for path in paths], dtype=np.float64)
        for name in Paths.__dataclass_fields__
    })


def _normalise_rows(weights: Matrix) -> Matrix:
    """Divide each row (destination) by its sum over sources."""
    return [[w / sum(row) for w in row] for row in weights]


def _nqpf(model: _Model, tfp: float, rd: float, openness: float, talent: float) -> float:
    """Fixed-weight, fixed-base NQPF index of one economy."""
    components = (tfp, rd, openness, talent)
    return sum(
        w * c / base for w, c, base in zip(model.nqpf_weights, components, model.nqpf_base, strict=True)
    )


def _simulate_draw(model: _Model, draw: _Draw) -> dict[str, list[Any]]:
    """Paths of one draw: for each :class:`Paths` field, a list over years of lists over economies."""
    n = model.n
    economies = range(n)
    theta, beta = draw.theta, draw.beta
    fta = math.log(2.0) / theta  # log trade-cost change that doubles pi_ni / pi_nn
    w_goods, w_factors, w_digital = model.omega
    diffusion_scale = [theta * nu * math.gamma(1.0 - beta) for nu in model.diffusion_rate]

    log_tfp = list(model.log_tfp0)
    log_productivity = [0.0] * n
    jumps = 0.0
    nqpf_prev = [
        _nqpf(model, math.exp(model.log_tfp0[k]), model.rd0[k], 1.0 - model.stri0[k], model.talent0[k])
        for k in economies
    ]
    out: dict[str, list[Any]] = {name: [] for name in Paths.__dataclass_fields__}

    for t in range(model.n_years):
        # Lever activity: intensity x phase-in x efficacy; fragmentation has no efficacy.
        a_h, a_s, a_d, a_i = (r * e for r, e in zip(model.ramps[t][:4], draw.efficacy, strict=True))
        a_f = model.ramps[t][4]
        jumps += draw.fragmentation[t]

        # Goods: ln d_ni = sum_k c_k C^(k)_ni; pi_ni proportional to pi0_ni d_ni^-theta.
        coefficients = (
            -model.hardware_cut * a_h,
            -model.software_cut_ln2 * fta * a_s,
            -a_d,
            fta * a_f,
            a_f,
            jumps,
        )
        goods = _normalise_rows([
            [
                model.goods0[r][c] * math.exp(-theta * sum(
                    coefficient * effect[r][c]
                    for coefficient, effect in zip(coefficients, model.cost_effects, strict=True)
                ))
                for c in economies
            ]
            for r in economies
        ])

        # Factors: links with partners rise by 0.5 a_i P^i_ni.
        factors = _normalise_rows([
            [model.factors0[r][c] * (1.0 + a_i * model.industrial_links[r][c]) for c in economies]
            for r in economies
        ])

        # Data: opening ratios o_n on enacting-partner pairs, closing ratios chi_n on foreign pairs.
        stri_lever = [model.stri0[k] - a_d * model.digital_gap[k] for k in economies]
        stri = [
            min(max(stri_lever[k] + model.fragmentation_stri_rise * a_f, 0.0), 1.0) for k in economies
        ]
        opening = [(1.0 - stri_lever[k]) / (1.0 - model.stri0[k]) for k in economies]
        closing = [(1.0 - stri[k]) / (1.0 - stri_lever[k]) for k in economies]
        data = _normalise_rows([
            [
                model.digital0[r][c]
                * (1.0 + model.digital_pairs[r][c] * (opening[r] * opening[c] - 1.0))
                * (1.0 if r == c else closing[r] * closing[c])
                for c in economies
            ]
            for r in economies
        ])

        new_log_tfp = []
        year_channels = []
        year_growth = []
        year_tfp = []
        year_nqpf = []
        year_nqpf_growth = []
        for k in economies:
            # Diffusion: theta nu (1 + b) Gamma(1-beta) sum_i s^(1-beta) (lam_i/lam_k)^beta, each
            # pair's term split over channels by their parts omega_c x^c_ki of s_ki.
            diffusion = [0.0, 0.0, 0.0]
            for i in economies:
                parts = (w_goods * goods[k][i], w_factors * factors[k][i], w_digital * data[k][i])
                s = sum(parts)
                term = s ** (1.0 - beta) * math.exp(theta * beta * (log_tfp[i] - log_tfp[k]))
                for c in range(3):
                    diffusion[c] += term * parts[c] / s
            rate = diffusion_scale[k] * (
                1.0 + model.software_diffusion_boost * a_s * model.software_enacting[k]
            )
            diffusion = [rate * flow for flow in diffusion]

            # Own research: AR(1) productivity, R(t)/R(0), lam(0)/lam(t) and lumpiness.
            log_productivity[k] = (
                model.research_persistence * log_productivity[k]
                + model.research_volatility * draw.research[t][k]
            )
            own = (
                theta * model.own_rate[k] * (1.0 + model.research_growth[k]) ** t
                * math.exp(log_productivity[k] - theta * (log_tfp[k] - model.log_tfp0[k]))
                * draw.lumpiness[t][k]
            )

            total = own + sum(diffusion)
            knowledge = math.log1p(total) / theta
            shock = model.macro_volatility * draw.macro[t][k]
            share = knowledge / total if total > 0 else 0.0  # 0 where nothing flows
            year_channels.append([own * share, *(flow * share for flow in diffusion), shock])
            year_growth.append(knowledge + shock)
            new_log_tfp.append(log_tfp[k] + knowledge + shock)

            tfp = math.exp(new_log_tfp[k])
            industrial_boost = a_i * model.industrial_enacting[k]
            rd = model.rd0[k] * (1.0 + model.industrial_rd_boost * industrial_boost)
            talent = (
                model.talent0[k] * (1.0 + model.talent_growth) ** (t + 1)
                * (1.0 + model.industrial_talent_boost * industrial_boost)
            )
            nqpf = _nqpf(model, tfp, rd, 1.0 - stri[k], talent)
            year_tfp.append(tfp)
            year_nqpf.append(nqpf)
            year_nqpf_growth.append(math.log(nqpf / nqpf_prev[k]))

        log_tfp = new_log_tfp
        nqpf_prev = year_nqpf
        out["tfp"].append(year_tfp)
        out["tfp_growth"].append(year_growth)
        out["channel_growth"].append(year_channels)
        out["nqpf"].append(year_nqpf)
        out["nqpf_growth"].append(year_nqpf_growth)
        out["import_share"].append([1.0 - goods[k][k] for k in economies])
    return out
