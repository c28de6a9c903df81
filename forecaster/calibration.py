"""Calibration: per-economy data, each number with its source and year.

The fields that Penn World Table 9.1 measures (:data:`PWT_FIELDS`: TFP level, trend TFP
growth, its volatility, GDP at PPP, import penetration) are computed from the shipped extract by
:func:`calibration_as_of`, using only data up to a given year; the others come from
``forecaster/data/calibration.json`` and are held at their values there (both described in
``docs/calibration.md``). :func:`load_calibration` gives the default, the data up to
:data:`PWT_LAST_YEAR` with base year :data:`DEFAULT_BASE_YEAR`. Users may pass their own
complete file in the same format; every field is validated and errors name the economy and
the field.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from forecaster.arrays import FloatArray, readonly
from forecaster.errors import CalibrationError
from forecaster.history import economy_history, load_pwt

#: Numeric fields every economy must have, with their allowed range
#: ``(low, high, low_inclusive, high_inclusive)`` and their meaning.
FIELDS: dict[str, tuple[float, float, bool, bool, str]] = {
    "gdp_ppp": (0.0, 1e3, False, True, "GDP at PPP, trillion international $ (size weight)"),
    "rd_intensity": (0.0, 0.1, False, False, "GERD / GDP"),
    "research_growth": (-0.05, 0.15, True, True, "annual growth of real research input"),
    "tfp_level": (0.0, 2.0, False, True, "TFP level relative to the USA"),
    "tfp_growth": (-0.05, 0.1, True, True, "trend annual TFP growth"),
    "tfp_volatility": (0.0, 0.2, False, True, "standard deviation of annual TFP growth"),
    "import_penetration": (0.0, 1.0, False, False,
                           "merchandise imports / (GDP - exports + imports), at market prices"),
    "fdi_openness": (0.0, 1.0, True, False, "FDI inflows / GDP"),
    # A fully closed regime (1) would leave no data links to scale; below 1 is required.
    "digital_restrictiveness": (0.0, 1.0, True, False, "Digital STRI, 0 open to 1 closed"),
    "foreign_idea_share": (0.0, 1.0, True, False, "share of base-year knowledge growth learnt from abroad"),
    "latitude": (-90.0, 90.0, True, True, "economic centre, degrees"),
    "longitude": (-180.0, 180.0, True, True, "economic centre, degrees"),
}
BLOCS = ("west", "east", "nonaligned")
_ENTRY_KEYS = {"value", "unit", "year", "source", "assumption", "note"}
_REQUIRED_ENTRY_KEYS = {"value", "unit", "year", "source", "assumption"}

#: Fields computed from Penn World Table 9.1 by :func:`calibration_as_of`, never typed in.
PWT_FIELDS: tuple[str, ...] = ("tfp_level", "tfp_growth", "tfp_volatility", "gdp_ppp", "import_penetration")
#: Share of the EU's and ASEAN's members' merchandise trade that is with the rest of the world
#: (assumption, recalled and unverified: intra-EU trade is about 60% of the members' goods trade
#: in Eurostat's data, intra-ASEAN trade about 22%). PWT's trade of the members includes trade
#: between them, which is domestic for the aggregate as one economy.
EXTRA_BLOC_TRADE: dict[str, float] = {"EU": 0.4, "ASEAN": 0.78}
#: Last year of PWT 9.1, the data of the default calibration.
PWT_LAST_YEAR = 2017
#: Base year of the default calibration: forecasts start the year after. The PWT fields are
#: their latest observation (2017); the others are the shipped values.
DEFAULT_BASE_YEAR = 2023
#: Years of annual TFP growth whose mean is the trend (assumption, chosen before any backtest:
#: long enough to average over a business cycle, short enough to follow a change of regime).
TREND_WINDOW_YEARS = 10
#: Years of annual TFP growth whose standard deviation scales the macro shock (assumption,
#: chosen before any backtest: a standard deviation needs more years than a mean).
VOLATILITY_WINDOW_YEARS = 20
#: Fewest years of TFP growth for a trend or a volatility; an economy with fewer is left out.
MIN_YEARS = 5
_PWT_SOURCE = (
    "Penn World Table 9.1 (Feenstra, Inklaar and Timmer 2015, AER 105(10):3150-3182; CC BY 4.0), "
    "computed from the project's extract by forecaster.calibration.calibration_as_of"
)



@dataclass(frozen=True, eq=False)
class Calibration:
    """Validated per-economy data, as arrays in a fixed economy order.

    Attributes
    ----------
    name, version, description : str
        Dataset label, version and description.
    base_year : int
        Year the data describe; forecasts start the year after.
    economies : tuple of str
        Economy codes, in array order.
    names, blocs : tuple of str
        Long names and geopolitical blocs (for fragmentation scenarios).
    values : dict of str to ndarray, shape (n_economies,)
        One read-only array per field of :data:`FIELDS`.
    sources : dict
        The raw per-field records (value, unit, year, source, assumption, note).
    digest : str
        SHA-256 of the canonical JSON of the data, recorded in outputs.
    """

    name: str
    version: str
    description: str
    base_year: int
    economies: tuple[str, ...]
    names: tuple[str, ...]
    blocs: tuple[str, ...]
    values: Mapping[str, FloatArray]
    sources: Mapping[str, Any]
    digest: str

    def __getitem__(self, field: str) -> FloatArray:
        return self.values[field]

    def to_dict(self) -> dict[str, Any]:
        """Return the data in the file format of :func:`load_calibration` (read back: the same digest)."""
        return {
            "name": self.name,
            "version": self.version,
            "base_year": self.base_year,
            "description": self.description,
            "economies": {code: dict(record) for code, record in self.sources.items()},
        }

    def subset(self, economies: tuple[str, ...]) -> Calibration:
        """Return the calibration restricted to ``economies``, in that order."""
        index = [self.economies.index(code) for code in economies]
        return Calibration(
            name=self.name,
            version=self.version,
            description=self.description,
            base_year=self.base_year,
            economies=economies,
            names=tuple(self.names[i] for i in index),
            blocs=tuple(self.blocs[i] for i in index),
            values={k: readonly(v[index]) for k, v in self.values.items()},
            sources={code: self.sources[code] for code in economies},
            digest=self.digest,
        )


def _entry_value(code: str, field: str, entry: Any) -> float:
    if not isinstance(entry, Mapping):
        raise CalibrationError(code, field, "must be an object with value, unit, year, source")
    missing = sorted(_REQUIRED_ENTRY_KEYS - set(entry))
    if missing:
        raise CalibrationError(code, field, f"missing keys {missing}")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise CalibrationError(code, field, f"unknown keys {unknown}")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise CalibrationError(code, field, f"value must be a finite number, got {value!r}")
    low, high, low_in, high_in, meaning = FIELDS[field]
    above = value >= low if low_in else value > low
    below = value <= high if high_in else value < high
    if not (above and below):
        interval = f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
        raise CalibrationError(code, field, f"{meaning} must be in {interval}, got {value!r}")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise CalibrationError(code, field, "source must be a non-empty string")
    if not isinstance(entry["year"], int) or isinstance(entry["year"], bool):
        raise CalibrationError(code, field, f"year must be an integer, got {entry['year']!r}")
    if not isinstance(entry["assumption"], bool):
        raise CalibrationError(code, field, "assumption must be true or false")
    return float(value)


def calibration_from_dict(data: Any) -> Calibration:
    """Validate calibration data and return a :class:`Calibration`.

    Parameters
    ----------
    data : mapping
        Parsed JSON in the format of ``docs/calibration.md``.

    Raises
    ------
    CalibrationError
        Naming the economy and field at fault.
    """
    if not isinstance(data, Mapping):
        raise CalibrationError(None, "<root>", "must be a JSON object")
    for key in ("name", "version", "base_year", "economies"):
        if key not in data:
            raise CalibrationError(None, key, "is required")
    base_year = data["base_year"]
    if not isinstance(base_year, int) or not 1950 <= base_year <= 2100:
        raise CalibrationError(None, "base_year", f"must be an integer year, got {base_year!r}")
    economies = data["economies"]
    if not isinstance(economies, Mapping) or len(economies) < 2:
        raise CalibrationError(None, "economies", "must map at least two economy codes to data")
    codes, names, blocs = [], [], []
    columns: dict[str, list[float]] = {field: [] for field in FIELDS}
    for code, record in economies.items():
        if not isinstance(code, str) or not code.isalnum() or not 2 <= len(code) <= 8:
            raise CalibrationError(code, "<code>", "codes are 2-8 letters or digits")
        if not isinstance(record, Mapping):
            raise CalibrationError(code, "<record>", "must be an object")
        unknown = sorted(set(record) - set(FIELDS) - {"name", "bloc"})
        if unknown:
            raise CalibrationError(code, unknown[0], f"unknown field; allowed: {sorted(FIELDS)}")
        for field in FIELDS:
            if field not in record:
                raise CalibrationError(code, field, "is missing")
            columns[field].append(_entry_value(code, field, record[field]))
        bloc = record.get("bloc")
        if bloc not in BLOCS:
            raise CalibrationError(code, "bloc", f"must be one of {list(BLOCS)}, got {bloc!r}")
        codes.append(code)
        names.append(str(record.get("name", code)))
        blocs.append(bloc)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return Calibration(
        name=str(data["name"]),
        version=str(data["version"]),
        description=str(data.get("description", "")),
        base_year=base_year,
        economies=tuple(codes),
        names=tuple(names),
        blocs=tuple(blocs),
        values={field: readonly(np.asarray(col)) for field, col in columns.items()},
        sources={code: economies[code] for code in codes},
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Load and validate a calibration file; the default when ``path`` is None.

    The default is :func:`calibration_as_of` the last year of PWT 9.1, with base year
    :data:`DEFAULT_BASE_YEAR` (computed once per process).

    Raises
    ------
    CalibrationError
        If the file is unreadable, not JSON, or any field is invalid.
    """
    if path is None:
        return _default_calibration()
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CalibrationError(None, "<file>", f"cannot read {path}: {error}") from None
    return calibration_from_dict(data)


