"""Write ``docs/calibration.md`` from the calibration's code and data.

Usage::

    .venv/bin/python scripts/write_calibration_doc.py            # (re)write docs/calibration.md
    .venv/bin/python scripts/write_calibration_doc.py --check    # exit 1 if the page is stale

Every number on the page is read from :mod:`forecaster.calibration` (fields, ranges, windows),
``forecaster/data/calibration.json`` and the Penn World Table 9.1 extract, through
:func:`forecaster.load_calibration` and :func:`forecaster.calibration_as_of`; this script
writes only the prose around them. The output is deterministic, and
``tests/test_calibration_doc.py`` requires the committed page to equal it byte for byte.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import forecaster.calibration as calibration_module
from forecaster import MODEL_VERSION
from forecaster.backtest import DEFAULT_ORIGINS
from forecaster.calibration import (
    DEFAULT_BASE_YEAR,
    FIELDS,
    MIN_YEARS,
    PWT_FIELDS,
    PWT_LAST_YEAR,
    TREND_WINDOW_YEARS,
    VOLATILITY_WINDOW_YEARS,
    Calibration,
    calibration_as_of,
    calibration_from_dict,
    load_calibration,
    shipped_inputs,
)
from forecaster.errors import CalibrationError
from forecaster.history import MEMBERS, load_pwt, members_without_tfp
from forecaster.params import DEFAULT_ASSUMPTIONS

ROOT = Path(__file__).resolve().parents[1]
#: Where the page is written by default.
DEFAULT_PATH = ROOT / "docs" / "calibration.md"
#: The command that regenerates the page (quoted on it and in the test's failure message).
COMMAND = ".venv/bin/python scripts/write_calibration_doc.py"
#: The calibration of model 1.0, before Penn World Table: the commit that holds it and its
#: count of assumptions over all numbers (historical constants; ``tests/test_calibration_doc.py``
#: recounts them from ``git show`` when the repository's history is at hand).
MODEL_1_COMMIT = "0e6a690"
MODEL_1_ASSUMED, MODEL_1_NUMBERS = 114, 132

#: Fields shown in percent a year on the page (the file stores fractions).
RATE_FIELDS = ("research_growth", "tfp_growth", "tfp_volatility")
#: Fields shown with two decimals (degrees).
DEGREE_FIELDS = ("latitude", "longitude")
DATA_FILE = "forecaster/data/calibration.json"
_SPAN = re.compile(r"(\d{4})-(\d{4}), (\d+) years")
_HELD = re.compile(r"Held at this \d{4} value for a calibration as of \d{4}[^.]*\.")
_BULLET = re.compile(r"^- ``(\w+)``: (.*)$")


def _rst_to_markdown(text: str) -> str:
    """Turn the reStructuredText of a docstring into Markdown, with the module's constants' values."""

    def constant(match: re.Match[str]) -> str:
        name = match.group(1)
        value = getattr(calibration_module, name)
        if isinstance(value, Mapping):
            return f"`{name}` ({', '.join(f'{key} {item:g}' for key, item in value.items())})"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g} (`{name}`)"
        return f"`{name}`"

    text = text.replace("``as_of``", "the data year")
    text = re.sub(r":data:`~?([\w.]+)`", constant, text)
    text = re.sub(r":math:`([^`]+)`", r"$\1$", text)
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`").rstrip(";.,")


def pwt_methods() -> dict[str, str]:
    """How each field of :data:`~forecaster.calibration.PWT_FIELDS` is computed, from the code's own words.

    Read from the bullet list of :func:`forecaster.calibration.calibration_as_of`'s docstring,
    with the constants it names replaced by their values.

    Returns
    -------
    dict of str to str
        Markdown, by field.

    Raises
    ------
    ValueError
        If a computed field is not described there.
    """
    bullets: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in (inspect.getdoc(calibration_as_of) or "").splitlines():
        stripped = line.strip()
        match = _BULLET.match(stripped)
        if match:
            current = bullets.setdefault(match.group(1), [match.group(2)])
        elif current is not None and stripped and line[0].isspace():  # an indented continuation
            current.append(stripped)
        else:
            current = None
    missing = [field for field in PWT_FIELDS if field not in bullets]
    if missing:
        raise ValueError(f"calibration_as_of's docstring does not say how {missing} are computed")
    methods, previous = {}, ""
    for field in bullets:
        text = _rst_to_markdown(" ".join(bullets[field]))
        if text.startswith("its ") and previous:  # "its standard deviation": of the field above
            text = f"the annual growth's (as in `{previous}`) {text[len('its '):]}"
        methods[field], previous = text, field
    return {field: methods[field] for field in PWT_FIELDS}


# --------------------------------------------------------------------------- formatting


def _number(value: float) -> str:
    """Four significant digits, no exponent for the magnitudes of the calibration."""
    text = f"{value:.4g}"
    return f"{value:.6f}".rstrip("0").rstrip(".") if "e" in text else text


def _percent(value: float) -> str:
    return f"{100.0 * value:.2f}"


def fmt(field: str, value: float) -> str:
    """Format one value of ``field`` as the page shows it (rates in percent, without the sign).

    Parameters
    ----------
    field : str
        A field of :data:`~forecaster.calibration.FIELDS`.
    value : float
        Its value as stored (fractions for shares and rates).

    Returns
    -------
    str
    """
    if field in RATE_FIELDS:
        return _percent(value)
    if field in DEGREE_FIELDS:
        return f"{value:.2f}"
    return _number(value)


def _shown_unit(field: str) -> str:
    if field in RATE_FIELDS:
        return "% a year"
    if field in DEGREE_FIELDS:
        return "degrees"
    return "as stored"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _interval(field: str) -> str:
    low, high, low_in, high_in, _ = FIELDS[field]
    return f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"


def _share(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100.0 * part / whole:.0f} %)"


def _count(records: Sequence[Mapping[str, Any]]) -> str:
    assumed = sum(record["assumption"] is True for record in records)
    return f"{'none' if assumed == 0 else assumed} of the {len(records)}"


def _codes(codes: Sequence[str]) -> str:
    return ", ".join(codes) if codes else "none"


# --------------------------------------------------------------------------- counts


def entries(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every number of calibration data (the field objects of every economy).

    Parameters
    ----------
    data : mapping
        Calibration data in the file format (``Calibration.to_dict()``).

    Returns
    -------
    list of mapping
        The field objects, economy by economy.
    """
    return [entry for record in data["economies"].values() for entry in record.values()
            if isinstance(entry, Mapping)]


