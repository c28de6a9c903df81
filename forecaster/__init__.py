"""NQPF circulation forecaster: a Monte-Carlo model of international circulation and NQPF growth.

The public API: policy mixes and presets, calibration, the building blocks of
the Frechet "best idea" family, the kernel, and running and summarising a
forecast. ``forecaster`` depends on numpy, scipy, xarray and matplotlib only.
"""

from forecaster.backtest import BacktestRequest, run_backtest, track_record
from forecaster.calibration import Calibration, calibration_as_of, calibration_from_dict, load_calibration
from forecaster.dataset import (
    EXACT_MAX_CELLS,
    MODEL_VERSION,
    Forecast,
    forecast,
    run_forecast,
    run_summary,
    to_dataset,
)
from forecaster.errors import (
    CalibrationError,
    CancelledError,
    FieldError,
    ForecasterError,
    PolicyError,
    RequestError,
)
from forecaster.kernel import Paths, simulate
from forecaster.params import (
    CHANNELS,
    DEFAULT_ASSUMPTIONS,
    Assumptions,
    ModelParams,
    Priors,
    build_params,
)
from forecaster.policy import (
    LEVERS,
    PRESETS,
    Fragmentation,
    Lever,
    PolicyMix,
    policy_from_dict,
    preset,
)
from forecaster.report import fan_chart, write_netcdf, write_summary_csv
from forecaster.shocks import Shocks, draw_shocks, neutral_shocks
from forecaster.simulation import (
    Block,
    BlockJob,
    BlockResult,
    Executor,
    ForecastRequest,
    SerialExecutor,
    group_blocks,
    plan_blocks,
    simulate_block,
    simulate_blocks,
)
from forecaster.summary import DEFAULT_QUANTILES, DEFAULT_THRESHOLDS, summarize
from forecaster.theory import (
    acr_real_wage,
    diffusion_term,
    frechet_sample,
    head_ries_trade_cost,
    idea_flow_cdf,
    kortum_growth,
    nqpf_index,
    price_index,
    trade_shares,
)

__all__ = [
    "CHANNELS", "DEFAULT_ASSUMPTIONS", "DEFAULT_QUANTILES", "DEFAULT_THRESHOLDS", "EXACT_MAX_CELLS",
    "LEVERS", "MODEL_VERSION", "PRESETS", "Assumptions", "BacktestRequest", "Block", "BlockJob",
    "BlockResult", "Calibration", "CalibrationError", "CancelledError", "FieldError", "Executor", "Forecast",
    "ForecastRequest", "ForecasterError", "Fragmentation", "Lever", "ModelParams", "Paths",
    "PolicyError", "PolicyMix", "Priors", "RequestError", "SerialExecutor", "Shocks", "acr_real_wage",
    "build_params", "calibration_as_of", "calibration_from_dict", "diffusion_term", "draw_shocks",
    "fan_chart", "forecast", "frechet_sample", "group_blocks", "head_ries_trade_cost", "idea_flow_cdf",
    "kortum_growth", "load_calibration", "neutral_shocks", "nqpf_index", "plan_blocks",
    "policy_from_dict", "preset", "price_index", "run_backtest", "run_forecast", "run_summary",
    "simulate", "simulate_block", "simulate_blocks", "summarize", "to_dataset", "track_record",
    "trade_shares", "write_netcdf", "write_summary_csv",
]
