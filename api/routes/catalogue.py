"""The catalogue of inputs and the model's record: presets, levers, economies, track record (``/v1``)."""

from __future__ import annotations

import functools
from typing import Any

from api.deps import CalibrationDep, v1_router
from forecaster import LEVERS, MODEL_VERSION, PRESETS, BacktestRequest, run_backtest, track_record
from forecaster.policy import LEVER_DESCRIPTIONS, MAX_PHASE_IN_YEARS, PRESET_DESCRIPTIONS, YEAR_RANGE

router = v1_router(tags=["catalogue"])


@router.get("/presets")
def presets() -> dict[str, Any]:
    """Named policy mixes: description and levers."""
    return {name: {"description": PRESET_DESCRIPTIONS[name], "policy": mix.to_dict()}
            for name, mix in PRESETS.items()}


@router.get("/levers")
def levers() -> dict[str, Any]:
    """Describe each lever: what it does and the range of each field."""
    ranges = {"intensity": [0, 1], "start_year": list(YEAR_RANGE), "phase_in_years": [0, MAX_PHASE_IN_YEARS]}
    return {name: {"description": LEVER_DESCRIPTIONS[name], "ranges": ranges} for name in LEVERS}


@router.get("/economies")
def economies(calibration: CalibrationDep) -> dict[str, Any]:
    """List the calibration: every economy's data, each number with its source and year."""
    return {
        "name": calibration.name, "version": calibration.version, "base_year": calibration.base_year,
        "sha256": calibration.digest,
        "economies": {code: {"name": name, "bloc": bloc, "data": calibration.sources[code]}
                      for code, name, bloc in zip(calibration.economies, calibration.names,
                                                  calibration.blocs, strict=True)},
    }


@router.get("/track-record")
def history() -> dict[str, Any]:
    """How the model's fan charts did against history (docs/validation.md): pooled coverage and skill."""
    return model_track_record()


@functools.cache
def model_track_record() -> dict[str, Any]:
    """Compute the default backtest's headline (about a second; once per process).

    Baseline TFP growth forecast from the origins 1990, 1995, 2000 and 2005 with the data up to
    each, 10 years ahead, 2,000 draws, scored against Penn World Table 9.1.
    """
    request = BacktestRequest()
    record = track_record(run_backtest(request))
    best = min(("random_walk", "climatology"), key=lambda kind: record[f"crps_{kind}"])
    return {
        **record,
        "best_benchmark": best,
        "skill_vs_best": record[f"skill_vs_{best}"],
        "origins": list(request.origins),
        "horizon_years": request.horizon_years,
        "n_draws": request.n_draws,
        "model_version": MODEL_VERSION,
    }