def assumption_share(data: Mapping[str, Any]) -> tuple[int, int]:
    """Count the numbers flagged ``"assumption": true`` and all numbers of calibration data.

    Parameters
    ----------
    data : mapping
        Calibration data in the file format.

    Returns
    -------
    tuple of int
        (assumptions, numbers).
    """
    numbers = entries(data)
    return sum(entry["assumption"] is True for entry in numbers), len(numbers)


# --------------------------------------------------------------------------- sections


def _introduction(default: Calibration, origins: Mapping[int, Calibration]) -> list[str]:
    held = [field for field in FIELDS if field not in PWT_FIELDS]
    left_out = {origin: [code for code in default.economies if code not in calibration.economies]
                for origin, calibration in origins.items()}
    # The sentence calibration_as_of adds to the note of a value held from a later year, as it writes it.
    first_origin = min(origins)
    sentences = [match.group(0) for record in origins[first_origin].sources.values()
                 for field, entry in record.items() if field in held
                 for match in [_HELD.search(entry.get("note", ""))] if match]
    if not sentences:
        raise ValueError(f"no note of calibration_as_of({first_origin}) matches {_HELD.pattern!r}")
    held_sentence = sentences[0]
    years = sorted({default.sources[code][field]["year"] for code in default.economies for field in held})
    growth = default.sources[default.economies[0]]["tfp_growth"]
    # calibration_as_of marks values observed after its year as held; say what that means here.
    marked = [entry for code in default.economies for field in held
              if _HELD.search((entry := default.sources[code][field]).get("note", ""))]
    ever_left = sorted({code for codes in left_out.values() for code in codes})
    left_example = "; ".join(
        f"{code} at the backtest origin{'s' if len(origins) > 1 else ''} {', '.join(map(str, origins))}"
        for code in ever_left
        for origins in [[origin for origin, codes in left_out.items() if code in codes]]
    )
    return [
        "# Calibration data",
        "",
        f"<!-- Generated by scripts/write_calibration_doc.py; do not edit by hand: run `{COMMAND}`. -->",
        "",
        f"The calibration is the data the model starts from: for each of the {len(default.economies)} "
        f"economies, {len(FIELDS)} numbers ([fields](#fields)), each with its unit, data year, source, an "
        "assumption flag and a note. `forecaster.params.build_params` turns them into the base-year "
        "sourcing weights and shares of knowledge growth ([model.md](model.md), section 3). This page is "
        "generated from the code and the data by `scripts/write_calibration_doc.py`; "
        "`tests/test_calibration_doc.py` fails when it is out of date.",
        "",
        "## How the default calibration is built",
        "",
        f"`forecaster.load_calibration()` (no path) returns `calibration_as_of({PWT_LAST_YEAR}, "
        f"base_year={DEFAULT_BASE_YEAR})`: name `{default.name}`, version `{default.version}`, SHA-256 "
        f"`{default.digest}` (recorded in every output). Its base year is {default.base_year}, so "
        f"forecasts start in {default.base_year + 1}. It has two parts:",
        "",
        f"- **Computed from Penn World Table 9.1** ({', '.join(f'`{f}`' for f in PWT_FIELDS)}): from the "
        f"project's extract ([data.md](data.md)) with the data up to {PWT_LAST_YEAR}, the last year of "
        "PWT 9.1, by `forecaster.calibration.calibration_as_of`. EU-27 and ASEAN are aggregated from "
        "their members (`forecaster.history.economy_history`). These numbers are computed, not typed "
        "in; one that rests on an assumed constant is flagged as an assumption and its note says so.",
        f"- **Held from `{DATA_FILE}`** (the other {len(held)} fields): each number as found or "
        f"assumed, with its own data year ({years[0]} to {years[-1]}), source, assumption flag and note.",
        "",
        f"The computed fields thus describe {PWT_LAST_YEAR} (trend and volatility: the windows "
        f"ending in {PWT_LAST_YEAR}) and are taken as the state of {default.base_year}."
        + (f" Because the default is a calibration as of {PWT_LAST_YEAR}, the {len(marked)} numbers of "
           f"`{DATA_FILE}` with a data year after {PWT_LAST_YEAR} carry in their note the sentence "
           "that marks a value held from a later year (see the next section); in the default it "
           "means only that they are later than the Penn World Table data." if marked else ""),
        "",
        "With $\\Delta_t = \\ln \\mathrm{rtfpna}_{t} - \\ln \\mathrm{rtfpna}_{t-1}$ the annual TFP growth "
        "of an economy and $T$ the last year of data:",
        "",
        "$$g = \\frac{1}{|W_g|} \\sum_{t \\in W_g} \\Delta_t, \\qquad \\sigma = "
        "\\sqrt{\\frac{1}{|W_\\sigma| - 1} \\sum_{t \\in W_\\sigma} (\\Delta_t - \\bar\\Delta)^2},$$",
        "",
        f"where $W_g$ are the years of the last {TREND_WINDOW_YEARS} (`TREND_WINDOW_YEARS`) and "
        f"$W_\\sigma$ of the last {VOLATILITY_WINDOW_YEARS} (`VOLATILITY_WINDOW_YEARS`) up to $T$ in "
        "which growth is defined, and $\\bar\\Delta$ the mean over $W_\\sigma$. Both windows are "
        "assumptions, chosen before any backtest. The trend $g$ is the growth every draw reproduces "
        "in the base year; $\\sigma$ is the scale of the economy's macro shock. The note of each "
        f"number gives its window (e.g. China's trend: {growth['note']}).",
        "",
        "## A calibration as of a past year",
        "",
        "`forecaster.calibration_as_of(year)` builds the same calibration with the Penn World Table "
        "data up to `year` only: later years are cut before anything is computed, so they cannot "
        "matter (`tests/test_calibration_history.py` scrambles them and requires the same digest). "
        "The base year is `year` unless `base_year=` says otherwise, and the version gets "
        f"`+pwt<year>`. The fields of `{DATA_FILE}` keep their values; where a value's data year is "
        f"after the base year (no series in the project reaches back), its note says so (e.g. as of "
        f"{first_origin}: \"{held_sentence}\"). An economy with "
        f"fewer than {MIN_YEARS} years of TFP growth in a window (`MIN_YEARS`) or no TFP level in "
        "`year` is left out and named in the calibration's description"
        + (f" (e.g. {left_example})" if left_example else "")
        + ". The arguments `pwt=` and `inputs=` take another extract or other inputs. The backtest "
        "([validation.md](validation.md)) calibrates this way at each origin; "
        "[below](#calibration-at-the-backtest-origins) are the values at its origins.",
        "",
    ]


