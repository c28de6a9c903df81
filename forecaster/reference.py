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
    tfp_growth: list[float]
    knowledge_growth: list[float]
    research_growth: list[float]
    foreign_share: list[float]
    domestic_share: list[float]
    ramps: Matrix
    cost_effects: list[Matrix]
    industrial_links: Matrix
    digital_pairs: Matrix
    digital_gap: list[float]
    stri0: list[float]
    software_enacting: list[float]
    nqpf_base: float
    nqpf_weights: list[float]
    hardware_trade_factor: float
    software_cut_ln2: float
    software_diffusion_boost: float
    fragmentation_stri_rise: float
    research_persistence: float
    research_volatility: float
    tfp_volatility: list[float]

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
            tfp_growth=params.tfp_growth.tolist(),
            knowledge_growth=params.knowledge_growth.tolist(),
            research_growth=params.research_growth.tolist(),
            foreign_share=params.foreign_share.tolist(),
            domestic_share=params.domestic_share.tolist(),
            ramps=params.ramps.tolist(),
            cost_effects=params.cost_effects.tolist(),
            industrial_links=params.industrial_links.tolist(),
            digital_pairs=params.digital_pairs.tolist(),
            digital_gap=params.digital_gap.tolist(),
            stri0=params.digital_stri0.tolist(),
            software_enacting=params.software_enacting.tolist(),
            nqpf_base=params.nqpf_base,
            nqpf_weights=params.nqpf_weights.tolist(),
            hardware_trade_factor=a.hardware_trade_factor,
            software_cut_ln2=a.software_cut_ln2,
            software_diffusion_boost=a.software_diffusion_boost,
            fragmentation_stri_rise=a.fragmentation_stri_rise,
            research_persistence=a.priors.research_persistence,
            research_volatility=a.priors.research_volatility,
            tfp_volatility=params.tfp_volatility.tolist(),
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


def _rates(model: _Model, theta: float, beta: float) -> list[tuple[float, float, float]]:
    """Per economy: rates of own research, home learning and learning from abroad at this draw.

    In the base year (base-year sourcing weights, neutral shocks) knowledge grows by
    K = exp(theta k) - 1, a share F of it from abroad, psi from home and the rest from research.
    """
    rates = []
    for k in range(model.n):
        sourcing = [
            sum(w * x[k][i] for w, x in zip(model.omega, (model.goods0, model.factors0, model.digital0),
                                              strict=True))
            for i in range(model.n)
        ]
        total = math.exp(theta * model.knowledge_growth[k]) - 1.0
        abroad = sum(
            sourcing[i] ** (1.0 - beta) * math.exp(theta * beta * (model.log_tfp0[i] - model.log_tfp0[k]))
            for i in range(model.n) if i != k
        )
        foreign, home = model.foreign_share[k], model.domestic_share[k]
        rates.append((
            (1.0 - foreign - home) * total,
            home * total / sourcing[k] ** (1.0 - beta),
            foreign * total / abroad,
        ))
    return rates


def _simulate_draw(model: _Model, draw: _Draw) -> dict[str, list[Any]]:
    """Paths of one draw: for each :class:`Paths` field, a list over years of lists over economies."""
    n = model.n
    economies = range(n)
    theta, beta = draw.theta, draw.beta
    fta = math.log(2.0) / theta  # log trade-cost change that doubles pi_ni / pi_nn
    w_goods, w_factors, w_digital = model.omega
    rates = _rates(model, theta, beta)
    w_tfp, w_welfare = model.nqpf_weights

    log_tfp = list(model.log_tfp0)
    log_productivity = [0.0] * n
    jumps = 0.0
    nqpf_prev = [math.exp(model.log_tfp0[k]) / model.nqpf_base * (w_tfp + w_welfare) for k in economies]
    out: dict[str, list[Any]] = {name: [] for name in Paths.__dataclass_fields__}

    for t in range(model.n_years):
        # Lever activity: intensity x phase-in x efficacy; fragmentation has no efficacy.
        a_h, a_s, a_d, a_i = (r * e for r, e in zip(model.ramps[t][:4], draw.efficacy, strict=True))
        a_f = model.ramps[t][4]
        jumps += draw.fragmentation[t]

        # Goods: ln d_ni = sum_k c_k C^(k)_ni; pi_ni proportional to pi0_ni d_ni^-theta.
        coefficients = (
            -math.log(model.hardware_trade_factor) / theta * a_h,
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
        year: dict[str, list[Any]] = {name: [] for name in Paths.__dataclass_fields__}
        for k in economies:
            research_rate, home_rate, abroad_rate = rates[k]
            # Learning at home: nu^H s_kk^(1-beta). From abroad: nu^F (1 + b) sum_{i != k}
            # s^(1-beta) (lam_i/lam_k)^beta, each pair's term split over channels by their parts
            # omega_c x^c_ki of s_ki.
            home_share = w_goods * goods[k][k] + w_factors * factors[k][k] + w_digital * data[k][k]
            home = home_rate * home_share ** (1.0 - beta)
            abroad = [0.0, 0.0, 0.0]
            for i in economies:
                if i == k:
                    continue
                parts = (w_goods * goods[k][i], w_factors * factors[k][i], w_digital * data[k][i])
                s = sum(parts)
                term = s ** (1.0 - beta) * math.exp(theta * beta * (log_tfp[i] - log_tfp[k]))
                for c in range(3):
                    abroad[c] += term * parts[c] / s
            boost = 1.0 + model.software_diffusion_boost * a_s * model.software_enacting[k]
            abroad = [abroad_rate * boost * flow for flow in abroad]

            # Own research: AR(1) productivity, R(t)/R(0), lam(0)/lam(t) and lumpiness.
            log_productivity[k] = (
                model.research_persistence * log_productivity[k]
                + model.research_volatility * draw.research[t][k]
            )
            own = (
                research_rate * (1.0 + model.research_growth[k]) ** t
                * math.exp(log_productivity[k] - theta * (log_tfp[k] - model.log_tfp0[k]))
                * draw.lumpiness[t][k]
            )

            total = own + home + sum(abroad)
            knowledge = math.log1p(total) / theta
            drift = model.tfp_growth[k] - model.knowledge_growth[k]
            residual = drift + model.tfp_volatility[k] * draw.macro[t][k]
            share = knowledge / total if total > 0 else 0.0  # 0 where nothing flows
            new_log_tfp.append(log_tfp[k] + knowledge + residual)

            log_tfp_change = new_log_tfp[k] - model.log_tfp0[k]
            static = -(math.log(goods[k][k]) - math.log(model.goods0[k][k])) / theta
            nqpf = (
                math.exp(new_log_tfp[k]) / model.nqpf_base * (w_tfp + w_welfare * math.exp(static))
            )
            year["tfp"].append(math.exp(log_tfp_change))
            year["tfp_growth"].append(knowledge + residual)
            year["channel_growth"].append(
                [own * share, home * share, *(flow * share for flow in abroad), residual]
            )
            year["static_gain"].append(static)
            year["real_income"].append(log_tfp_change + static)
            year["nqpf"].append(nqpf)
            year["nqpf_growth"].append(math.log(nqpf / nqpf_prev[k]))
            year["import_share"].append(1.0 - goods[k][k])
            year["digital_openness"].append(1.0 - stri[k])
            year["foreign_factor_share"].append(1.0 - factors[k][k])

        log_tfp = new_log_tfp
        nqpf_prev = year["nqpf"]
        for name, values in year.items():
            out[name].append(values)
    return out
