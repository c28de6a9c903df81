"""Calibration: per-economy data, each number with its source and year.

The default dataset ships in ``forecaster/data/calibration.json`` (described in
``docs/calibration.md``). Users may pass their own file in the same format to
:func:`load_calibration`; every field is validated and errors name the economy
and the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from forecaster.errors import CalibrationError

#: Numeric fields every economy must have, with their allowed range
#: ``(low, high, low_inclusive, high_inclusive)`` and their meaning.
FIELDS: dict[str, tuple[float, float, bool, bool, str]] = {
    "gdp_ppp": (0.0, 1e3, False, True, "GDP at PPP, trillion international $ (size weight)"),
    "rd_intensity": (0.0, 0.1, False, False, "GERD / GDP"),
    "research_growth": (-0.05, 0.15, True, True, "annual growth of real research input"),
    "tfp_level": (0.0, 2.0, False, True, "TFP level relative to the USA"),
    "tfp_growth": (-0.05, 0.1, True, True, "trend annual TFP growth"),
    "trade_openness": (0.0, 3.0, False, False, "(exports + imports) / GDP"),
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

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Calibration:
    """Validated per-economy data, as arrays in a fixed economy order.

    Attributes
    ----------
    name, version : str
        Dataset label and version.
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
    base_year: int
    economies: tuple[str, ...]
    names: tuple[str, ...]
    blocs: tuple[str, ...]
    values: Mapping[str, FloatArray]
    sources: Mapping[str, Any]
    digest: str

    def __getitem__(self, field: str) -> FloatArray:
        return self.values[field]

    def subset(self, economies: tuple[str, ...]) -> Calibration:
        """Return the calibration restricted to ``economies``, in that order."""
        index = [self.economies.index(code) for code in economies]
        return Calibration(
            name=self.name,
            version=self.version,
            base_year=self.base_year,
            economies=economies,
            names=tuple(self.names[i] for i in index),
            blocs=tuple(self.blocs[i] for i in index),
            values={k: _frozen(v[index]) for k, v in self.values.items()},
            sources={code: self.sources[code] for code in economies},
            digest=self.digest,
        )


def _frozen(array: FloatArray) -> FloatArray:
    array = np.array(array, dtype=np.float64)
    array.flags.writeable = False
    return array


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
    if not isinstance(base_year, int) or not 1990 <= base_year <= 2100:
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
        base_year=base_year,
        economies=tuple(codes),
        names=tuple(names),
        blocs=tuple(blocs),
        values={field: _frozen(np.asarray(col)) for field, col in columns.items()},
        sources={code: economies[code] for code in codes},
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Load and validate a calibration file; the shipped default when ``path`` is None.

    Raises
    ------
    CalibrationError
        If the file is unreadable, not JSON, or any field is invalid.
    """
    try:
        if path is None:
            text = resources.files("forecaster").joinpath("data/calibration.json").read_text()
        else:
            text = Path(path).read_text()
        data = json.loads(text)
    except (OSError, json.JSONDecodeError) as error:
        raise CalibrationError(None, "<file>", f"cannot read {path or 'default'}: {error}") from None
    return calibration_from_dict(data)
