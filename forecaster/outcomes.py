"""Outcomes: what a forecast reports, and the one place where dims, coords and attrs are attached.

:func:`label_draws` labels every draw of a run; :func:`label_summary` labels
the statistics of a summary however they were computed (exactly from the draws
by :mod:`~forecaster.summaries`, or from mergeable sketches by
:mod:`~forecaster.sketch`), so both summaries share one layout.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from forecaster.arrays import FloatArray
from forecaster.calibration import Calibration
from forecaster.kernel import Paths
from forecaster.params import CHANNELS
from forecaster.policy import LEVERS
from forecaster.request import DEFAULT_QUANTILES, ForecastRequest

#: Version of the model equations; bump when results change for the same request.
MODEL_VERSION = "2.2"

#: Assumption stated wherever results are shown (dataset attributes, explorer, docs/model.md).
PARTIAL_EQUILIBRIUM = (
    "Partial equilibrium: unit costs move one-for-one with TFP, so trade shares respond to trade "
    "costs only, never to knowledge; a catching-up economy does not become a bigger supplier, and a "
    "partner that shifts its sourcing towards a lower-knowledge supplier after another economy opens "
    "can learn slightly less."
)
_CELL = ("draw", "year", "economy")
#: Per-draw variables: (dims, units, long name, kind). Outcomes are what the model simulates;
#: circulation indicators are moved by the levers directly and are never part of an outcome.
VARIABLES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "tfp": (_CELL, "1", "TFP level against the economy's base year (headline)", "outcome"),
    "tfp_growth": (_CELL, "1/year", "annual log growth of TFP (headline)", "outcome"),
    "channel_growth": (
        (*_CELL, "channel"),
        "1/year",
        "TFP growth by channel (research, domestic learning, learning from abroad through goods, "
        "factors and data, residual); sums over channel to tfp_growth",
        "outcome",
    ),
    "static_gain": (_CELL, "1", "static gains from trade: log real-income change from trade shares "
                    "against the base year, -ln(pi_nn / pi_nn(0)) / theta (ACR 2012)", "outcome"),
    "real_income": (_CELL, "1", "log real income against the base year: log TFP change plus "
                    "static_gain (dynamic plus static gains)", "outcome"),
    "nqpf": (_CELL, "1", "NQPF composite of TFP and welfare-relevant TFP (base-year mean TFP of "
             "the calibration = 1)", "outcome"),
    "nqpf_growth": (_CELL, "1/year", "annual log growth of the NQPF composite", "outcome"),
    "import_share": (_CELL, "1", "circulation indicator: share of absorption bought abroad, "
                     "1 - pi_nn", "circulation"),
    "digital_openness": (_CELL, "1", "circulation indicator: 1 - Digital STRI after levers and "
                         "fragmentation (0 closed, 1 open)", "circulation"),
    "foreign_factor_share": (_CELL, "1", "circulation indicator: foreign share of factor (FDI, "
                             "talent) links, 1 - f_nn", "circulation"),
}
#: Random inputs of each draw kept beside its outcomes (dims, units, long name), to slice
#: outcomes by. The path shocks (research, lumpiness, macro), each as large as an outcome, are
#: not kept: the request's seed regenerates them.
DRAWN: dict[str, tuple[tuple[str, ...], str, str]] = {
    "theta": (("draw",), "1", "trade elasticity (Frechet shape) drawn for the draw"),
    "beta": (("draw",), "1", "weight of insights in idea diffusion drawn for the draw"),
    "efficacy": (("draw", "lever"), "1", "share of each lever's nominal effect it delivers in the draw"),
    "fragmentation_jump": (("draw", "year"), "1", "increment of between-bloc log trade costs from "
                           "fragmentation events in the year"),
}
#: Variables a summary describes by quantiles, means and MCSEs; TFP, the headline, first. The
#: dynamic gain in log terms is ``real_income - static_gain``.
SUMMARISED = ("tfp", "tfp_growth", "static_gain", "real_income", "nqpf_growth")
#: Labels of the probabilities and their MCSEs (a reduction would carry those of the counted variable).
PROBABILITY_ATTRS = {
    "tfp_growth_prob_above": {"units": "1", "long_name": "P(annual TFP growth > threshold)"},
    "prob_beats_baseline": {"units": "1", "long_name": "P(TFP above the baseline on the same draws)"},
}


def summary_levels(quantiles: Sequence[float]) -> list[float]:
    """Sorted quantile levels of a summary: ``quantiles`` and :data:`DEFAULT_QUANTILES`."""
    return sorted({float(q) for q in quantiles} | set(DEFAULT_QUANTILES))


def scenario_prefixes(has_baseline: bool) -> tuple[str, ...]:
    """Prefixes of a summary's scenarios: the policy, and with a baseline, it and policy - baseline."""
    return ("", "baseline_", "diff_") if has_baseline else ("",)


