"""Hypothesis properties: any valid policy gives finite, ordered, correctly signed results;
any valid request round-trips through its public form."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from api.schema import parse_request, request_to_dict
from forecaster import (
    LEVERS,
    PRESETS,
    Calibration,
    ForecastRequest,
    PolicyMix,
    load_calibration,
    run_forecast,
    summarize,
)
from forecaster.kernel import simulate
from forecaster.params import build_params
from forecaster.policy import Fragmentation, Lever
from forecaster.shocks import draw_shocks

CALIBRATION: Calibration = load_calibration()
CODES = CALIBRATION.economies
HORIZON = 6
YEARS = st.integers(CALIBRATION.base_year - 5, CALIBRATION.base_year + HORIZON)

levers = st.builds(
    Lever,
    intensity=st.floats(0, 1),
    start_year=YEARS,
    phase_in_years=st.integers(0, 10),
    enacting=st.lists(st.sampled_from(CODES), unique=True, max_size=4).map(tuple),
    partners=st.lists(st.sampled_from(CODES), unique=True, max_size=4).map(tuple),
)
policies = st.builds(
    PolicyMix,
    hardware=levers,
    software=levers,
    digital=levers,
    industrial=levers,
    fragmentation=st.builds(
        Fragmentation, intensity=st.floats(0, 1), start_year=YEARS, phase_in_years=st.integers(0, 10)
    ),
)


@settings(max_examples=30, deadline=None)
@given(policy=policies, seed=st.integers(0, 2**32))
def test_any_valid_policy_gives_finite_outputs_and_ordered_quantiles(policy: PolicyMix, seed: int) -> None:
    request = ForecastRequest(policy=policy, horizon_years=HORIZON, n_draws=24, seed=seed, block_size=10)
    ds = run_forecast(request, CALIBRATION)
    for name in ds.data_vars:
        assert np.isfinite(ds[name].values).all(), name
    summary = summarize(ds)
    for name in ("tfp_quantile", "tfp_growth_quantile", "real_income_quantile", "diff_tfp_quantile"):
        assert (summary[name].diff("quantile") >= 0).all(), name
    assert ((summary.prob_beats_baseline >= 0) & (summary.prob_beats_baseline <= 1)).all()


@settings(max_examples=20, deadline=None)
@given(
    lever_name=st.sampled_from(LEVERS),
    intensity=st.floats(0.05, 1),
    phase_in=st.integers(0, 5),
    enacting=st.sampled_from(CODES),
    seed=st.integers(0, 2**32),
)
def test_each_lever_direct_effect_has_its_documented_sign(
    lever_name: str, intensity: float, phase_in: int, enacting: str, seed: int
) -> None:
    """Hardware, software and digital raise the enactor's import share; every lever its real income."""
    lever = Lever(
        intensity=intensity,
        start_year=CALIBRATION.base_year + 1,
        phase_in_years=phase_in,
        enacting=(enacting,),
    )
    params = build_params(CALIBRATION, PolicyMix(**{lever_name: lever}), horizon_years=HORIZON)
    base = build_params(CALIBRATION, PRESETS["baseline"], horizon_years=HORIZON)
    shocks = draw_shocks(np.random.default_rng(seed), params, 8)
    policy_paths, base_paths = simulate(params, shocks), simulate(base, shocks)
    n = params.economies.index(enacting)
    assert np.all(policy_paths.real_income[:, -1, n] > base_paths.real_income[:, -1, n])
    if lever_name != "industrial":
        assert np.all(policy_paths.import_share[:, -1, n] > base_paths.import_share[:, -1, n])


@settings(max_examples=50, deadline=None)
@given(
    policy=policies,
    economies=st.lists(st.sampled_from(CODES), unique=True, max_size=5).map(tuple),
    horizon_years=st.integers(1, 100),
    n_draws=st.integers(1, 1_000_000),
    seed=st.integers(0, 2**63 - 1),
    compare_to_baseline=st.booleans(),
    quantiles=st.lists(st.floats(0.001, 0.999), min_size=1, max_size=5).map(tuple),
    thresholds=st.lists(st.floats(-1, 1), min_size=1, max_size=5).map(tuple),
)
def test_a_request_round_trips_through_its_public_form(**fields: object) -> None:
    """What ``GET /v1/forecasts/{id}`` shows as ``request`` can be posted again: same request, same job."""
    request = ForecastRequest(**fields)  # type: ignore[arg-type]
    assert parse_request(json.loads(json.dumps(request_to_dict(request)))) == request
