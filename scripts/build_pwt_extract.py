"""Build ``forecaster/data/pwt91_extract.{csv,json}`` from Debian's ``r-cran-pwt9`` package.

Usage (docs/data.md)::

    make pwt                                            # fetch and unpack the .deb into .cache/pwt
    .venv/bin/python scripts/build_pwt_extract.py [PACKAGE_DIR] [--out DIR]

The package keeps its data frames in R's lazy-load database (``data/Rdata.rdx``, an
R-serialized index of offsets, and ``data/Rdata.rdb``, the records); :func:`read_lazyload`
decodes one record and ``rdata`` converts it to pandas. The output is deterministic: rows
sorted by country and year, each double written in its shortest exact form (``repr``), so
a rebuild is byte-identical.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import json
import lzma
import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import rdata

from forecaster.history import ASEAN, EU27, MEMBERS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "r-cran-pwt9"
R_PACKAGE = Path("usr/lib/R/site-library/pwt9")
CHANGELOG = Path("usr/share/doc/r-cran-pwt9/changelog.Debian.gz")
DATASET = "pwt9.1"
FIRST_YEAR, LAST_YEAR = 1950, 2017
COUNTRIES = tuple(sorted({country for members in MEMBERS.values() for country in members}))

# Definitions as in the package's help page (?pwt9.1), which follows the PWT 9.1 documentation.
# The R package calls PWT's countrycode "isocode".
VARIABLES = {
    "countrycode": "ISO 3166-1 alpha-3 country code.",
    "year": "Year.",
    "rgdpna": "Real GDP at constant 2011 national prices (in million 2011 USD).",
    "rgdpo": "Output-side real GDP at chained PPPs (in million 2011 USD).",
    "cgdpo": "Output-side GDP at current PPPs (in million 2011 USD).",
    "pop": "Population (in millions).",
    "emp": "Number of persons engaged (in millions).",
    "hc": "Index of human capital per person, based on years of schooling and returns to education.",
    "ctfp": "TFP level at current PPPs (USA = 1).",
    "rtfpna": "TFP at constant national prices (2011 = 1).",
    "csh_x": "Share of merchandise exports at current PPPs.",
    "csh_m": "Share of merchandise imports at current PPPs.",
    "pl_x": "Price level of exports (price level of USA GDPo in 2011 = 1).",
    "pl_m": "Price level of imports (price level of USA GDPo in 2011 = 1).",
    "pl_gdpo": "Price level of CGDPo (PPP/XR, price level of USA GDPo in 2011 = 1).",
}
CITATION = (
    'Feenstra, Robert C., Robert Inklaar and Marcel P. Timmer (2015), "The Next Generation of the Penn '
    'World Table", American Economic Review, 105(10), 3150-3182, available for download at www.ggdc.net/pwt'
)

# Record formats of R's lazy-load databases (R's serialize.c, R_decompress1..3): with
# compression 1 each record is a 4-byte big-endian length then a zlib stream; with 2 and 3
# a type byte comes between them.
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
_DECOMPRESS: dict[bytes, Callable[[bytes], bytes]] = {
    b"Z": lambda data: lzma.decompress(data, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
    b"2": bz2.decompress,
    b"1": zlib.decompress,
    b"0": bytes,
}


def _unserialize(data: bytes) -> Any:
    # extension=".rds": a bare serialization (no RData header) is expected, not worth a warning.
    return rdata.conversion.convert(rdata.parser.parse_data(data, extension=".rds"))


def read_lazyload(data_dir: Path, name: str) -> Any:
    """Object ``name`` of the lazy-load database ``data_dir/Rdata.{rdx,rdb}``, converted by ``rdata``."""
    index = _unserialize((data_dir / "Rdata.rdx").read_bytes())  # gzip, which rdata detects
    offset, length = (int(n) for n in index["variables"][name])
    with (data_dir / "Rdata.rdb").open("rb") as file:
        file.seek(offset)
        record = file.read(length)
    (size,) = struct.unpack(">I", record[:4])
    if int(index["compressed"][0]) == 1:
        body = zlib.decompress(record[4:])
    else:
        body = _DECOMPRESS[record[4:5]](record[5:])
    if len(body) != size:
        raise ValueError(f"{data_dir}/Rdata.rdb: {name} decodes to {len(body)} bytes, header says {size}")
    return _unserialize(body)


def debian_version(package_dir: Path) -> str:
    """Version of the unpacked Debian package, from the first line of its changelog."""
    with gzip.open(package_dir / CHANGELOG, "rt", encoding="utf-8") as file:
        match = re.match(rf"{re.escape(PACKAGE)} \(([^)]+)\)", file.readline())
    if match is None:
        raise ValueError(f"{package_dir / CHANGELOG}: no version on the first line")
    return match.group(1)


def extract(pwt: pd.DataFrame) -> pd.DataFrame:
    """Select the member countries, 1950-2017, and the columns of :data:`VARIABLES`, sorted."""
    frame = pwt.assign(countrycode=pwt["isocode"].astype(str), year=pwt["year"].astype(int))
    frame = frame.loc[frame["countrycode"].isin(COUNTRIES) & frame["year"].between(FIRST_YEAR, LAST_YEAR)]
    frame = frame[list(VARIABLES)].sort_values(["countrycode", "year"]).reset_index(drop=True)
    expected = len(COUNTRIES) * (LAST_YEAR - FIRST_YEAR + 1)
    if len(frame) != expected or frame.duplicated(["countrycode", "year"]).any():
        raise ValueError(f"{DATASET}: {len(frame)} country-years, expected {expected} distinct ones")
    return frame


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if pd.isna(value):
        return ""
    return repr(float(value)) if isinstance(value, float) else str(value)


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes: header, then one line per row, doubles as ``repr`` (shortest exact), missing empty."""
    lines = [",".join(frame.columns)]
    lines += [",".join(_cell(value) for value in row) for row in frame.itertuples(index=False)]
    return ("\n".join(lines) + "\n").encode("ascii")