@dataclass(frozen=True, eq=False)
class SummaryStatistics:
    """The statistics of a summary, unlabelled; :func:`label_summary` labels them.

    ``V = len(SUMMARISED) x S`` variables, :data:`SUMMARISED` fastest, for the
    ``S`` scenarios of :func:`scenario_prefixes`.

    Attributes
    ----------
    quantile : V arrays, shape (levels, T, N)
    mean, mcse : V arrays, shape (T, N)
    channel_mean : S arrays, shape (T, N, C)
    prob_above, prob_above_mcse : ndarray, shape (T, N, thresholds)
    prob_beats, prob_beats_mcse : ndarray, shape (T, N), or None without a baseline
    """

    quantile: Sequence[FloatArray]
    mean: Sequence[FloatArray]
    mcse: Sequence[FloatArray]
    channel_mean: Sequence[FloatArray]
    prob_above: FloatArray
    prob_above_mcse: FloatArray
    prob_beats: FloatArray | None
    prob_beats_mcse: FloatArray | None


def _package_version() -> str:
    try:
        return importlib.metadata.version("nqpf-forecaster")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def provenance(request: ForecastRequest, calibration: Calibration) -> dict[str, object]:
    """Attributes of every dataset and summary: what was asked, with which model and data."""
    return {
        "title": f"NQPF forecast: {request.policy.name}",
        "Conventions": "CF-1.10",
        "seed": str(request.seed),
        "n_draws": request.n_draws,
        "block_size": request.block_size,
        "shock_scale": request.shock_scale,
        "parameter_scale": request.parameter_scale,
        "model_version": MODEL_VERSION,
        "assumption_partial_equilibrium": PARTIAL_EQUILIBRIUM,
        "package_version": _package_version(),
        "numpy_version": np.__version__,
        "calibration": f"{calibration.name} {calibration.version}",
        "calibration_sha256": calibration.digest,
        "policy": request.policy.to_json(),
        "request": request.to_json(),
    }


def label_draws(
    scenarios: Mapping[str, Sequence[Paths]], drawn: Mapping[str, np.ndarray], attrs: Mapping[str, object],
    economies: Sequence[str], years: np.ndarray,
) -> xr.Dataset:
    """Concatenate the paths of each scenario's blocks (in block order) and label them.

    Parameters
    ----------
    drawn : mapping of str to ndarray
        The random inputs of :data:`DRAWN`, every draw, in block order.

    Returns
    -------
    xarray.Dataset
        Variables of :data:`VARIABLES` with a leading ``scenario`` dimension
        (``policy``, and ``baseline`` when compared), those of :data:`DRAWN`,
        and ``attrs``.
    """
    data_vars = {}
    for name, (dims, units, long_name, kind) in VARIABLES.items():
        stacked = np.stack(
            [np.concatenate([getattr(p, name) for p in paths]) for paths in scenarios.values()]
        )
        attrs_of = {"units": units, "long_name": long_name, "kind": kind}
        data_vars[name] = (("scenario", *dims), stacked, attrs_of)
    for name, (dims, units, long_name) in DRAWN.items():
        data_vars[name] = (dims, drawn[name], {"units": units, "long_name": long_name, "kind": "drawn"})
    n_draws = data_vars["tfp"][1].shape[1]
    return xr.Dataset(
        data_vars,
        coords={
            "scenario": list(scenarios),
            "draw": np.arange(n_draws, dtype=np.int32),
            "year": years.astype(np.int32),
            "economy": list(economies),
            "channel": list(CHANNELS),
            "lever": list(LEVERS),
        },
        attrs=dict(attrs),
    )


