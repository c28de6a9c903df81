"""Policy mixes: the four levers of international circulation and a stress scenario.

A :class:`PolicyMix` is a frozen value. It is built from plain data with
:func:`policy_from_dict` (which validates every field and names it in its
errors) or taken from :data:`PRESETS`. How each lever moves the model's
parameters is in :mod:`forecaster.params` and ``docs/model.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from forecaster.errors import PolicyError

LeverName = Literal["hardware", "software", "digital", "industrial"]
LEVERS: tuple[LeverName, ...] = ("hardware", "software", "digital", "industrial")

#: Years a lever may start in; wide on purpose, the forecast window is checked later.
YEAR_RANGE = (1990, 2200)
#: Longest phase-in accepted, in years.
MAX_PHASE_IN_YEARS = 50


@dataclass(frozen=True)
class Lever:
    """One policy lever.

    Parameters
    ----------
    intensity : float
        Share of the lever's full, published-magnitude effect, in [0, 1].
    start_year : int
        First calendar year the lever acts.
    phase_in_years : int
        Years over which the effect ramps up linearly to its full size; 0 means
        at once.
    enacting : tuple of str
        Economies that enact the lever. Empty means every simulated economy.
    partners : tuple of str
        Economies the enacting ones open to. Empty means every simulated economy.
    """

    intensity: float = 0.0
    start_year: int = 2026
    phase_in_years: int = 5
    enacting: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fragmentation:
    """A stress scenario: trade-cost and data-flow barriers rise between blocs.

    Parameters
    ----------
    intensity : float
        Share of the full fragmentation shock, in [0, 1]. At 1, between-bloc
        trade costs rise by the FTA-equivalent ``ln 2 / theta`` (on its own
        halving between-bloc trade in partial equilibrium) and digital
        restrictiveness rises by 0.3 everywhere, which adds a further digital
        trade cost. Blocs are west, east and nonaligned (calibration field
        ``bloc``); costs rise between any two different blocs.
    start_year, phase_in_years : int
        As for :class:`Lever`.
    """

    intensity: float = 0.0
    start_year: int = 2026
    phase_in_years: int = 3


@dataclass(frozen=True)
class PolicyMix:
    """A policy mix: four levers plus an optional fragmentation stress.

    Parameters
    ----------
    hardware, software, digital, industrial : Lever
        The four levers; intensity 0 switches a lever off.
    fragmentation : Fragmentation
        The stress scenario; intensity 0 switches it off.
    name : str
        A label carried into outputs.
    """

    hardware: Lever = field(default_factory=Lever)
    software: Lever = field(default_factory=Lever)
    digital: Lever = field(default_factory=Lever)
    industrial: Lever = field(default_factory=Lever)
    fragmentation: Fragmentation = field(default_factory=Fragmentation)
    name: str = "custom"

    def lever(self, name: LeverName) -> Lever:
        """Return the lever called ``name``."""
        lever: Lever = getattr(self, name)
        return lever

    def to_dict(self) -> dict[str, Any]:
        """Return the mix as plain JSON-ready data (inverse of :func:`policy_from_dict`)."""
        return asdict(self)

    def to_json(self) -> str:
        """Return the mix as canonical JSON (sorted keys), e.g. for dataset attributes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _number(data: Mapping[str, Any], key: str, path: str, low: float, high: float) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{path}.{key}", f"must be a number in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise PolicyError(f"{path}.{key}", f"must be in [{low}, {high}], got {value!r}")
    return float(value)


def _integer(data: Mapping[str, Any], key: str, path: str, low: int, high: int) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{path}.{key}", f"must be an integer in [{low}, {high}], got {value!r}")
    if not low <= value <= high:
        raise PolicyError(f"{path}.{key}", f"must be in [{low}, {high}], got {value!r}")
    return value


