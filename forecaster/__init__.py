"""NQPF circulation forecaster: a Monte-Carlo model of international circulation and NQPF growth.

A forecast runs through the package's modules in this order: a
:mod:`~forecaster.request` (policy mix, economies, horizon, draws, seed) ->
its :mod:`~forecaster.plan` (parameters, blocks of draws with a seed each,
tasks) -> the :mod:`~forecaster.engine` (executors, :func:`forecast`) ->
:mod:`~forecaster.outcomes` (labelled draws) -> :mod:`~forecaster.summaries`
(or :mod:`~forecaster.sketch` for runs too large to keep every draw). Several
mixes on the same draws answer the next questions: which lever brings the gain
(:func:`attribute`, :mod:`~forecaster.attribution`) and which mix is better
(:func:`compare`, :mod:`~forecaster.comparison`). The
model itself is in :mod:`~forecaster.params` (parameters built from the
:mod:`~forecaster.calibration` and the :mod:`~forecaster.policy`),
:mod:`~forecaster.shocks` and :mod:`~forecaster.kernel`; its closed-form
building blocks in :mod:`~forecaster.theory`. ``forecaster`` depends on numpy,
scipy, xarray and matplotlib only.
"""

from forecaster.attribution import attribute
from forecaster.backtest import BacktestRequest, run_backtest, track_record
from forecaster.calibration import Calibration, calibration_as_of, load_calibration
from forecaster.comparison import compare
from forecaster.engine import Executor, Forecast, SerialExecutor, forecast, run_forecast, run_summary
from forecaster.errors import (
    CalibrationError,
    CancelledError,
    FieldError,
    ForecasterError,
    PolicyError,
    RequestError,
)
from forecaster.outcomes import MODEL_VERSION
from forecaster.policy import LEVERS, PRESETS, PolicyMix, policy_from_dict
from forecaster.report import fan_chart, write_netcdf
from forecaster.request import ForecastRequest
from forecaster.summaries import headline_table, summarize

__all__ = [
    "LEVERS", "MODEL_VERSION", "PRESETS", "BacktestRequest", "Calibration", "CalibrationError",
    "CancelledError", "Executor", "FieldError", "Forecast", "ForecastRequest", "ForecasterError",
    "PolicyError", "PolicyMix", "RequestError", "SerialExecutor", "attribute", "calibration_as_of",
    "compare", "fan_chart", "forecast", "headline_table", "load_calibration", "policy_from_dict",
    "run_backtest", "run_forecast", "run_summary", "summarize", "track_record", "write_netcdf"
]
