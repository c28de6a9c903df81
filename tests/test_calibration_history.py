"""A calibration computed from Penn World Table data, as of any year, with no look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from forecaster import ForecastRequest, load_calibration, run_forecast
from forecaster.calibration import (
    EXTRA_BLOC_TRADE,
    PWT_FIELDS,
    PWT_LAST_YEAR,
    TREND_WINDOW_YEARS,
    VOLATILITY_WINDOW_YEARS,
    calibration_as_of,
    shipped_inputs,
)
from forecaster.history import EU27, economy_history, load_pwt

ORIGIN = 1995


@pytest.fixture(scope="module")
def pwt() -> xr.Dataset:
    return load_pwt()


def _later_data_changed(pwt: xr.Dataset, after: int) -> xr.Dataset:
    """Every variable of every country scrambled in the years after ``after``."""
    rng = np.random.default_rng(1)
    changed = pwt.copy(deep=True)
    later = changed.year > after
    for name in changed.data_vars:
        noise = xr.DataArray(rng.uniform(0.5, 2.0, changed[name].shape), dims=changed[name].dims)
        changed[name] = changed[name].where(~later, changed[name] * noise)
    return changed


def test_data_after_the_origin_change_nothing(pwt: xr.Dataset) -> None:
    changed = _later_data_changed(pwt, ORIGIN)
    assert not changed.equals(pwt)
    before, after = calibration_as_of(ORIGIN, pwt=pwt), calibration_as_of(ORIGIN, pwt=changed)
    assert before.digest == after.digest
    request = ForecastRequest(horizon_years=5, n_draws=50, seed=3, block_size=25)
    xr.testing.assert_identical(run_forecast(request, before), run_forecast(request, after))


def test_data_up_to_the_origin_do_change_the_calibration(pwt: xr.Dataset) -> None:
    """The test above can fail: a change of TFP one year earlier moves the calibration."""
    changed = pwt.copy(deep=True)
    changed["rtfpna"] = changed.rtfpna.where(changed.year < ORIGIN, changed.rtfpna * 1.01)
    assert calibration_as_of(ORIGIN, pwt=changed).digest != calibration_as_of(ORIGIN, pwt=pwt).digest


def test_pwt_fields_are_computed_from_the_data(pwt: xr.Dataset) -> None:
    calibration = calibration_as_of(2005, pwt=pwt)
    history = economy_history(pwt)
    growth = history.tfp_growth
    for k, code in enumerate(calibration.economies):
        trend = growth.sel(economy=code, year=slice(2005 - TREND_WINDOW_YEARS + 1, 2005))
        spread = growth.sel(economy=code, year=slice(2005 - VOLATILITY_WINDOW_YEARS + 1, 2005)).dropna("year")
        assert calibration["tfp_growth"][k] == pytest.approx(float(trend.mean()), rel=1e-12)
        assert calibration["tfp_volatility"][k] == pytest.approx(float(spread.std(ddof=1)), rel=1e-12)
        level = float(history.tfp_level.sel(economy=code, year=2005))
        assert calibration["tfp_level"][k] == pytest.approx(level)
        for field in PWT_FIELDS:
            entry = calibration.sources[code][field]
            assert entry["year"] == 2005 and "Penn World Table" in entry["source"]
            # The aggregates' import penetration rests on an assumed share of extra-bloc trade.
            aggregate_trade = field == "import_penetration" and code in EXTRA_BLOC_TRADE
            assert entry["assumption"] == aggregate_trade, (code, field)
    usa = calibration.economies.index("USA")
    assert calibration["tfp_level"][usa] == 1.0  # ctfp is relative to the USA
    # Published by PWT for the USA, 1991-2017: 0.68 % a year (the data reproduce it, test_history).
    assert 0.002 < calibration["tfp_growth"][usa] < 0.015


def test_economies_without_data_at_the_origin_are_left_out_and_named(pwt: xr.Dataset) -> None:
    early = calibration_as_of(1998, pwt=pwt)  # RUS: TFP from 1994, growth from 1995: 4 years
    assert "RUS" not in early.economies and "RUS" in early.description
    assert "RUS" in calibration_as_of(1999, pwt=pwt).economies


def test_fields_observed_after_the_origin_say_they_are_held(pwt: xr.Dataset) -> None:
    calibration = calibration_as_of(1990, pwt=pwt)
    stri = calibration.sources["CHN"]["digital_restrictiveness"]
    assert stri["year"] > 1990 and "Held at this" in stri["note"] and "as of 1990" in stri["note"]
    assert stri["value"] == shipped_inputs()["economies"]["CHN"]["digital_restrictiveness"]["value"]


def test_default_calibration_is_the_latest_data_and_reads_back_the_same() -> None:
    default = load_calibration()
    assert default.digest == calibration_as_of(PWT_LAST_YEAR, base_year=default.base_year).digest
    assert load_calibration() is default  # computed once per process
    from forecaster.calibration import calibration_from_dict

    assert calibration_from_dict(default.to_dict()).digest == default.digest
    entries = [entry for record in default.sources.values() for entry in record.values()
               if isinstance(entry, dict)]
    assumed = sum(entry["assumption"] for entry in entries)
    # docs/calibration.md states this share: 69 of 144 (48 %), against 86 % before PWT.
    assert (assumed, len(entries)) == (69, 144)


def test_trade_and_size_are_computed_from_the_data(pwt: xr.Dataset) -> None:
    """Import penetration M / (Y - X + M) at market prices and GDP at PPP, recomputed by hand."""
    calibration = calibration_as_of(2010, pwt=pwt)
    usa = pwt.sel(country="USA", year=2010)
    imports, exports = float(-usa.csh_m * usa.pl_m / usa.pl_gdpo), float(usa.csh_x * usa.pl_x / usa.pl_gdpo)
    k = calibration.economies.index("USA")
    assert calibration["import_penetration"][k] == pytest.approx(imports / (1 - exports + imports), rel=1e-12)
    assert calibration["gdp_ppp"][k] == pytest.approx(float(usa.cgdpo) / 1e6, rel=1e-12)
    # The EU: its members' trade at market prices, weighted by nominal GDP, times the extra-EU share.
    members = pwt.sel(country=list(EU27), year=2010)
    nominal = members.cgdpo * members.pl_gdpo
    share = EXTRA_BLOC_TRADE["EU"] / float(nominal.sum())
    eu_imports = share * float((-members.csh_m * members.pl_m / members.pl_gdpo * nominal).sum())
    eu_exports = share * float((members.csh_x * members.pl_x / members.pl_gdpo * nominal).sum())
    e = calibration.economies.index("EU")
    assert calibration["import_penetration"][e] == pytest.approx(
        eu_imports / (1 - eu_exports + eu_imports), rel=1e-12
    )
    assert calibration["gdp_ppp"][e] == pytest.approx(float(members.cgdpo.sum()) / 1e6, rel=1e-12)
