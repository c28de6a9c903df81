"""The shipped Penn World Table 9.1 extract (rebuilt byte for byte from Debian's package), facts of
PWT 9.1, benchmark moments of TFP growth, and the causality of the aggregation."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import xarray as xr

from forecaster import history
from forecaster.history import (
    ASEAN,
    ECONOMIES,
    EU27,
    PwtExtractError,
    economy_history,
    load_pwt,
    members_without_tfp,
    tfp_growth_moments,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / ".cache" / "pwt"
SCRIPT = ROOT / "scripts" / "build_pwt_extract.py"
DATA = ROOT / "forecaster" / "data"

# Mean and standard deviation (ddof = 1) of annual log rtfpna growth in percent, rounded to 2 decimals.
MOMENTS_1991_2017 = {
    "CHN": (1.92, 2.30), "USA": (0.68, 0.75), "JPN": (0.09, 1.25), "KOR": (1.17, 1.68),
    "IND": (1.16, 1.88), "GBR": (0.58, 1.09), "CAN": (0.36, 1.10), "RUS": (1.18, 3.14),
    "TUR": (-0.27, 4.09), "BRA": (-0.68, 2.12), "EU": (0.36, 1.01), "ASEAN": (0.58, 2.80),
}
MOMENTS_2001_2017 = {"CHN": (2.35, 1.99), "USA": (0.60, 0.74), "EU": (0.18, 1.16), "ASEAN": (1.29, 1.19)}
# Half a unit in the last place of the table, with room for the rounding of a value at exactly .xx5.
TABLE_TOLERANCE = 0.006
ACCESSION_1994 = ("HRV", "CZE", "EST", "LVA", "LTU", "SVK", "SVN")


@pytest.fixture(scope="module")
def pwt() -> xr.Dataset:
    return load_pwt()


@pytest.fixture(scope="module")
def hist(pwt: xr.Dataset) -> xr.Dataset:
    return economy_history(pwt)


def _require_package() -> None:
    if not (PACKAGE_DIR / "usr/lib/R/site-library/pwt9/data/Rdata.rdb").is_file():
        pytest.fail(f"{PACKAGE_DIR}: Debian's r-cran-pwt9 is not unpacked; run `make pwt` (make test does)")


def _build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_pwt_extract", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _first_year(series: xr.DataArray) -> int:
    return int(series.year[series.notnull()].min())


# ---- the extract -------------------------------------------------------------------------------


def test_extract_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    _require_package()
    subprocess.run([sys.executable, SCRIPT, PACKAGE_DIR, "--out", tmp_path], check=True)
    rebuilt = (tmp_path / "pwt91_extract.csv").read_bytes()
    assert rebuilt == (DATA / "pwt91_extract.csv").read_bytes()
    meta = json.loads((DATA / "pwt91_extract.json").read_text())
    assert json.loads((tmp_path / "pwt91_extract.json").read_text()) == meta
    assert hashlib.sha256(rebuilt).hexdigest() == meta["csv"]["sha256"]


def test_loaded_values_are_the_package_doubles(pwt: xr.Dataset) -> None:
    _require_package()
    script = _build_script()
    decoded = script.extract(script.read_lazyload(PACKAGE_DIR / script.R_PACKAGE / "data", script.DATASET))
    for name, variable in pwt.data_vars.items():
        expected = decoded.pivot(index="countrycode", columns="year", values=name)
        expected = expected.loc[pwt.country.values, pwt.year.values].to_numpy()
        np.testing.assert_array_equal(variable.values, expected, strict=True, err_msg=name)


def test_load_pwt_shape_and_metadata(pwt: xr.Dataset) -> None:
    assert dict(pwt.sizes) == {"country": 47, "year": 68}
    assert set(pwt.country.values) == {c for members in history.MEMBERS.values() for c in members}
    assert (int(pwt.year[0]), int(pwt.year[-1])) == (1950, 2017)
    assert pwt.attrs["pwt_version"] == "9.1" and pwt.attrs["licence"] == "CC BY 4.0"
    assert pwt.attrs["doi"] == "10.15141/S50T0R" and "Feenstra" in pwt.attrs["citation"]
    assert pwt.rtfpna.attrs["definition"] == "TFP at constant national prices (2011 = 1)."


def test_corrupted_extract_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    shutil.copy(DATA / "pwt91_extract.json", tmp_path / "data")
    csv = (DATA / "pwt91_extract.csv").read_text().replace("47146.58203125", "47146.58203126", 1)
    (tmp_path / "data" / "pwt91_extract.csv").write_text(csv)
    monkeypatch.setattr(history.resources, "files", lambda package: tmp_path)
    with pytest.raises(PwtExtractError, match="SHA-256"):
        load_pwt()
    assert float(load_pwt(tmp_path / "data" / "pwt91_extract.csv").rgdpna.sel(country="AUT", year=1950)) == (
        47146.58203126
    )


# ---- facts of PWT 9.1 --------------------------------------------------------------------------


def test_rtfpna_is_one_in_2011(pwt: xr.Dataset) -> None:
    with_tfp = pwt.rtfpna.notnull().any("year")
    assert (pwt.rtfpna.sel(year=2011)[with_tfp] == 1.0).all()


def test_members_with_and_without_tfp(pwt: xr.Dataset) -> None:
    with_tfp = pwt.rtfpna.notnull().any("year")
    assert {c for c in ASEAN if with_tfp.sel(country=c)} == {"IDN", "LAO", "MYS", "PHL", "SGP", "THA"}
    assert members_without_tfp(pwt) == {"ASEAN": ("BRN", "KHM", "MMR", "VNM")}


def test_tfp_start_years(pwt: xr.Dataset, hist: xr.Dataset) -> None:
    assert _first_year(pwt.rtfpna.sel(country="RUS")) == 1994
    assert _first_year(hist.tfp_growth.sel(economy="RUS")) == 1995
    # So RUS's 1991-2017 moments are those of 1995-2017.
    assert int(tfp_growth_moments(hist, 1991, 2017)["years"].sel(economy="RUS")) == 2017 - 1995 + 1
    starts = {c: _first_year(pwt.rtfpna.sel(country=c)) for c in EU27}
    assert {c for c, year in starts.items() if year == 1994} == set(ACCESSION_1994)
    assert min(starts.values()) < 1994
    log_tfp = np.log(pwt.rtfpna.sel(country=list(ACCESSION_1994)))
    growth = log_tfp - log_tfp.shift(year=1)
    assert {_first_year(growth.sel(country=c)) for c in ACCESSION_1994} == {1995}


def test_import_share_is_stored_negative(pwt: xr.Dataset, hist: xr.Dataset) -> None:
    present = pwt.csh_m.notnull()
    assert int(present.sum()) > 0 and (pwt.csh_m.where(present) < 0).sum() == present.sum()
    assert round(float(pwt.csh_m.sel(country="USA", year=2017)), 3) == -0.178
    usa = pwt.sel(country="USA", year=2017)
    # At market prices: imports at their price level over GDP at its price level.
    assert float(hist.import_share.sel(economy="USA", year=2017)) == pytest.approx(
        -float(usa.csh_m * usa.pl_m / usa.pl_gdpo), rel=1e-15
    )
    # US merchandise imports were about 12-13 % of GDP at market prices in 2017 (2.4 of 19.5
    # trillion USD, national accounts); at PPPs PWT's csh_m says 17.8 %.
    assert 0.11 < float(hist.import_share.sel(economy="USA", year=2017)) < 0.14


# ---- economy_history ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "economy", "mean", "std"),
    [(1991, code, *moments) for code, moments in MOMENTS_1991_2017.items()]
    + [(2001, code, *moments) for code, moments in MOMENTS_2001_2017.items()],
    ids=lambda value: str(value) if isinstance(value, str | int) else "",
)
def test_benchmark_moments(hist: xr.Dataset, first: int, economy: str, mean: float, std: float) -> None:
    moments = tfp_growth_moments(hist, first, 2017).sel(economy=economy)
    got = (float(moments["mean"]), float(moments["std"]))
    assert got == pytest.approx((mean, std), rel=0, abs=TABLE_TOLERANCE)


def test_single_country_is_its_own_data(pwt: xr.Dataset, hist: xr.Dataset) -> None:
    usa = pwt.sel(country="USA")
    growth = np.diff(np.log(usa.rtfpna.values))
    np.testing.assert_array_equal(hist.tfp_growth.sel(economy="USA").values[1:], growth)
    for name, source in [("tfp_level", usa.ctfp), ("human_capital", usa.hc), ("rgdpna", usa.rgdpna)]:
        np.testing.assert_array_equal(hist[name].sel(economy="USA").values, source.values, err_msg=name)


@pytest.mark.parametrize(("year", "members"), [(1994, 20), (1995, 27)])
def test_eu_growth_weights_are_lagged_gdp(pwt: xr.Dataset, hist: xr.Dataset, year: int, members: int) -> None:
    # In 1994 seven members have their first TFP, so no growth: they enter the EU's mean in 1995.
    eu = pwt.sel(country=list(EU27), year=[year - 1, year])
    log_tfp = np.log(eu.rtfpna.values)
    growth = log_tfp[:, 1] - log_tfp[:, 0]
    weights = eu.rgdpna.values[:, 0]
    both = ~np.isnan(growth)
    assert both.sum() == members
    expected = np.sum(weights[both] * growth[both]) / np.sum(weights[both])
    assert float(hist.tfp_growth.sel(economy="EU", year=year)) == pytest.approx(expected, rel=1e-12)
    assert hist.tfp_growth.attrs["units"] == "1/year"


def test_unknown_economy_is_refused(pwt: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="XYZ"):
        economy_history(pwt, ["EU", "XYZ"])
    assert list(economy_history(pwt, ["EU", "RUS"]).economy.values) == ["EU", "RUS"]
    assert list(economy_history(pwt).economy.values) == list(ECONOMIES)


@pytest.mark.parametrize("cutoff", [1960, 1993, 1994, 2010, 2016])
def test_history_is_causal(pwt: xr.Dataset, hist: xr.Dataset, cutoff: int) -> None:
    rng = np.random.default_rng(cutoff)
    future = pwt.year > cutoff
    changed = pwt.copy(deep=True)
    for name, variable in pwt.data_vars.items():
        noise = rng.uniform(0.1, 10.0, variable.shape)
        noise[rng.uniform(size=variable.shape) < 0.2] = np.nan
        changed[name] = variable.where(~future, noise)
    after = economy_history(changed)
    past = dict(year=slice(None, cutoff))
    xr.testing.assert_identical(after.sel(past), hist.sel(past))
    assert not after.tfp_growth.sel(year=cutoff + 1).equals(hist.tfp_growth.sel(year=cutoff + 1))