@functools.cache
def _default_calibration() -> Calibration:
    return calibration_as_of(PWT_LAST_YEAR, base_year=DEFAULT_BASE_YEAR)


def shipped_inputs() -> dict[str, Any]:
    """Read the shipped ``calibration.json``: every field but :data:`PWT_FIELDS`, with sources."""
    return dict(json.loads(resources.files("forecaster").joinpath("data/calibration.json").read_text()))


def calibration_as_of(
    as_of: int,
    *,
    base_year: int | None = None,
    pwt: xr.Dataset | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Calibration:
    r"""Build a calibration that uses Penn World Table data up to ``as_of`` only.

    The :data:`PWT_FIELDS` of each economy are computed from PWT years up to and
    including ``as_of`` (the data are cut before anything is computed, so later years
    cannot matter):

    - ``tfp_level``: ``ctfp`` in ``as_of`` (TFP at current PPPs, USA = 1);
    - ``tfp_growth``: the mean of annual log ``rtfpna`` growth over the last
      :data:`TREND_WINDOW_YEARS` years;
    - ``tfp_volatility``: its standard deviation (ddof 1) over the last
      :data:`VOLATILITY_WINDOW_YEARS` years;
    - ``gdp_ppp``: ``cgdpo`` in ``as_of``, in trillion USD;
    - ``import_penetration``: merchandise imports over domestic demand at market prices,
      :math:`M / (Y - X + M)` in ``as_of`` (one minus ACR's share of expenditure on domestic
      goods), for the EU and ASEAN with the members' trade scaled by :data:`EXTRA_BLOC_TRADE`;

    EU and ASEAN aggregated from their members (:func:`forecaster.history.economy_history`).
    Every other field keeps its value in ``inputs``; where that value's data year is
    after the base year (no series in the project reaches back, e.g. the Digital STRI starts
    in 2014), its note says that it is held there. Economies with fewer than
    :data:`MIN_YEARS` years of TFP growth or no TFP level in ``as_of`` are left out
    and named in the description (RUS before 1999).

    Parameters
    ----------
    as_of : int
        Last year of data used.
    base_year : int, optional
        Base year of the calibration (forecasts start the year after); default ``as_of``.
    pwt : xarray.Dataset, optional
        PWT data by (country, year) as from :func:`forecaster.history.load_pwt`; default
        the shipped extract.
    inputs : mapping, optional
        The other fields, in the format of ``calibration.json``; default
        :func:`shipped_inputs`.

    Returns
    -------
    Calibration

    Raises
    ------
    CalibrationError
        If fewer than two economies have the data, or a computed value is out of range.
    """
    inputs = shipped_inputs() if inputs is None else dict(inputs)
    base_year = as_of if base_year is None else base_year
    records = inputs["economies"]
    pwt = load_pwt() if pwt is None else pwt
    history = economy_history(pwt.sel(year=slice(None, as_of)), economies=list(records))
    economies: dict[str, Any] = {}
    left_out = []
    for code, record in records.items():
        measured = _pwt_fields(history.sel(economy=code), as_of)
        if measured is None:
            left_out.append(code)
            continue
        held = {field: _held(entry, base_year) for field, entry in record.items() if field in FIELDS}
        economies[code] = {**{k: v for k, v in record.items() if k not in FIELDS}, **held, **measured}
    note = f" Penn World Table fields computed with data up to {as_of}."
    if left_out:
        note += f" Left out for lack of PWT TFP data up to {as_of}: {', '.join(left_out)}."
    data = {
        **inputs,
        "version": f"{inputs['version']}+pwt{as_of}",
        "base_year": base_year,
        "description": str(inputs.get("description", "")) + note,
        "economies": economies,
    }
    return calibration_from_dict(data)


def _held(entry: Mapping[str, Any], base_year: int) -> Mapping[str, Any]:
    """Return a shipped field, its note saying so when it is held at a value observed after ``base_year``.

    A value observed after the base year is later than what the forecast may know (a past origin);
    one observed between the PWT data and a later base year is not.
    """
    if not isinstance(entry, Mapping) or not isinstance(entry.get("year"), int) or entry["year"] <= base_year:
        return entry
    held = f"Held at this {entry['year']} value for a calibration as of {base_year} (no earlier observation)."
    return {**entry, "note": f"{entry['note']} {held}" if entry.get("note") else held}


def _pwt_fields(history: xr.Dataset, as_of: int) -> dict[str, Any] | None:
    """Compute the :data:`PWT_FIELDS` of one economy up to ``as_of``; None without enough data."""
    growth = history.tfp_growth.dropna("year")
    trend = growth.sel(year=slice(as_of - TREND_WINDOW_YEARS + 1, as_of))
    spread = growth.sel(year=slice(as_of - VOLATILITY_WINDOW_YEARS + 1, as_of))
    at = history.sel(year=as_of) if as_of in history.year else None
    if at is None or trend.size < MIN_YEARS or spread.size < MIN_YEARS:
        return None
    level, size = float(at.tfp_level), float(at.gdp_ppp)
    code = str(history.economy.values)
    extra = EXTRA_BLOC_TRADE.get(code, 1.0)
    imports, exports = extra * float(at.import_share), extra * float(at.export_share)
    if not np.all(np.isfinite([level, size, imports, exports])):
        return None

    def entry(value: float, unit: str, note: str) -> dict[str, Any]:
        return {"value": value, "unit": unit, "year": as_of, "source": _PWT_SOURCE, "assumption": False,
                "note": note}

    def span(years: xr.DataArray) -> str:
        return f"{int(years.year[0])}-{int(years.year[-1])}, {years.size} years"

    return {
        "tfp_level": entry(level, "TFP level at current PPPs, USA = 1", f"ctfp in {as_of}; "
                           "EU and ASEAN: members' ctfp weighted by their cgdpo"),
        "tfp_growth": entry(float(trend.mean()), "annual log growth of TFP (rtfpna)",
                            f"mean over {span(trend)}"),
        "tfp_volatility": entry(float(spread.std(ddof=1)), "standard deviation of annual log TFP growth",
                                f"over {span(spread)}"),
        "gdp_ppp": entry(size / 1e6, "trillion 2011 USD at current PPPs (cgdpo)", f"cgdpo in {as_of}, "
                         "summed over members"),
        "import_penetration": {
            **entry(imports / (1.0 - exports + imports),
                    "merchandise imports / (GDP - exports + imports), market prices",
                    f"{as_of}; imports -csh_m pl_m / pl_gdpo and exports csh_x pl_x / pl_gdpo of GDP"),
            # The aggregates' value rests on an unverified share of trade outside the bloc.
            **({"assumption": True,
                "note": f"{as_of}; the members' merchandise trade at market prices times the assumed "
                        f"extra-bloc share {extra} (EXTRA_BLOC_TRADE: recalled, unverified)"}
               if code in EXTRA_BLOC_TRADE else {}),
        },
    }
