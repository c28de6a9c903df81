"""Batch jobs (forecasts and analyses): whole-file validation, outputs, verified resume, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from api.batch import BatchFileError, load_batch
from api.cli import main
from forecaster import MODEL_VERSION, Calibration

GOOD = """
defaults: {draws: 120, horizon_years: 4, seed: 3}
scenarios:
  - name: opening
    policy: high-level-opening
  - name: asean-digital
    policy: {digital: {intensity: 0.8, enacting: [ASEAN]}}
    economies: [CHN, USA, ASEAN]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text)
    return path


def test_bad_scenarios_refuse_the_whole_file_naming_scenario_and_field(
    tmp_path: Path, calibration: Calibration
) -> None:
    text = GOOD + (
        "  - {name: broken, policy: {digital: {intensity: 2}}}\n"
        "  - {name: too-big, draws: 5000000}\n"
        "  - {name: opening}\n"
        "  - {name: mars, economies: [CHN, MARS]}\n"
        "  - {name: late, policy: {hardware: {intensity: 1, start_year: 2090}}}\n"
    )
    with pytest.raises(BatchFileError) as error:
        load_batch(_write(tmp_path, text), calibration)
    problems = error.value.problems
    assert problems[:3] == [
        "scenarios[2] (broken).policy.digital.intensity: must be in [0.0, 1.0], got 2.0",
        "scenarios[3] (too-big).draws: must be in [1, 1000000], got 5000000",
        "scenarios[4] (opening).name: used by an earlier scenario",
    ]
    assert problems[3].startswith("scenarios[5] (mars).economies: unknown economies ['MARS']")
    assert problems[4].startswith("scenarios[6] (late).policy.hardware.start_year: must be at most 2027")


def test_cli_refuses_bad_file_with_exit_2_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, GOOD + "  - {name: x, seed: -4}\n")
    out = tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out)]) == 2
    assert "scenarios[2] (x).seed" in capsys.readouterr().err
    assert not out.exists()


def test_batch_writes_outputs_and_resumes_verified(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = _write(tmp_path, GOOD), tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"opening.nc", "opening.done.json", "asean-digital.nc", "summary.csv"} <= names
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.scenario) == {"opening", "asean-digital"}
    assert len(summary) == 12 + 3
    with xr.open_dataset(out / "asean-digital.nc", engine="scipy") as ds:
        assert list(ds.economy.values) == ["CHN", "USA", "ASEAN"]

    # A rerun skips both (outputs untouched); a tampered file is detected and redone.
    stamp = (out / "opening.nc").stat().st_mtime_ns
    (out / "asean-digital.nc").write_bytes(b"truncated")
    capsys.readouterr()
    assert main(["batch", str(path), "--out", str(out)]) == 0
    assert (out / "opening.nc").stat().st_mtime_ns == stamp
    err = capsys.readouterr().err
    assert "scenario opening: outputs verified, not run again" in err and "asean-digital: outputs" not in err
    manifest = json.loads((out / "asean-digital.done.json").read_text())
    with xr.open_dataset(out / "asean-digital.nc", engine="scipy") as ds:
        assert ds.sizes["draw"] == 120
    assert manifest["netcdf_sha256"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "summary.csv"), summary)


@pytest.mark.parametrize(("defaults", "problem"), [
    ("seed: 3, colour: red", "defaults.colour: unknown field"),
    ("seed: 3.5", "defaults.seed: Input should be a valid integer, got 3.5"),
])
def test_a_bad_default_is_named_once(
    tmp_path: Path, calibration: Calibration, defaults: str, problem: str
) -> None:
    with pytest.raises(BatchFileError) as error:
        load_batch(_write(tmp_path, GOOD.replace("seed: 3", defaults)), calibration)
    assert len(error.value.problems) == 1 and error.value.problems[0].startswith(problem)