def label_summary(
    stats: SummaryStatistics, attrs: Mapping[str, object], levels: Sequence[float],
    thresholds: Sequence[float], economies: Sequence[str], years: np.ndarray,
) -> xr.Dataset:
    """Label the statistics of a summary.

    Returns
    -------
    xarray.Dataset
        ``{p}{v}_quantile`` (quantile, year, economy), ``{p}{v}_mean`` and
        ``{p}{v}_mcse`` (year, economy) for v in :data:`SUMMARISED` and each
        prefix p of :func:`scenario_prefixes` (``baseline_`` the baseline,
        ``diff_`` the per-draw difference policy - baseline);
        ``{p}channel_growth_mean`` (year, economy, channel);
        ``tfp_growth_prob_above`` and its ``_mcse`` (year, economy, threshold);
        with a baseline, ``prob_beats_baseline`` (TFP level higher than in the
        baseline on the same shocks) and its ``_mcse``. Attributes ``attrs``.
    """
    coords = {
        "quantile": list(levels),
        "year": np.asarray(years).astype(np.int32),
        "economy": list(economies),
        "channel": list(CHANNELS),
        "threshold": list(thresholds),
    }
    cell = ("year", "economy")
    out: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {}
    for s, prefix in enumerate(scenario_prefixes(stats.prob_beats is not None)):
        for i, name in enumerate(SUMMARISED):
            v = s * len(SUMMARISED) + i
            labels = _labels(name)
            out[f"{prefix}{name}_quantile"] = (("quantile", *cell), stats.quantile[v], labels)
            out[f"{prefix}{name}_mean"] = (cell, stats.mean[v], labels)
            out[f"{prefix}{name}_mcse"] = (cell, stats.mcse[v], labels)
        channels = _labels("channel_growth")
        out[f"{prefix}channel_growth_mean"] = ((*cell, "channel"), stats.channel_mean[s], channels)
        if not prefix:
            above = PROBABILITY_ATTRS["tfp_growth_prob_above"]
            out["tfp_growth_prob_above"] = ((*cell, "threshold"), stats.prob_above, above)
            out["tfp_growth_prob_above_mcse"] = ((*cell, "threshold"), stats.prob_above_mcse, above)
    if stats.prob_beats is not None and stats.prob_beats_mcse is not None:
        beats = PROBABILITY_ATTRS["prob_beats_baseline"]
        out["prob_beats_baseline"] = (cell, stats.prob_beats, beats)
        out["prob_beats_baseline_mcse"] = (cell, stats.prob_beats_mcse, beats)
    return xr.Dataset(out, coords=coords, attrs=dict(attrs))


def _labels(name: str) -> dict[str, str]:
    """Units and long name of a dataset variable (a summary of it carries the same)."""
    _, units, long_name, kind = VARIABLES[name]
    return {"units": units, "long_name": long_name, "kind": kind}


def label_mixes(
    values: Mapping[str, np.ndarray], mixes: Sequence[str], attrs: Mapping[str, object],
    economies: Sequence[str], years: np.ndarray,
) -> xr.Dataset:
    """Label the outcomes of several policy mixes run on the same draws.

    Parameters
    ----------
    values : mapping of str to ndarray, shape (mixes, D, T, N)
        Outcomes of :data:`~forecaster.plan.MIX_OUTCOMES`, draws in block order.
    mixes : sequence of str
        Name of each mix, in the order of the first axis.

    Returns
    -------
    xarray.Dataset
        Each outcome with dims (``mix``, ``draw``, ``year``, ``economy``) and
        the units and long name of :data:`VARIABLES`; ``attrs``.
    """
    data_vars = {name: (("mix", *_CELL), array, _labels(name)) for name, array in values.items()}
    n_draws = next(iter(values.values())).shape[1]
    return xr.Dataset(
        data_vars,
        coords={
            "mix": list(mixes),
            "draw": np.arange(n_draws, dtype=np.int32),
            "year": years.astype(np.int32),
            "economy": list(economies),
        },
        attrs=dict(attrs),
    )
