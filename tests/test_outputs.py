"""The labelled dataset, summaries, files, and the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from api.cli import main
from forecaster import (
    MODEL_VERSION,
    PRESETS,
    Calibration,
    ForecastRequest,
    fan_chart,
    run_forecast,
    summarize,
    write_netcdf,
)
from forecaster.plan import build_inputs, plan_blocks
from forecaster.report import write_summary_csv
from forecaster.request import DEFAULT_QUANTILES
from forecaster.shocks import draw_shocks

REQUEST = ForecastRequest(
    policy=PRESETS["high-level-opening"], horizon_years=6, n_draws=400, seed=3, block_size=100
)


@pytest.fixture(scope="module")
def forecast(calibration: Calibration) -> xr.Dataset:
    return run_forecast(REQUEST, calibration)


def test_dataset_dims_coords_and_attrs(forecast: xr.Dataset, calibration: Calibration) -> None:
    assert dict(forecast.sizes) == {"scenario": 2, "draw": 400, "year": 6, "economy": 12, "channel": 6,
                                   "lever": 4}
    assert forecast.channel_growth.dims == ("scenario", "draw", "year", "economy", "channel")
    assert list(forecast.year.values) == list(range(calibration.base_year + 1, calibration.base_year + 7))
    attrs = forecast.attrs
    assert attrs["seed"] == "3" and attrs["block_size"] == 100 and attrs["model_version"] == MODEL_VERSION
    assert attrs["calibration_sha256"] == calibration.digest
    assert attrs["numpy_version"] == np.__version__ and attrs["package_version"]
    assert json.loads(attrs["policy"])["name"] == "high-level-opening"


def test_every_draw_keeps_what_it_drew_so_outcomes_can_be_sliced_by_it(
    forecast: xr.Dataset, calibration: Calibration
) -> None:
    first = plan_blocks(REQUEST.n_draws, REQUEST.seed, REQUEST.block_size)[0]
    inputs = build_inputs(REQUEST, calibration)
    drawn = draw_shocks(np.random.default_rng(first.seed), inputs.policy, first.size)
    for name, values in (("theta", drawn.theta), ("beta", drawn.beta), ("efficacy", drawn.efficacy),
                         ("fragmentation_jump", drawn.fragmentation)):
        np.testing.assert_array_equal(forecast[name].isel(draw=slice(0, first.size)), values, name)
        assert forecast[name].attrs["kind"] == "drawn"
    # Sliced by beta, China's gain from opening moves strongly with it: beta drives most of the
    # gain's spread (forecaster.sensitivity), and the gain is smaller in draws with a larger beta:
    # the levers raise sourcing shares s, which enter learning from abroad as s ** (1 - beta).
    last = forecast.isel(year=-1).sel(economy="CHN")
    gain = last.tfp.sel(scenario="policy") - last.tfp.sel(scenario="baseline")
    assert float(xr.corr(gain, forecast.beta)) < -0.5
    high = gain.where(forecast.beta > forecast.beta.median(), drop=True)
    low = gain.where(forecast.beta <= forecast.beta.median(), drop=True)
    assert float(low.mean() - high.mean()) > 4 * float(np.hypot(high.std() / np.sqrt(high.size),
                                                                low.std() / np.sqrt(low.size)))


def test_summary_statistics(forecast: xr.Dataset) -> None:
    summary = summarize(forecast)
    assert list(summary["quantile"].values) == list(DEFAULT_QUANTILES)
    growth = forecast.tfp_growth.sel(scenario="policy")
    np.testing.assert_allclose(summary.tfp_growth_mean, growth.mean("draw"))
    np.testing.assert_allclose(summary.tfp_growth_mcse, growth.std("draw", ddof=1) / math.sqrt(400))
    p = summary.tfp_growth_prob_above.sel(threshold=0.01)
    np.testing.assert_allclose(p, (growth > 0.01).mean("draw"))
    np.testing.assert_allclose(
        summary.tfp_growth_prob_above_mcse.sel(threshold=0.01), np.sqrt(p * (1 - p) / 400)
    )
    diff = forecast.tfp.sel(scenario="policy") - forecast.tfp.sel(scenario="baseline")
    np.testing.assert_allclose(summary.diff_tfp_mean, diff.mean("draw"))
    np.testing.assert_allclose(summary.prob_beats_baseline, (diff > 0).mean("draw"))
    np.testing.assert_allclose(
        summary.channel_growth_mean.sum("channel"), summary.tfp_growth_mean, atol=1e-12
    )


def test_common_random_numbers_make_the_difference_less_noisy(forecast: xr.Dataset) -> None:
    """Same shocks in both scenarios: the difference's spread is far below either's."""
    policy, baseline = (forecast.tfp.sel(scenario=s).isel(year=-1) for s in ("policy", "baseline"))
    assert ((policy - baseline).std("draw") < 0.5 * baseline.std("draw")).all()


def test_files_round_trip(forecast: xr.Dataset, tmp_path: Path) -> None:
    path = write_netcdf(forecast, tmp_path / "draws.nc")
    with xr.open_dataset(path, engine="scipy") as back:
        np.testing.assert_allclose(back.nqpf, forecast.nqpf, rtol=1e-6)
        assert back.attrs["calibration_sha256"] == forecast.attrs["calibration_sha256"]
    csv = write_summary_csv(summarize(forecast), tmp_path / "summary.csv")
    table = pd.read_csv(csv)
    assert {"variable", "value", "economy", "year"} <= set(table.columns)
    assert "prob_beats_baseline" in set(table.variable)
    png = fan_chart(summarize(forecast), "CHN", tmp_path / "fan.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_summary_netcdf_is_lossless_and_gives_the_same_csv(forecast: xr.Dataset, tmp_path: Path) -> None:
    """The service writes summary.nc at once and the CSV from it later: they must agree exactly."""
    summary = summarize(forecast)
    with xr.open_dataset(write_netcdf(summary, tmp_path / "summary.nc"), engine="scipy") as back:
        xr.testing.assert_equal(back.load(), summary)  # double precision on disk: bit for bit
        assert all(back[name].dtype == np.float64 for name in back.data_vars)
        assert write_summary_csv(back, tmp_path / "from-disk.csv").read_bytes() == \
            write_summary_csv(summary, tmp_path / "in-memory.csv").read_bytes()
    with xr.open_dataset(write_netcdf(forecast, tmp_path / "draws.nc"), engine="scipy") as draws:
        assert draws.nqpf.dtype == np.float32  # draws in single precision (documented)


def test_cli_forecast_writes_table_chart_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "forecast",
            "--preset",
            "digital",
            "--draws",
            "200",
            "--horizon",
            "5",
            "--economies",
            "CHN,USA,EU",
            "--netcdf",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "CHN" in out and "P(beats)" in out
    assert {p.name for p in tmp_path.iterdir()} == {"summary.csv", "fanchart-CHN.png", "draws.nc"}


def test_cli_reports_invalid_input_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text(json.dumps({"digital": {"intensity": 3}}))
    assert main(["forecast", "--policy", str(bad), "--out", str(tmp_path)]) == 2
    assert "policy.digital.intensity: must be in [0.0, 1.0], got 3" in capsys.readouterr().err
    assert main(["forecast", "--draws", "0", "--out", str(tmp_path)]) == 2
    assert "error: draws: must be in [1, 1000000], got 0" in capsys.readouterr().err  # as in a batch file