def _supplying(default: Calibration) -> list[str]:
    data = default.to_dict()
    code = default.economies[0]
    # A share held from the data file, for the example error (a share written in percent).
    field = next(field for field in FIELDS if field not in PWT_FIELDS and FIELDS[field][1] <= 1.0)
    example = shipped_inputs()["economies"][code][field]
    wrong = json.loads(json.dumps(data))
    wrong["economies"][code][field]["value"] = round(100.0 * example["value"], 10)
    try:
        calibration_from_dict(wrong)
    except CalibrationError as error:
        message = str(error)
    else:  # pragma: no cover - the range check is the loader's
        raise AssertionError(f"a share written in percent ({field}) was accepted")
    return [
        "## Supplying your own calibration",
        "",
        "Pass a complete file in the format of `Calibration.to_dict()` to "
        "`forecaster.load_calibration(path)`, to the command line (`forecaster forecast --calibration "
        "FILE`) or to the service (`FORECASTER_CALIBRATION`, [api.md](api.md)). The simplest start "
        "is the default written out:",
        "",
        "```python",
        "import json",
        "from forecaster import load_calibration",
        "",
        "with open(\"my-calibration.json\", \"w\") as out:",
        "    json.dump(load_calibration().to_dict(), out, indent=2, ensure_ascii=False)",
        "# edit my-calibration.json, then",
        "calibration = load_calibration(\"my-calibration.json\")",
        "```",
        "",
        "A file is used as it is: nothing in it is recomputed from the Penn World Table.",
        "",
        "- The top level needs `name`, `version`, `base_year` (an integer year) and `economies`; "
        "`description` is optional.",
        "- `economies` maps codes (2-8 letters or digits) to records. It may hold any subset or "
        "superset of the economies below, at least two. The file order is the model's array order.",
        f"- Each record has a `bloc` (`west`, `east` or `nonaligned`), an optional `name`, and every "
        f"one of the {len(FIELDS)} [fields](#fields); other keys are rejected.",
        "- Each field is an object with `value` (number), `unit` (string), `year` (integer), `source` "
        "(non-empty string), `assumption` (true or false) and an optional `note`. Other keys are "
        "rejected.",
        "- Shares and growth rates are fractions, not percent (this page shows growth rates in "
        "percent).",
        "- The file is validated field by field, every value against its allowed range. An error "
        f"(`CalibrationError`) names the economy and the field; e.g. the default with {code}'s `{field}` "
        "written in percent gives:",
        "",
        "```text",
        message,
        "```",
        "",
        f"A field object ({code}'s `{field}` in `{DATA_FILE}`):",
        "",
        "```json",
        json.dumps(example, indent=2, ensure_ascii=False),
        "```",
        "",
    ]


