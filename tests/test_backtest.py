"""The backtest: forecasts from past origins scored against Penn World Table data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from api.cli import main
from cluster import RayExecutor
from forecaster import Executor, RequestError
from forecaster.backtest import DEFAULT_ORIGINS, BacktestRequest, run_backtest, track_record
from forecaster.history import economy_history, load_pwt

SMALL = BacktestRequest(origins=(1995, 2005), horizon_years=5, n_draws=200, seed=4, block_size=50)


@pytest.fixture(scope="module")
def small() -> xr.Dataset:
    return run_backtest(SMALL)


def test_scores_are_what_they_say(small: xr.Dataset) -> None:
    assert dict(small.sizes) == {"origin": 2, "economy": 12, "lead": 5, "benchmark": 2}
    realized = economy_history(load_pwt()).tfp_growth
    for origin in SMALL.origins:
        expected = realized.sel(economy=small.economy, year=list(range(origin + 1, origin + 6)))
        np.testing.assert_array_equal(small.realized.sel(origin=origin), expected.values)
    scored = small.crps.notnull()
    assert int(scored.sum()) == (11 + 12) * 5  # RUS: no TFP data up to 1995
    assert small.crps.sel(origin=1995, economy="RUS").isnull().all()
    assert ((small.pit >= 0) & (small.pit <= 1)).where(scored, True).all()
    assert (small.in_90 >= small.in_50).where(scored, True).all()  # the 50% interval lies inside the 90%
    inside = (small.p05 <= small.realized) & (small.realized <= small.p95)
    assert (inside == (small.in_90 == 1)).where(scored, True).mean() > 0.95  # 5-95% vs the 90% interval
    assert small.benchmark_crps.notnull().where(scored, True).all()


def test_same_request_same_scores_on_any_executor(small: xr.Dataset, shuffled_executor: Executor) -> None:
    xr.testing.assert_identical(run_backtest(SMALL, shuffled_executor), small)


def test_ray_gives_the_same_backtest(small: xr.Dataset, ray_cluster: None) -> None:
    xr.testing.assert_identical(run_backtest(SMALL, RayExecutor()), small)


def test_forecasts_do_not_look_ahead(small: xr.Dataset) -> None:
    """Data after an origin change what is realized, never what was forecast from it."""
    pwt = load_pwt()
    later = pwt.copy(deep=True)
    later["rtfpna"] = later.rtfpna.where(later.year <= 1995, later.rtfpna * 1.5)
    changed = run_backtest(SMALL, pwt=later)
    first = {"origin": 1995}
    for name in ("p05", "p50", "p95"):
        xr.testing.assert_identical(changed[name].sel(first), small[name].sel(first))
    assert not changed.realized.sel(first).equals(small.realized.sel(first))


def test_track_record_meets_its_coverage_goal_and_beats_the_naive_benchmarks() -> None:
    """The model's fan charts against history (docs/validation.md): 90% coverage in [0.85, 0.95], CRPS
    no worse than a random walk with drift (skill > -1%) and better than climatology. 2,000 draws: the
    Monte-Carlo error of the pooled CRPS is about 0.1% of it. The 50% intervals cover 0.59 of the
    realized values, above the goal of [0.43, 0.57]: a documented miss, not tested."""
    request = BacktestRequest(origins=DEFAULT_ORIGINS, horizon_years=10, n_draws=2000)
    record = track_record(run_backtest(request))
    assert record["cells"] == 460  # RUS has no TFP data before the origins 1990 and 1995
    assert 0.85 <= record["coverage_90"] <= 0.95
    assert record["skill_vs_random_walk"] > -0.01
    assert record["skill_vs_climatology"] > 0


def test_cli_backtest_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bt"
    code = main(["backtest", "--origins", "1995,2005", "--horizon", "5", "--draws", "200", "--seed", "4",
                 "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "coverage of the 50% intervals" in printed and "random_walk" in printed
    with (out / "scores.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["origin", "economy", "year", "realized", "crps", "pit", "in_50", "in_90"]
    assert len(rows) == (11 + 12) * 5 and rows[0]["economy"] == "CHN" and rows[0]["year"] == "1996"
    with (out / "benchmarks.csv").open() as f:
        benchmarks = list(csv.DictReader(f))
    assert list(benchmarks[0]) == ["benchmark", "origin", "economy", "year", "crps"]
    assert {row["benchmark"] for row in benchmarks} == {"random_walk", "climatology"}
    record = json.loads((out / "track_record.json").read_text())
    assert record["cells"] == 115 and 0 <= record["coverage_90"] <= 1
    for picture in ("pit.png", "coverage.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--origins", "1900"], "origins: must be 1 to 20 distinct years in [1965, 2016]"),
        (["--origins", "2010", "--horizon", "10"], "horizon_years: must be in [1, 2017 - the latest origin]"),
        (["--origins", "1990,x"], "--origins: must be comma-separated years"),
        (["--draws", "1"], "n_draws: must be in [2, 20000]"),
    ],
)
def test_bad_backtest_requests_are_refused_naming_the_field(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", *argv, "--out", str(tmp_path)]) == 2
    assert words in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing ran, nothing written


def test_request_errors_name_the_field() -> None:
    with pytest.raises(RequestError, match="origins"):
        BacktestRequest(origins=(1995, 1995))