def metadata(csv: bytes, rows: int, version: str) -> dict[str, Any]:
    """Contents of ``pwt91_extract.json``."""
    singles = [code for code, members in MEMBERS.items() if members == (code,)]
    return {
        "name": "Penn World Table 9.1, extract for the 12 economies of the NQPF forecaster",
        "pwt_version": "9.1",
        "source": {
            "distribution": "Debian",
            "package": PACKAGE,
            "version": version,
            "r_dataset": DATASET,
            "upstream": "https://www.rug.nl/ggdc/productivity/pwt/",
        },
        "licence": {
            "name": "CC BY 4.0",
            "url": "https://creativecommons.org/licenses/by/4.0/",
            "copyright": "(c) University of Groningen and University of California, Davis",
        },
        "citation": CITATION,
        "doi": "10.15141/S50T0R",
        "notes": "csh_m is negative in PWT: imports are subtracted in GDP",
        "modifications": (
            f"subset of PWT 9.1: {len(COUNTRIES)} countries ({' '.join(singles)} and the members below),"
            f" years {FIRST_YEAR}-{LAST_YEAR}, {len(VARIABLES) - 2} variables; values unchanged;"
            " R's isocode renamed countrycode as in PWT"
        ),
        "years": [FIRST_YEAR, LAST_YEAR],
        "variables": VARIABLES,
        "members": {"EU27": list(EU27), "ASEAN": list(ASEAN)},
        "csv": {"file": "pwt91_extract.csv", "rows": rows, "sha256": hashlib.sha256(csv).hexdigest()},
    }


def build(package_dir: Path, out_dir: Path) -> None:
    """Write ``pwt91_extract.csv`` and ``pwt91_extract.json`` into ``out_dir``."""
    frame = extract(read_lazyload(package_dir / R_PACKAGE / "data", DATASET))
    csv = to_csv(frame)
    meta = metadata(csv, len(frame), debian_version(package_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pwt91_extract.csv").write_bytes(csv)
    (out_dir / "pwt91_extract.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", nargs="?", type=Path, default=ROOT / ".cache/pwt", help="unpacked deb")
    parser.add_argument("--out", type=Path, default=ROOT / "forecaster/data", help="output directory")
    args = parser.parse_args(argv)
    if not (args.package_dir / R_PACKAGE).is_dir():
        parser.error(f"{args.package_dir}: no unpacked {PACKAGE}; run `make pwt` first")
    build(args.package_dir, args.out)


if __name__ == "__main__":
    main()
