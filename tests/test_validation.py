"""Bad policies, calibrations and requests give errors that name the field and the limit."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from forecaster import (
    PRESETS,
    Calibration,
    CalibrationError,
    ForecastRequest,
    PolicyError,
    RequestError,
    load_calibration,
    policy_from_dict,
    run_forecast,
)
from forecaster.calibration import calibration_from_dict
from forecaster.params import build_params
from forecaster.plan import build_inputs


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"digital": {"intensity": 1.5}}, "policy.digital.intensity", "[0.0, 1.0]"),
        ({"digital": {"intensity": "high"}}, "policy.digital.intensity", "number"),
        ({"hardware": {"start_year": 1800}}, "policy.hardware.start_year", "[1990, 2200]"),
        ({"software": {"phase_in_years": -1}}, "policy.software.phase_in_years", "[0, 50]"),
        ({"industrial": {"enacting": "CHN"}}, "policy.industrial.enacting", "list"),
        ({"industrial": {"partners": ["USA", "USA"]}}, "policy.industrial.partners", "twice"),
        ({"digitl": {}}, "policy.digitl", "unknown field"),
        ({"digital": {"strength": 1}}, "policy.digital.strength", "unknown field"),
        ({"preset": "opening"}, "policy.preset", "known presets"),
        ({"fragmentation": {"intensity": -0.1}}, "policy.fragmentation.intensity", "[0.0, 1.0]"),
        ({"name": ""}, "policy.name", "1 to 64"),
    ],
)
def test_bad_policy_names_field_and_limit(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(PolicyError) as error:
        policy_from_dict(data)
    assert error.value.field == field
    assert str(error.value).startswith(f"{field}:")
    assert words in str(error.value)


def test_policy_round_trips_through_plain_data() -> None:
    for mix in PRESETS.values():
        assert policy_from_dict(json.loads(mix.to_json())) == mix


def test_preset_with_override() -> None:
    mix = policy_from_dict({"preset": "digital", "digital": {"intensity": 0.5}, "software": {"intensity": 1}})
    # Fields given override the preset's lever; the rest keep the preset's values.
    assert mix.digital == dataclasses.replace(PRESETS["digital"].digital, intensity=0.5)
    assert mix.digital.enacting == ("CHN",)
    assert mix.software.intensity == 1 and mix.software.enacting == ()  # not in the preset: defaults
    assert mix.name == "digital"


def test_unknown_lever_economy_is_refused(calibration: Calibration) -> None:
    mix = policy_from_dict({"digital": {"intensity": 1, "enacting": ["XXX"]}})
    with pytest.raises(PolicyError, match=r"policy.digital.enacting: unknown economy 'XXX'"):
        build_params(calibration, mix)


@pytest.mark.parametrize("role", ["enacting", "partners"])
def test_a_lever_naming_an_economy_left_out_of_the_simulation_is_refused(
    calibration: Calibration, role: str
) -> None:
    # It would silently have no effect: the policy acts on pairs of simulated economies only.
    mix = policy_from_dict({"preset": "digital", "digital": {"enacting": ["CHN"], role: ["JPN"]}})
    with pytest.raises(PolicyError, match=rf"policy.digital.{role}: 'JPN' is not among the simulated "
                                          r"economies \['CHN', 'USA'\]"):
        build_params(calibration, mix, economies=("CHN", "USA"))
    with pytest.raises(PolicyError, match=r"policy.digital.enacting: 'CHN' is not among"):
        build_params(calibration, PRESETS["digital"], economies=("USA", "EU"))


def test_lever_starting_after_horizon_is_refused(calibration: Calibration) -> None:
    mix = policy_from_dict({"hardware": {"intensity": 1, "start_year": 2100}})
    with pytest.raises(PolicyError, match=r"policy.hardware.start_year: must be at most 2033"):
        build_params(calibration, mix, horizon_years=10)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_draws": 0}, "n_draws"),
        ({"n_draws": 2_000_000}, "n_draws"),
        ({"horizon_years": 0}, "horizon_years"),
        ({"horizon_years": 101}, "horizon_years"),
        ({"seed": -1}, "seed"),
        ({"block_size": 0}, "block_size"),
        ({"shock_scale": 2.0}, "shock_scale"),
    ],
)
def test_bad_request_names_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as error:
        ForecastRequest(**kwargs)
    assert error.value.field == field


def test_unknown_or_too_few_economies(calibration: Calibration) -> None:
    with pytest.raises(RequestError, match="unknown economies"):
        build_params(calibration, PRESETS["baseline"], economies=["CHN", "MARS"])
    with pytest.raises(RequestError, match="at least two"):
        build_params(calibration, PRESETS["baseline"], economies=["CHN"])


def _default_data() -> dict[str, Any]:
    return load_calibration().to_dict()


def test_shipped_calibration_has_sources_for_every_number(calibration: Calibration) -> None:
    assert len(calibration.economies) >= 10
    assert {"CHN", "USA", "EU", "JPN", "KOR", "IND", "ASEAN", "GBR"} <= set(calibration.economies)
    for code, record in calibration.sources.items():
        for field, entry in record.items():
            if isinstance(entry, dict):
                assert entry["source"] and entry["year"], (code, field)
                assert entry["assumption"] or entry["source"] != "assumption", (code, field)


@pytest.mark.parametrize(
    ("mutate", "economy", "field", "words"),
    [
        (
            lambda d: d["economies"]["CHN"]["rd_intensity"].update(value=0.5),
            "CHN",
            "rd_intensity",
            "(0.0, 0.1)",
        ),
        (lambda d: d["economies"]["USA"].pop("foreign_idea_share"), "USA", "foreign_idea_share", "missing"),
        (
            lambda d: d["economies"]["EU"]["digital_restrictiveness"].update(value="x"),
            "EU",
            "digital_restrictiveness",
            "finite number",
        ),
        (lambda d: d["economies"]["JPN"]["gdp_ppp"].pop("source"), "JPN", "gdp_ppp", "missing keys"),
        (
            lambda d: d["economies"]["CHN"]["digital_restrictiveness"].update(value=1.0),
            "CHN",
            "digital_restrictiveness",
            "[0.0, 1.0)",
        ),
        (lambda d: d["economies"]["KOR"].update(bloc="north"), "KOR", "bloc", "must be one of"),
        (lambda d: d["economies"]["IND"].update(colour={}), "IND", "colour", "unknown field"),
    ],
)
def test_bad_calibration_names_economy_and_field(mutate: Any, economy: str, field: str, words: str) -> None:
    data = copy.deepcopy(_default_data())
    mutate(data)
    with pytest.raises(CalibrationError) as error:
        calibration_from_dict(data)
    assert (error.value.economy, error.value.field) == (economy, field)
    assert words in str(error.value)


def test_user_calibration_file(tmp_path: Any) -> None:
    data = _default_data()
    data["economies"] = {k: data["economies"][k] for k in ("CHN", "USA", "EU")}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    mine = load_calibration(path)
    assert mine.economies == ("CHN", "USA", "EU")
    assert mine.digest != load_calibration().digest
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(tmp_path / "missing.json")


def test_oversized_work_is_refused_before_it_runs(calibration: Calibration) -> None:
    request = ForecastRequest(n_draws=200_000, horizon_years=30)
    with pytest.raises(RequestError, match=r"n_draws: 200000 draws x 30 years x 12 economies"):
        run_forecast(request, calibration, should_cancel=lambda: pytest.fail("work started"))
    fits = ForecastRequest(n_draws=200_000, horizon_years=30, economies=("CHN", "USA", "EU", "JPN", "KOR"))
    assert build_inputs(fits, calibration).policy.n_economies == 5
