"""Backtest an earlier model revision on today's data pipeline, scored as today's model is.

Usage: ``.venv/bin/python scripts/backtest_before_after.py REVISION`` (e.g. ``0e6a690``, model 1.0).

The earlier revision is checked out in a temporary ``git worktree`` and run in a subprocess. It
is given, at each origin, the calibration that :func:`forecaster.calibration_as_of` computes now
(Penn World Table data up to the origin), adapted to its own fields: fields it does not know are
dropped, fields it needs and the data do not give are taken from its own shipped calibration, and
trend growth below 0 is set to 0 (model 1.0 refuses negative trends). Its baseline draws of TFP
growth are then scored with :mod:`forecaster.scoring` exactly like :func:`forecaster.run_backtest`'s,
and both track records are printed. Origins before 1990 cannot be run by model 1.0 (its
calibrations start in 1990). Takes about a minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from forecaster import BacktestRequest, calibration_as_of, run_backtest, track_record
from forecaster.backtest import DEFAULT_ORIGINS, LEVELS, by_lead
from forecaster.scoring import crps_ensemble, interval_hit, pit

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the earlier revision's tree: argv = folder with cal-ORIGIN.json, origins, horizon, draws.
RUN_EARLIER = """
import json, sys
from importlib import resources
from pathlib import Path
from forecaster import PRESETS, ForecastRequest, run_forecast
from forecaster.calibration import calibration_from_dict
from forecaster.calibration import FIELDS
folder, origins, horizon, draws = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
shipped = json.loads(resources.files("forecaster").joinpath("data/calibration.json").read_text())["economies"]
for origin in map(int, origins.split(",")):
    data = json.loads((folder / f"cal-{origin}.json").read_text())
    for code, record in data["economies"].items():
        for field in [f for f in record if f not in FIELDS and f not in ("name", "bloc")]:
            record.pop(field)
        for field in FIELDS:
            record.setdefault(field, shipped[code][field])
        record["tfp_growth"]["value"] = max(record["tfp_growth"]["value"], 0.0)
    request = ForecastRequest(policy=PRESETS["baseline"], horizon_years=horizon, n_draws=draws, seed=0,
                              compare_to_baseline=False)
    result = run_forecast(request, calibration_from_dict(data))
    result.tfp_growth.sel(scenario="policy", drop=True).to_netcdf(folder / f"draws-{origin}.nc")
"""


def main(revision: str) -> None:
    """Print the track records of ``revision`` and of the working tree on :data:`DEFAULT_ORIGINS`."""
    request = BacktestRequest(origins=DEFAULT_ORIGINS)
    now = run_backtest(request)
    with tempfile.TemporaryDirectory() as scratch:
        folder, tree = Path(scratch), Path(scratch) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
                       check=True, capture_output=True)
        try:
            for origin in request.origins:
                (folder / f"cal-{origin}.json").write_text(json.dumps(calibration_as_of(origin).to_dict()))
            subprocess.run(
                [sys.executable, "-c", RUN_EARLIER, str(folder), ",".join(map(str, request.origins)),
                 str(request.horizon_years), str(request.n_draws)],
                cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, check=True,
            )
            origins = xr.DataArray(list(request.origins), dims="origin",
                                   coords={"origin": list(request.origins)})
            earlier = xr.concat(
                [by_lead(xr.open_dataarray(folder / f"draws-{o}.nc").load(), o) for o in request.origins],
                dim=origins, join="outer",
            ).reindex(economy=now.economy.values)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    scored = now.crps.notnull()
    before = now.copy()
    before["crps"] = crps_ensemble(earlier, now.realized).where(scored)
    before["pit"] = pit(earlier, now.realized, np.random.default_rng([request.seed, 1])).where(scored)
    for level in LEVELS:
        name = f"in_{round(100 * level)}"
        before[name] = interval_hit(earlier, now.realized, level).where(scored)
    print("| model | 50% coverage | 90% coverage | mean CRPS (pp) | skill vs random walk "
          "| skill vs climatology |")
    print("|---|---|---|---|---|---|")
    for label, scores in ((f"{revision} (earlier)", before), ("working tree", now)):
        r = track_record(scores)
        print(f"| {label} | {r['coverage_50']:.3f} | {r['coverage_90']:.3f} | {100 * r['crps']:.3f} | "
              f"{r['skill_vs_random_walk']:+.3f} | {r['skill_vs_climatology']:+.3f} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "0e6a690")