def _economies(default: Calibration) -> list[str]:
    pwt = load_pwt()
    missing = members_without_tfp(pwt)
    rows = [[code, name, bloc, " ".join(MEMBERS[code]) if MEMBERS[code] != (code,) else code]
            for code, name, bloc in zip(default.economies, default.names, default.blocs, strict=True)]
    lines = [
        "## Economies and blocs",
        "",
        "Blocs are a modelling assumption for fragmentation scenarios. They follow the US-centric vs "
        "China-centric split of Aiyar et al. (2023, IMF Staff Discussion Note). The Penn World Table "
        "countries are those whose data make up the economy's computed fields.",
        "",
        *_table(["code", "name", "bloc", "Penn World Table countries"], rows),
    ]
    if missing:
        said = "; ".join(f"{code}: {' '.join(countries)}" for code, countries in missing.items())
        lines += [f"Members with no TFP data in PWT 9.1, so that the aggregate's TFP is that of the "
                  f"others: {said} ([data.md](data.md)).", ""]
    return lines


def _fields(default: Calibration) -> list[str]:
    methods = pwt_methods()
    rows = []
    for field, (*_, meaning) in FIELDS.items():
        units = sorted({default.sources[code][field]["unit"] for code in default.economies})
        assumed = sum(default.sources[code][field]["assumption"] for code in default.economies)
        how = (f"computed from PWT 9.1: {methods[field]}" if field in PWT_FIELDS
               else f"held from `{DATA_FILE}`")
        rows.append([f"[`{field}`](#{field})", meaning, "; ".join(units), _interval(field), how,
                     f"{assumed} of {len(default.economies)}"])
    assumed, numbers = assumption_share(default.to_dict())
    computed = [default.sources[code][field] for code in default.economies for field in PWT_FIELDS]
    held = [default.sources[code][field] for code in default.economies for field in FIELDS
            if field not in PWT_FIELDS]
    parts = [
        f"{_count(computed)} computed from the Penn World Table",
        f"{_count(held)} held from `{DATA_FILE}`",
    ]
    return [
        "## Fields",
        "",
        "Every economy has every field. The unit is that of the stored value; the allowed range is "
        "checked on loading (`forecaster.calibration.FIELDS`; `[` and `]` include the bound).",
        "",
        *_table(["field", "meaning", "unit", "allowed range", "where it comes from", "assumptions"], rows),
        "### Share of assumptions",
        "",
        f"Of the {numbers} numbers of the default calibration, {_share(assumed, numbers)} are "
        f"assumptions (`\"assumption\": true`): {parts[0]}, {parts[1]}. "
        f"In model 1.0 (`{DATA_FILE}` at commit `{MODEL_1_COMMIT}`, every number typed in) it was "
        f"{_share(MODEL_1_ASSUMED, MODEL_1_NUMBERS)}.",
        "",
    ]