def test_a_scenario_failing_as_it_runs_is_named_and_the_others_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = _write(tmp_path, GOOD), tmp_path / "out"
    (out / "opening.nc").mkdir(parents=True)  # its netCDF cannot be written there
    assert main(["batch", str(path), "--out", str(out)]) == 3
    err = capsys.readouterr().err
    assert "scenario opening failed: IsADirectoryError" in err and "asean-digital failed" not in err
    assert "Traceback" not in err  # an error the batch foresees is named, not dumped
    assert set(pd.read_csv(out / "summary.csv").scenario) == {"asean-digital"}
    assert not list(out.glob(".*.partial"))  # nothing half-written is left
    (out / "opening.nc").rmdir()
    assert main(["batch", str(path), "--out", str(out)]) == 0  # the rerun does the failed one only
    assert set(pd.read_csv(out / "summary.csv").scenario) == {"opening", "asean-digital"}


def test_outputs_of_another_model_version_are_redone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = _write(tmp_path, GOOD), tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out)]) == 0
    manifest = out / "opening.done.json"
    manifest.write_text(manifest.read_text().replace(f'"{MODEL_VERSION}"', '"0.0.0-older"'))
    stamp = (out / "opening.nc").stat().st_mtime_ns
    assert main(["batch", str(path), "--out", str(out)]) == 0
    assert (out / "opening.nc").stat().st_mtime_ns != stamp
    assert json.loads(manifest.read_text())["model_version"] == MODEL_VERSION


ANALYSES = """
defaults: {draws: 150, horizon_years: 4, seed: 3, economies: [CHN, USA], thresholds: [0.01]}
scenarios:
  - name: levers
    analysis: attribution
    policy: high-level-opening
  - name: versus
    analysis: comparison
    policies: [baseline, digital, {name: mine, software: {intensity: 0.5}}]
  - name: drivers
    analysis: sensitivity
    policy: digital
    groups: [beta, macro]
  - name: plain
    policy: digital
"""


def test_a_batch_runs_analyses_beside_forecasts_and_resumes_them(
    tmp_path: Path, calibration: Calibration, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, ANALYSES)
    scenarios = load_batch(path, calibration)
    assert [s.spec.kind for s in scenarios] == ["attribution", "comparison", "sensitivity", "forecast"]
    out = tmp_path / "out"
    assert main(["batch", str(path), "--out", str(out)]) == 0
    with xr.open_dataset(out / "levers.nc", engine="scipy") as levers:
        assert list(levers.lever.values) == ["hardware", "software", "digital", "industrial"]
    with xr.open_dataset(out / "versus.nc", engine="scipy") as versus:
        assert list(versus.policy.values) == ["baseline", "digital", "mine"]
    with xr.open_dataset(out / "drivers.nc", engine="scipy") as drivers:
        assert list(drivers.group.values) == ["beta", "macro"]
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary.scenario) == {"plain"}  # headline rows are a forecast's
    manifest = json.loads((out / "versus.done.json").read_text())
    assert json.loads(manifest["request"])["kind"] == "comparison"
    capsys.readouterr()
    assert main(["batch", str(path), "--out", str(out)]) == 0
    assert capsys.readouterr().err.count("outputs verified, not run again") == 4


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("{name: a, analysis: forecasting}", "scenarios[0] (a).analysis: must be one of ['attribution'"),
        ("{name: a, analysis: comparison, policies: [digital]}", "scenarios[0] (a).policies: must be 2 to 6"),
        ("{name: a, analysis: attribution, policy: baseline}", "scenarios[0] (a).policy: sets no lever"),
        ("{name: a, analysis: sensitivity, groups: [rain]}", "scenarios[0] (a).groups: must be distinct"),
        ("{name: a, analysis: attribution, quantiles: [0.5]}", "scenarios[0] (a).quantiles: unknown field"),
    ],
)
def test_a_bad_analysis_in_a_batch_is_named_and_nothing_runs(
    scenario: str, words: str, tmp_path: Path, calibration: Calibration
) -> None:
    path = _write(tmp_path, f"scenarios:\n  - {scenario}\n")
    with pytest.raises(BatchFileError) as error:
        load_batch(path, calibration)
    assert any(problem.startswith(words) for problem in error.value.problems), error.value.problems
