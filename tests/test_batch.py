"""Batch forecast jobs: whole-file validation, outputs, verified resume, exit codes."""

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