def _values(default: Calibration) -> list[str]:
    rows = []
    for k, code in enumerate(default.economies):
        row = [code]
        for field in FIELDS:
            mark = "†" if default.sources[code][field]["assumption"] else ""
            row.append(fmt(field, float(default[field][k])) + mark)
        rows.append(row)
    rates = ", ".join(f"`{field}`" for field in RATE_FIELDS)
    first = default.economies[0]
    stored = default.sources[first]["tfp_growth"]["value"]
    return [
        "## The default calibration",
        "",
        f"Values of `load_calibration()`. Growth rates ({rates}) are in percent a year (the file "
        f"stores fractions: {first}'s trend TFP growth, {fmt('tfp_growth', stored)} here, is stored "
        f"as `{stored!r}`); other values as stored, to four significant digits; † marks an "
        "assumption. Sources and notes per number are [below](#sources-field-by-field).",
        "",
        *_table(["economy", *(f"`{field}`" for field in FIELDS)], rows),
    ]


def _foreign_shares(default: Calibration) -> list[str]:
    field = "foreign_idea_share"
    rows = []
    for k, code in enumerate(default.economies):
        entry = default.sources[code][field]
        note = str(entry.get("note", ""))
        if entry["assumption"]:
            published, status = "no published estimate (assumption)", "-"
        else:
            published = re.split(r"; |: |\. ", note, maxsplit=1)[0].rstrip(".")
            unverified = "abstract" in note.lower() and "unverified" in note.lower()
            status = "unverified beyond the abstract" if unverified else "see the note below"
        source = "-" if entry["source"] == "assumption" else entry["source"]
        rows.append([code, fmt(field, float(default[field][k])), published, source, status])
    home = DEFAULT_ASSUMPTIONS.domestic_diffusion_share
    return [
        "## Foreign share of base-year knowledge growth: model vs published",
        "",
        f"`{field}` is the share $F_n$ of an economy's base-year knowledge growth learnt from abroad. "
        f"Since model 2.0 (this is model {MODEL_VERSION}) every draw reproduces it exactly in the base "
        "year, by construction: the per-draw calibration (`forecaster.kernel.calibrated_rates`) solves "
        "each draw's rates of research, home learning and learning from abroad at its own $\\theta$ and "
        "$\\beta$ so that, with the shocks off, the share from abroad is $F_n$ "
        "(`tests/test_engine.py` checks it). The model column is therefore the calibrated value "
        f"itself. Of the rest, a share of {home:g} comes from diffusion of the economy's own ideas "
        "(`Assumptions.domestic_diffusion_share`, an assumption), the remainder from new research.",
        "",
        "The published figure or bound is the statement of the source quoted at the head of each "
        "number's note; where the note says that only the abstract was read, it is marked unverified "
        "beyond the abstract. How each model value follows from it, and the reasoning behind each "
        f"assumption, are in the notes of [`{field}`](#{field}) below.",
        "",
        *_table(["economy", "model (every draw)", "published figure or bound", "source cited", "checked"],
                rows),
    ]