def _codes(data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = data[key]
    if not isinstance(value, list | tuple) or not all(isinstance(c, str) for c in value):
        raise PolicyError(f"{path}.{key}", f"must be a list of economy codes, got {value!r}")
    if len(set(value)) != len(value):
        raise PolicyError(f"{path}.{key}", f"lists an economy twice: {list(value)!r}")
    return tuple(value)


def _check_keys(data: Any, path: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise PolicyError(path, f"must be an object, got {type(data).__name__}")
    for key in data:
        if not isinstance(key, str):
            raise PolicyError(f"{path}.{key!r}", f"keys must be field names (strings), got {key!r}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise PolicyError(f"{path}.{unknown[0]}", f"unknown field; allowed: {sorted(allowed)}")
    return data


def _lever_from_dict(data: Any, path: str, base: Lever) -> Lever:
    data = _check_keys(data, path, {f for f in Lever.__dataclass_fields__})
    merged = {**asdict(base), **data}  # fields not given keep the preset's (or default) values
    return Lever(
        intensity=_number(merged, "intensity", path, 0.0, 1.0),
        start_year=_integer(merged, "start_year", path, *YEAR_RANGE),
        phase_in_years=_integer(merged, "phase_in_years", path, 0, MAX_PHASE_IN_YEARS),
        enacting=_codes(merged, "enacting", path),
        partners=_codes(merged, "partners", path),
    )


def _fragmentation_from_dict(data: Any, path: str, base: Fragmentation) -> Fragmentation:
    data = _check_keys(data, path, {f for f in Fragmentation.__dataclass_fields__})
    merged = {**asdict(base), **data}
    return Fragmentation(
        intensity=_number(merged, "intensity", path, 0.0, 1.0),
        start_year=_integer(merged, "start_year", path, *YEAR_RANGE),
        phase_in_years=_integer(merged, "phase_in_years", path, 0, MAX_PHASE_IN_YEARS),
    )


def policy_from_dict(data: Any, path: str = "policy") -> PolicyMix:
    """Build and validate a :class:`PolicyMix` from plain data.

    Parameters
    ----------
    data : mapping
        Either ``{"preset": NAME}`` (optionally with lever overrides) or explicit
        fields ``hardware``, ``software``, ``digital``, ``industrial``,
        ``fragmentation`` (each a mapping of :class:`Lever` fields) and ``name``.
        Missing fields take their defaults; unknown fields are refused.
    path : str
        Prefix for field names in error messages.

    Returns
    -------
    PolicyMix

    Raises
    ------
    PolicyError
        Naming the offending field and the allowed range.
    """
    data = _check_keys(data, path, {*LEVERS, "fragmentation", "name", "preset"})
    base = PolicyMix()
    if "preset" in data:
        base = preset(data["preset"], path=f"{path}.preset")
    levers = {
        name: _lever_from_dict(data[name], f"{path}.{name}", base.lever(name))
        if name in data
        else base.lever(name)
        for name in LEVERS
    }
    fragmentation = (
        _fragmentation_from_dict(data["fragmentation"], f"{path}.fragmentation", base.fragmentation)
        if "fragmentation" in data
        else base.fragmentation
    )
    name = data.get("name", base.name)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise PolicyError(f"{path}.name", f"must be a string of 1 to 64 characters, got {name!r}")
    # Names are stored, written into files and sent back: a lone surrogate cannot be encoded as
    # UTF-8 and a control character breaks lines and terminals (isprintable is False for both).
    if not name.isprintable():
        raise PolicyError(f"{path}.name", f"must be printable text (no control characters or lone "
                                          f"surrogates), got {name!r}")
    return PolicyMix(**levers, fragmentation=fragmentation, name=name)


def _full(*, enacting: tuple[str, ...] = ("CHN",)) -> Lever:
    return Lever(intensity=1.0, enacting=enacting)


#: Named presets. The levers are enacted by China (the economy whose
#: "high-level international circulation" the service studies) towards all
#: partners, from 2026 with a five-year phase-in.
PRESETS: dict[str, PolicyMix] = {
    "baseline": PolicyMix(name="baseline"),
    "hardware": PolicyMix(hardware=_full(), name="hardware"),
    "software": PolicyMix(software=_full(), name="software"),
    "digital": PolicyMix(digital=_full(), name="digital"),
    "industrial": PolicyMix(industrial=_full(), name="industrial"),
    "high-level-opening": PolicyMix(
        hardware=_full(),
        software=_full(),
        digital=_full(),
        industrial=_full(),
        name="high-level-opening",
    ),
    "fragmentation": PolicyMix(fragmentation=Fragmentation(intensity=1.0), name="fragmentation"),
}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "baseline": "No policy change: current trade costs, data regimes and cooperation persist.",
    "hardware": "China upgrades physical interconnectivity with all partners (the trade gain of "
    "moving from 75th-percentile to median infrastructure costs).",
    "software": "China aligns rules and standards with all partners (an FTA-equivalent cut "
    "in regulatory trade costs) and strengthens IP-based idea diffusion.",
    "digital": "China opens cross-border data flows towards the most open observed regime.",
    "industrial": "China deepens FDI, joint-R&D and talent links with all partners.",
    "high-level-opening": "All four levers at full intensity, enacted by China.",
    "fragmentation": "Stress: trade costs between geopolitical blocs rise by an FTA-equivalent "
    "and data-flow restrictions tighten everywhere.",
}


#: What each lever moves, and the published magnitude its full effect is sized to
#: (details and formulas: docs/model.md section 5.2).
LEVER_DESCRIPTIONS: dict[str, str] = {
    "hardware": "Physical interconnectivity (transport, logistics, networks): cuts trade costs "
    "on enacting-partner pairs by ln(1/0.72) / theta at full intensity, raising bilateral trade "
    "by 1/0.72 (x1.39) at every theta: worse infrastructure, from the median to the 75th "
    "percentile of transport costs, raises them 12 pp and cuts trade 28% (Limao and Venables 2001).",
    "software": "Rule and standards alignment, IP: an FTA-equivalent trade-cost cut (ln 2 / theta, "
    "doubling bilateral trade in partial equilibrium; Baier and Bergstrand 2007) and +10% "
    "idea-diffusion rate for the enacting economies (assumption).",
    "digital": "Cross-border data flows: moves the enacting economies' Digital STRI towards the "
    "most open observed score (0.04, OECD), lowering trade costs and raising data links.",
    "industrial": "Industrial cooperation (FDI, joint R&D, talent): +50% factor links with "
    "partners before renormalisation (order of magnitude of Bahar and Rapoport 2018; assumption).",
}


def preset(name: str, path: str = "preset") -> PolicyMix:
    """Return the preset called ``name``.

    Raises
    ------
    PolicyError
        If no preset has that name; the message lists the known ones.
    """
    if name not in PRESETS:
        raise PolicyError(path, f"unknown preset {name!r}; known presets: {sorted(PRESETS)}")
    return PRESETS[name]
