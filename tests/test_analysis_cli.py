"""The analyst's commands: attribute, compare and sensitivity, with their files and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from api.cli import main

SMALL = ["--economies", "CHN,USA", "--horizon", "4", "--draws", "200"]


def test_attribute_prints_writes_and_adds_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attribute", "--preset", "high-level-opening", *SMALL, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "Contributions to the TFP level" in printed and "software" in printed
    with xr.open_dataset(tmp_path / "attribution.nc", engine="scipy") as written:
        np.testing.assert_allclose(written.tfp.sum("lever"), written.tfp_total, rtol=1e-9, atol=1e-12)
    assert (tmp_path / "attribution-CHN.png").read_bytes()[:4] == b"\x89PNG"
    assert "tfp_interaction" in (tmp_path / "attribution.csv").read_text()


def test_compare_takes_presets_and_policy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"name": "us-digital",
                                "digital": {"intensity": 0.8, "enacting": ["USA"]}}))
    args = ["compare", "--policy", "baseline", "--policy", str(mine), *SMALL, "--out", str(tmp_path)]
    assert main(args) == 0
    assert "us-digital" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "comparison.nc", engine="scipy") as written:
        assert list(written.policy.values) == ["baseline", "us-digital"]
        np.testing.assert_allclose(written.prob_first.sum("policy"), 1.0)


def test_sensitivity_writes_indices_and_a_tornado_per_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sensitivity", "--groups", "beta,macro,efficacy", *SMALL, "--out", str(tmp_path)]
    assert main(args) == 0
    assert "Total Sobol' indices of the tfp_effect" in capsys.readouterr().out
    with xr.open_dataset(tmp_path / "sensitivity.nc", engine="scipy") as written:
        assert list(written.group.values) == ["beta", "macro", "efficacy"]
    for output in ("tfp", "tfp_effect"):
        assert (tmp_path / f"tornado-{output}-CHN.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "--policy", "digital"], "error: policies: must be 2 to 6 policies, got 1"),
        (["compare", "--policy", "digital", "--policy", "digital"], "policies: must have distinct names"),
        (["attribute", "--preset", "baseline"], "error: policy: sets no lever above intensity 0"),
        (["attribute", "--levers", "digital,tariffs"], "error: levers: must be distinct names among"),
        (["sensitivity", "--groups", "weather"], "error: groups: must be distinct names among"),
        (["attribute", "--draws", "0"], "error: draws: must be in [1, 1000000], got 0"),
    ],
)
def test_bad_analyses_exit_2_naming_the_field_before_running(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