def _origins(origins: Mapping[int, Calibration], default: Calibration) -> list[str]:
    codes = default.economies
    rows = []
    for code in codes:
        row: list[object] = [code]
        for calibration in origins.values():
            if code in calibration.economies:
                k = calibration.economies.index(code)
                row += [fmt("tfp_growth", float(calibration["tfp_growth"][k])),
                        fmt("tfp_volatility", float(calibration["tfp_volatility"][k]))]
            else:
                row += ["left out", "left out"]
        rows.append(row)
    header = ["economy"] + [f"{origin} {what}" for origin in origins for what in ("trend", "volatility")]
    summary = []
    windows = (("tfp_growth", "trend", TREND_WINDOW_YEARS),
               ("tfp_volatility", "volatility", VOLATILITY_WINDOW_YEARS))
    for origin, calibration in origins.items():
        left = [code for code in codes if code not in calibration.economies]
        short = []
        for code in calibration.economies:
            for field, what, window in windows:
                note = calibration.sources[code][field]["note"]
                match = _SPAN.search(note)
                if match is None:
                    raise ValueError(f"{origin} {code} {field}: no span in note {note!r}")
                first, last, years = match.groups()
                if int(years) < window:
                    short.append(f"{code} {what} {first}-{last} ({years} years)")
        held = [entry for code in calibration.economies for field, entry in calibration.sources[code].items()
                if field in FIELDS and field not in PWT_FIELDS]
        later = sum(entry["year"] > origin for entry in held)
        summary.append([origin, len(calibration.economies), _codes(left), "; ".join(short) or "none",
                        f"{later} of {len(held)}"])
    return [
        "## Calibration at the backtest origins",
        "",
        "`calibration_as_of(origin)` at the origins of the reported backtest "
        f"(`forecaster.backtest.DEFAULT_ORIGINS`, [validation.md](validation.md)): trend TFP growth "
        f"(last {TREND_WINDOW_YEARS} years) and its volatility (last {VOLATILITY_WINDOW_YEARS} years), "
        "in percent a year.",
        "",
        *_table(header, rows),
        "Economies left out, windows shorter than their nominal length (the data start later), and "
        f"numbers of `{DATA_FILE}` observed after the origin and held at that later value:",
        "",
        *_table(["origin", "economies", "left out", "shorter windows", "held at a later value"], summary),
    ]


def _by_field(default: Calibration) -> list[str]:
    lines = [
        "## Sources, field by field",
        "",
        "For each field, the value, data year, source, assumption flag and note of every economy in "
        "the default calibration. What is the same for every economy is said once above the table.",
        "",
    ]
    columns: list[tuple[str, str, Callable[[Any], str]]] = [
        ("unit", "unit", str),
        ("year", "year", str),
        ("source", "source", str),
        ("assumption", "assumption", lambda flag: "yes" if flag else "no"),
        ("note", "note", str),
    ]
    methods = pwt_methods()
    for field, (*_, meaning) in FIELDS.items():
        records = [default.sources[code][field] for code in default.economies]
        how = (f"Computed from Penn World Table 9.1: {methods[field]}." if field in PWT_FIELDS
               else f"Held from `{DATA_FILE}`.")
        lines += [f"### `{field}`", "", f"{meaning[0].upper()}{meaning[1:]}. {how} Allowed range "
                  f"{_interval(field)}.", ""]
        varying = []
        for key, label, show in columns:
            shown = [show(record.get(key, "")) for record in records]
            if len(set(shown)) == 1:
                if shown[0]:
                    lines.append(f"- {label} (every economy): {shown[0]}")
            else:
                varying.append((label, shown))
        lines.append("")
        header = ["economy", f"value ({_shown_unit(field)})", *(label for label, _ in varying)]
        rows = [[code, fmt(field, float(default[field][k])), *(shown[k] for _, shown in varying)]
                for k, code in enumerate(default.economies)]
        lines += _table(header, rows)
    return lines


# --------------------------------------------------------------------------- page


def render() -> str:
    """Return the text of ``docs/calibration.md``.

    Returns
    -------
    str
        The page, ending with one newline.
    """
    default = load_calibration()
    origins = {origin: calibration_as_of(origin) for origin in DEFAULT_ORIGINS}
    lines = [
        *_introduction(default, origins),
        *_supplying(default),
        *_economies(default),
        *_fields(default),
        *_values(default),
        *_foreign_shares(default),
        *_origins(origins, default),
        *_by_field(default),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the page, or with ``--check`` only compare it.

    Parameters
    ----------
    argv : sequence of str, optional
        Command-line arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0, or 1 when ``--check`` finds the file different.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="page to write or check")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if the file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else None
        if current != text:
            print(f"{args.path} is out of date: run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
