r"""Historical TFP, human capital and trade of the 12 economies, from Penn World Table 9.1.

The data are a shipped extract of PWT 9.1 (``forecaster/data/pwt91_extract.csv``,
described in ``docs/data.md`` and in ``pwt91_extract.json`` next to it): the member
countries of the 12 economies, 1950-2017, 13 variables, values unchanged.
:func:`load_pwt` reads it by country; :func:`economy_history` aggregates the members
of the EU-27 and ASEAN into one economy each.

Aggregates are weighted means over the members that report the variable (and its
weight) in a year, so the composition of an aggregate changes when members enter
the data:

.. math::

    \bar x_{et} = \frac{\sum_{i \in A_{et}} w_{it} x_{it}}{\sum_{i \in A_{et}} w_{it}},
    \qquad A_{et} = \{ i \in M_e : x_{it} \text{ and } w_{it} \text{ observed} \},

where :math:`M_e` are the members of economy :math:`e` (:data:`MEMBERS`). A single
country is an aggregate of one, so :math:`\bar x_{et} = x_{it}` exactly. Every
output in year :math:`t` depends on data of years :math:`t` and :math:`t-1` only.

Licence of the data: CC BY 4.0, (c) University of Groningen and University of
California, Davis; cite Feenstra, Inklaar and Timmer (2015), "The Next Generation of
the Penn World Table", American Economic Review 105(10), 3150-3182.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from forecaster.errors import ForecasterError

#: The shipped extract and its metadata, in package ``forecaster``.
EXTRACT_CSV = "data/pwt91_extract.csv"
EXTRACT_JSON = "data/pwt91_extract.json"

#: The 27 members of the European Union (since 1 February 2020), ISO 3166-1 alpha-3.
EU27: tuple[str, ...] = (
    "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN", "IRL",
    "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP", "SWE",
)
#: The 10 members of the Association of Southeast Asian Nations.
ASEAN: tuple[str, ...] = ("BRN", "KHM", "IDN", "LAO", "MYS", "MMR", "PHL", "SGP", "THA", "VNM")
#: The 12 economies of the model, in the order of the shipped calibration.
ECONOMIES: tuple[str, ...] = (
    "CHN", "USA", "EU", "JPN", "KOR", "IND", "ASEAN", "GBR", "CAN", "RUS", "TUR", "BRA",
)
_AGGREGATES = {"EU": EU27, "ASEAN": ASEAN}
#: PWT country codes of each economy; a single country maps to itself.
MEMBERS: dict[str, tuple[str, ...]] = {code: _AGGREGATES.get(code, (code,)) for code in ECONOMIES}

#: Units and aggregation of each variable of :func:`economy_history`.
HISTORY_VARIABLES: dict[str, tuple[str, str]] = {
    "tfp_growth": (
        "1/year",
        "annual change of log rtfpna (TFP at constant national prices); aggregates: mean over the "
        "members with rtfpna in t-1 and t, weighted by rgdpna in t-1",
    ),
    "tfp_level": (
        "1 (USA = 1)",
        "ctfp (TFP level at current PPPs); aggregates: mean over the members with ctfp, weighted by cgdpo",
    ),
    "human_capital": (
        "1 (index)",
        "hc (human capital per person); aggregates: mean over the members with hc, weighted by emp",
    ),
    "import_share": (
        "1 (fraction of GDP at market prices)",
        "merchandise imports over GDP at market prices, -csh_m pl_m / pl_gdpo (PWT stores csh_m "
        "negative); aggregates: mean over the members with data, weighted by nominal GDP "
        "cgdpo pl_gdpo, trade between members included",
    ),
    "export_share": (
        "1 (fraction of GDP at market prices)",
        "merchandise exports over GDP at market prices, csh_x pl_x / pl_gdpo; aggregates: mean over "
        "the members with data, weighted by nominal GDP cgdpo pl_gdpo, trade between members included",
    ),
    "rgdpna": (
        "million 2011 USD",
        "real GDP at constant 2011 national prices; aggregates: sum over the members with rgdpna",
    ),
    "gdp_ppp": (
        "million 2011 USD at current PPPs (PWT's unit of cgdpo)",
        "cgdpo (output-side real GDP at current PPPs); aggregates: sum over the members with cgdpo",
    ),
}
#: Percent per unit of growth (a log change of 0.01 is 1 percent).
PERCENT = 100.0


class PwtExtractError(ForecasterError, ValueError):
    """The shipped PWT extract does not match its recorded SHA-256, or its years have gaps."""


def load_pwt(path: str | PathLike[str] | None = None) -> xr.Dataset:
    """Read the PWT 9.1 extract by country and year.

    Parameters
    ----------
    path : str or path-like, optional
        A CSV in the format of the shipped extract (columns ``countrycode``, ``year``,
        then one per variable, empty where missing), e.g. a rebuilt one. By default the
        shipped extract, whose SHA-256 is checked against ``pwt91_extract.json``.

    Returns
    -------
    xarray.Dataset
        One float64 variable of shape (country, year) per PWT column (``rgdpna``,
        ``rgdpo``, ``cgdpo``, ``pop``, ``emp``, ``hc``, ``ctfp``, ``rtfpna``, ``csh_x``,
        ``csh_m``), NaN where PWT has no value, with its PWT definition in attribute
        ``definition``; attributes ``pwt_version``, ``licence``, ``copyright``,
        ``citation`` and ``doi`` of the shipped metadata.

    Raises
    ------
    PwtExtractError
        If the shipped CSV differs from the one the metadata describe.
    """
    data = resources.files("forecaster")
    meta = json.loads(data.joinpath(EXTRACT_JSON).read_text(encoding="utf-8"))
    if path is None:
        raw = data.joinpath(EXTRACT_CSV).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != meta["csv"]["sha256"]:
            raise PwtExtractError(
                f"{EXTRACT_CSV}: SHA-256 {digest} differs from {meta['csv']['sha256']} in {EXTRACT_JSON};"
                " rebuild both with scripts/build_pwt_extract.py (docs/data.md)"
            )
    else:
        raw = Path(path).read_bytes()
    # Only empty cells are missing: no country code or number may be read as NaN.
    frame = pd.read_csv(io.BytesIO(raw), dtype={"countrycode": str}, keep_default_na=False, na_values=[""])
    pwt = frame.set_index(["countrycode", "year"]).sort_index().to_xarray().rename(countrycode="country")
    pwt = pwt.assign_coords(country=pwt.country.values.astype(str))
    for name, variable in pwt.data_vars.items():
        variable.attrs["definition"] = meta["variables"][name]
    pwt.attrs = {
        "pwt_version": meta["pwt_version"],
        "licence": meta["licence"]["name"],
        "copyright": meta["licence"]["copyright"],
        "citation": meta["citation"],
        "doi": meta["doi"],
    }
    return pwt.astype(np.float64, keep_attrs=True)


def _weighted_mean(values: xr.DataArray, weights: xr.DataArray) -> xr.DataArray:
    r"""Mean over ``country`` of ``values`` weighted by ``weights``, where both are observed.

    .. math:: \bar x_t = \sum_i s_{it} x_{it}, \qquad s_{it} = w_{it} / \sum_{j \in A_t} w_{jt}

    Shares are normalised first so that one member gets share exactly 1 and a single
    country comes back unchanged, bit for bit. Shape (country, year) -> (year,); NaN in
    years where no country has both.
    """
    weights = weights.where(values.notnull())
    shares = weights / weights.sum("country", min_count=1)
    return (values * shares).sum("country", min_count=1)


def _aggregate(members: xr.Dataset) -> xr.Dataset:
    """Aggregate the members of one economy into the variables of :func:`economy_history`, shape (year,)."""
    log_tfp = np.log(members.rtfpna)
    nominal_gdp = members.cgdpo * members.pl_gdpo
    return xr.Dataset(
        {
            # A chain index: growth from t-1 to t weighted by each member's real GDP at t-1, the
            # start of the period (also the convention that reproduces the benchmark moments).
            "tfp_growth": _weighted_mean(log_tfp - log_tfp.shift(year=1), members.rgdpna.shift(year=1)),
            "tfp_level": _weighted_mean(members.ctfp, members.cgdpo),
            "human_capital": _weighted_mean(members.hc, members.emp),
            # csh_m is imports at their own price level over GDP at PPPs: times pl_m / pl_gdpo it is
            # their share of GDP at market prices, the share trade models use.
            "import_share": _weighted_mean(-members.csh_m * members.pl_m / members.pl_gdpo, nominal_gdp),
            "export_share": _weighted_mean(members.csh_x * members.pl_x / members.pl_gdpo, nominal_gdp),
            "rgdpna": members.rgdpna.sum("country", min_count=1),
            "gdp_ppp": members.cgdpo.sum("country", min_count=1),
        }
    )


def economy_history(pwt: xr.Dataset, economies: Iterable[str] | None = None) -> xr.Dataset:
    r"""TFP, human capital and trade of the 12 economies, EU and ASEAN aggregated from their members.

    Parameters
    ----------
    pwt : xarray.Dataset
        PWT data of shape (country, year) as returned by :func:`load_pwt`, with every
        member of the requested economies; years consecutive.
    economies : iterable of str, optional
        Codes from :data:`ECONOMIES`, in the order wanted; all 12 by default.

    Returns
    -------
    xarray.Dataset
        Variables of shape (economy, year), for aggregates the weighted mean
        :math:`\bar x_{et}` of the module docstring over the members that report both
        value and weight in the year (NaN where none does); units and aggregation in
        attributes ``units`` and ``description`` (:data:`HISTORY_VARIABLES`):

        - ``tfp_growth``: :math:`\ln \mathrm{rtfpna}_{it} - \ln \mathrm{rtfpna}_{i,t-1}`,
          weighted by :math:`\mathrm{rgdpna}_{i,t-1}` over the members with rtfpna in both
          years. The first year of a member's TFP has no growth, so it enters one year
          later: e.g. seven EU members (HRV CZE EST LVA LTU SVK SVN) from 1995.
        - ``tfp_level``: ``ctfp`` (USA = 1), weighted by ``cgdpo``.
        - ``human_capital``: ``hc``, weighted by ``emp``.
        - ``import_share``: ``-csh_m pl_m / pl_gdpo`` and ``export_share``:
          ``csh_x pl_x / pl_gdpo``, merchandise trade as fractions of GDP at market prices,
          weighted by nominal GDP ``cgdpo pl_gdpo``. For the EU and ASEAN they include trade
          between members, so they overstate the openness of the aggregate to the rest of
          the world.
        - ``rgdpna`` and ``gdp_ppp`` (``cgdpo``): sums over the members with data.

        The attributes of ``pwt`` (version, licence, citation) are kept.

    Raises
    ------
    ValueError
        If an economy code is unknown.
    PwtExtractError
        If the years of ``pwt`` are not consecutive (growth needs t-1 next to t).
    """
    codes = ECONOMIES if economies is None else tuple(economies)
    unknown = [code for code in codes if code not in MEMBERS]
    if unknown:
        raise ValueError(f"economies: unknown codes {unknown}; known: {', '.join(ECONOMIES)}")
    if np.any(np.diff(pwt.year.values) != 1):
        raise PwtExtractError("pwt: years must be consecutive and increasing")
    history = xr.concat([_aggregate(pwt.sel(country=list(MEMBERS[code]))) for code in codes], dim="economy")
    history = history.assign_coords(economy=list(codes))
    for name, (units, description) in HISTORY_VARIABLES.items():
        history[name].attrs = {"units": units, "description": description}
    history.attrs = dict(pwt.attrs)
    return history


def members_without_tfp(pwt: xr.Dataset) -> dict[str, tuple[str, ...]]:
    """Members with no ``rtfpna`` in any year, by economy.

    Parameters
    ----------
    pwt : xarray.Dataset
        PWT data of shape (country, year), as returned by :func:`load_pwt`.

    Returns
    -------
    dict of str to tuple of str
        For each economy with such members (only those), their codes in :data:`MEMBERS`
        order; with PWT 9.1 ``{"ASEAN": ("BRN", "KHM", "MMR", "VNM")}``.
    """
    has_tfp = pwt.rtfpna.notnull().any("year")
    missing = {
        code: tuple(country for country in members if not bool(has_tfp.sel(country=country)))
        for code, members in MEMBERS.items()
    }
    return {code: countries for code, countries in missing.items() if countries}


def tfp_growth_moments(history: xr.Dataset, first: int, last: int) -> xr.Dataset:
    """Mean and standard deviation of annual TFP growth, in percent, over years with data.

    Parameters
    ----------
    history : xarray.Dataset
        Output of :func:`economy_history`, shape (economy, year).
    first, last : int
        First and last growth year included (growth from ``first - 1`` to ``first`` is
        the first one).

    Returns
    -------
    xarray.Dataset
        Shape (economy,): ``mean`` and ``std`` (sample, ddof = 1) of
        ``100 * tfp_growth`` over the years in ``[first, last]`` where it is defined,
        and ``years``, their number (fewer where the data start later, e.g. RUS 1995).
    """
    growth = PERCENT * history.tfp_growth.sel(year=slice(first, last))
    return xr.Dataset(
        {"mean": growth.mean("year"), "std": growth.std("year", ddof=1), "years": growth.count("year")}
    )
