"""Compare two versions of the model and print the comparison as Markdown.

Usage::

    .venv/bin/python scripts/compare_models.py BEFORE AFTER [--draws 2000] [--seed 1]

``BEFORE`` and ``AFTER`` are git revisions, or ``.`` for the working tree, for example
``scripts/compare_models.py 0e6a690 .`` (model 1.0 against the working tree). Each revision
is checked out in a temporary ``git worktree`` (removed afterwards; ``.`` uses the working
tree itself) and measured in a subprocess that runs there, imports that revision's
``forecaster`` package and hands its results back as JSON. The measurement uses only
functions that exist in every version: ``load_calibration``, ``build_params``, ``PRESETS``,
``draw_shocks``, ``simulate`` and ``neutral_shocks``, each revision with its own shipped
calibration.

Measurements, all from one seed, 2,000 draws and a 30-year horizon by default:

1. Effects at the horizon: for each preset, the mean over draws of
   ``ln TFP_policy - ln TFP_baseline`` and of ``ln NQPF_policy - ln NQPF_baseline`` in the
   last year, in percent, with policy and baseline simulated on the same shocks (common
   random numbers).
2. First-year TFP growth with the shocks off and the parameter draws (theta, beta, lever
   efficacy) on: p5, p50 and p95 across draws. Where ``draw_shocks`` has no
   ``parameter_scale`` (model 1.0, whose ``shock_scale`` scales everything), the shocks are
   drawn at scale 1 and the research, macro and fragmentation shocks are then set to 0 and
   lumpiness to 1 by hand, keeping theta, beta and efficacy.
3. Foreign share of base-year knowledge growth: in year 1 at neutral shocks, the goods,
   factors and digital channels over the knowledge channels (every channel but ``shocks`` or
   ``residual``). In model 1.0 those three channels include the home term of diffusion
   (learning from the economy's own ideas); from 2.0 on it is the separate ``domestic``
   channel.
4. Variance shares: the share of the variance of each economy's 30-year mean TFP growth under
   the ``high-level-opening`` preset, at scale 1, explained by theta, beta and lever efficacy.
   The first-order index Var(E[Y|X]) / Var(Y) is estimated from the same draws by averaging
   Y within equal-count bins of X; under no effect this estimate is about (bins - 1) / draws,
   which is subtracted. Efficacy is four independent draws, one per lever: its row is the sum
   of the four levers' indices. The remainder, 1 minus the three, is what the shocks and the
   interactions explain.

The output is deterministic for the same revisions, numpy build and options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Presets compared against the baseline, in column order.
PRESET_NAMES = ("hardware", "software", "digital", "industrial", "high-level-opening", "fragmentation")
#: Preset under which the variance shares are measured (it exercises all four levers).
VARIANCE_PRESET = "high-level-opening"
#: Channels that carry learning from abroad (in 1.0 they also carry the home term).
FOREIGN_CHANNELS = ("goods", "factors", "digital")
#: Channels that are not knowledge growth: the macro shock (1.0) or the residual (2.0 on).
NON_KNOWLEDGE_CHANNELS = ("shocks", "residual")
#: Parameter groups of the variance decomposition.
GROUPS = ("theta", "beta", "efficacy")
#: Threads for numerical libraries in the measurement subprocesses (the machine is shared).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def first_order_share(x: np.ndarray, y: np.ndarray, bins: int) -> float:
    """Estimate the first-order share Var(E[Y|X]) / Var(Y) from given data, bias-corrected.

    E[Y|X] is estimated by the mean of Y within ``bins`` equal-count bins of X (draws sorted
    by X, ties broken by draw order). The raw estimate, the between-bin sum of squares over
    the total, is biased upwards by about ``(bins - 1) / len(y)`` (its value when X has no
    effect); that bias is subtracted, so the result may be slightly negative.

    Parameters
    ----------
    x : ndarray, shape (D,)
        The input.
    y : ndarray, shape (D,)
        The output.
    bins : int
        Number of equal-count bins.

    Returns
    -------
    float
    """
    centred = y - y.mean()
    total = float(np.sum(centred**2))
    if total == 0.0:
        return 0.0
    between = sum(
        len(members) * float(centred[members].mean()) ** 2
        for members in np.array_split(np.argsort(x, kind="stable"), bins)
    )
    return between / total - (bins - 1) / len(y)


def measure(options: dict[str, Any]) -> dict[str, Any]:
    """Run the measurements with the ``forecaster`` package found first on ``sys.path``.

    Parameters
    ----------
    options : dict
        ``draws``, ``seed``, ``horizon``, ``bins`` and ``root`` (the checkout the package must
        come from).

    Returns
    -------
    dict
        JSON-serialisable results (see the module docstring).
    """
    import inspect

    import forecaster
    from forecaster import PRESETS, load_calibration
    from forecaster.kernel import simulate
    from forecaster.params import build_params
    from forecaster.shocks import draw_shocks, neutral_shocks

    package = Path(forecaster.__file__).resolve().parent
    if package.parent != Path(options["root"]).resolve():
        raise RuntimeError(f"imported forecaster from {package}, not from {options['root']}")
    draws, seed, horizon, bins = options["draws"], options["seed"], options["horizon"], options["bins"]
    calibration = load_calibration()
    base = build_params(calibration, PRESETS["baseline"], horizon_years=horizon)
    shocks = draw_shocks(np.random.default_rng(seed), base, draws)
    baseline = simulate(base, shocks)
    channels = list(forecaster.CHANNELS)
    if baseline.channel_growth.shape[-1] != len(channels):
        raise RuntimeError(f"channel_growth has {baseline.channel_growth.shape[-1]} channels, not {channels}")

    # 1. Effects at the horizon on log TFP and log NQPF, policy and baseline on the same shocks.
    effects: dict[str, dict[str, list[float]]] = {}
    outcome = None
    for name in PRESET_NAMES:
        paths = simulate(build_params(calibration, PRESETS[name], horizon_years=horizon), shocks)
        effects[name] = {}
        for variable in ("tfp", "nqpf"):
            difference = 100.0 * np.log(getattr(paths, variable)[:, -1] / getattr(baseline, variable)[:, -1])
            effects[name][variable] = difference.mean(axis=0).tolist()
            effects[name][f"{variable}_mcse"] = (difference.std(axis=0, ddof=1) / np.sqrt(draws)).tolist()
        if name == VARIANCE_PRESET:
            outcome = paths.tfp_growth.mean(axis=1)  # 30-year mean TFP growth, (D, N)

    # 2. First-year TFP growth with the shocks off and the parameter draws on.
    if "parameter_scale" in inspect.signature(draw_shocks).parameters:
        quiet = draw_shocks(np.random.default_rng(seed), base, draws, shock_scale=0.0, parameter_scale=1.0)
        setup = "draw_shocks(shock_scale=0, parameter_scale=1)"
    else:
        quiet = dataclasses.replace(
            shocks,
            research=np.zeros_like(shocks.research),
            macro=np.zeros_like(shocks.macro),
            fragmentation=np.zeros_like(shocks.fragmentation),
            lumpiness=np.ones_like(shocks.lumpiness),
        )
        setup = "draw_shocks at scale 1, then research, macro and fragmentation 0 and lumpiness 1"
    first = 100.0 * simulate(base, quiet).tfp_growth[:, 0]
    spread = {f"p{q}": np.percentile(first, q, axis=0).tolist() for q in (5, 50, 95)}
    spread["range"] = np.ptp(first, axis=0).tolist()

    # 3. Foreign share of base-year knowledge growth, year 1 at neutral shocks.
    neutral = simulate(base, neutral_shocks(base, 1)).channel_growth[0, 0]  # (N, channel)
    knowledge = [k for k, name in enumerate(channels) if name not in NON_KNOWLEDGE_CHANNELS]
    foreign = [channels.index(name) for name in FOREIGN_CHANNELS]
    foreign_share = neutral[:, foreign].sum(axis=1) / neutral[:, knowledge].sum(axis=1)
    domestic = (
        (neutral[:, channels.index("domestic")] / neutral[:, knowledge].sum(axis=1)).tolist()
        if "domestic" in channels
        else None
    )

    # 4. Variance shares of the 30-year mean TFP growth by parameter group.
    assert outcome is not None
    inputs = {"theta": [shocks.theta], "beta": [shocks.beta], "efficacy": list(shocks.efficacy.T)}
    variance: dict[str, list[float]] = {
        group: [
            sum(first_order_share(x, outcome[:, n], bins) for x in inputs[group])
            for n in range(len(base.economies))
        ]
        for group in GROUPS
    }
    variance["remainder"] = [1.0 - sum(variance[g][n] for g in GROUPS) for n in range(len(base.economies))]

    return {
        "model_version": forecaster.MODEL_VERSION,
        "calibration": f"{calibration.name} {calibration.version}",
        "economies": list(base.economies),
        "channels": channels,
        "effects": effects,
        "first_year": spread,
        "first_year_setup": setup,
        "foreign_share": foreign_share.tolist(),
        "domestic_share": domestic,
        "variance": variance,
    }


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def checkout(root: Path, revision: str) -> Iterator[Path]:
    """Yield a directory holding ``revision``: the working tree for ``.``, else a temporary worktree."""
    if revision == ".":
        yield root
        return
    commit = _git(root, "rev-parse", "--verify", f"{revision}^{{commit}}")
    with tempfile.TemporaryDirectory(prefix="compare-models-") as scratch:
        path = Path(scratch) / commit[:12]
        _git(root, "worktree", "add", "--detach", str(path), commit)
        try:
            yield path
        finally:
            _git(root, "worktree", "remove", "--force", str(path))


def label(root: Path, revision: str) -> str:
    """Describe a revision: its short commit, or the working tree and whether it has changes."""
    if revision == ".":
        head = _git(root, "rev-parse", "--short", "HEAD")
        changed = _git(root, "status", "--porcelain", "--untracked-files=no")
        return f"working tree (HEAD {head}{', with uncommitted changes' if changed else ''})"
    return _git(root, "rev-parse", "--short", f"{revision}^{{commit}}")


def run_measurement(root: Path, revision: str, options: dict[str, Any]) -> dict[str, Any]:
    """Measure one revision in a subprocess that imports its ``forecaster`` package."""
    with checkout(root, revision) as path:
        env = dict(os.environ, PYTHONPATH=str(path))
        for variable in THREAD_VARIABLES:
            env.setdefault(variable, "1")
        payload = json.dumps({**options, "root": str(path)})
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--measure", payload],
            cwd=path,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"measuring {revision} failed:\n{done.stderr}")
        results: dict[str, Any] = json.loads(done.stdout)
        results["label"] = label(root, revision)
        return results


def _pair(before: float, after: float, digits: int) -> str:
    return f"{before:.{digits}f} → {after:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(before: dict[str, Any], after: dict[str, Any], options: dict[str, Any]) -> str:
    """Format the two measurements as Markdown tables, before → after in every cell."""
    economies = before["economies"]
    if after["economies"] != economies:
        raise SystemExit(f"the revisions simulate different economies: {economies}, {after['economies']}")
    draws, seed, horizon, bins = options["draws"], options["seed"], options["horizon"], options["bins"]
    lines = [
        f"Before: model {before['model_version']}, {before['label']}, calibration {before['calibration']}. "
        f"After: model {after['model_version']}, {after['label']}, calibration {after['calibration']}. "
        f"{draws:,} draws, seed {seed}, horizon {horizon} years; each cell reads before → after.",
        "",
    ]
    for variable, name in (("tfp", "TFP"), ("nqpf", "NQPF")):
        worst = max(
            max(result["effects"][p][f"{variable}_mcse"]) for result in (before, after) for p in PRESET_NAMES
        )
        lines += [
            f"### Mean effect on log {name} after {horizon} years, percent",
            "",
            f"100 × mean of ln {name}(policy) − ln {name}(baseline) in the last year, policy and baseline "
            f"on the same draws. Largest Monte-Carlo standard error of any cell: {worst:.2f}.",
            "",
        ]
        rows = [
            [code]
            + [
                _pair(before["effects"][p][variable][n], after["effects"][p][variable][n], 2)
                for p in PRESET_NAMES
            ]
            for n, code in enumerate(economies)
        ]
        lines += [*_table(["economy", *PRESET_NAMES], rows), ""]

    lines += [
        "### First-year TFP growth with the shocks off and the parameter draws on, percent",
        "",
        f"Percentiles across {draws:,} draws of theta, beta and efficacy, baseline. Before: "
        f"{before['first_year_setup']}. After: {after['first_year_setup']}. The last column is the "
        "whole range across draws, in percentage points.",
        "",
    ]
    rows = [
        [code]
        + [_pair(before["first_year"][q][n], after["first_year"][q][n], 2) for q in ("p5", "p50", "p95")]
        + [f"{before['first_year']['range'][n]:.2g} → {after['first_year']['range'][n]:.2g}"]
        for n, code in enumerate(economies)
    ]
    lines += [*_table(["economy", "p5", "p50", "p95", "max − min (pp)"], rows), ""]

    def describe(result: dict[str, Any]) -> str:
        if "domestic" in result["channels"]:
            return "goods, factors and digital (learning from abroad only) over the knowledge channels"
        return "goods, factors and digital (including the home term) over research plus those three"

    lines += [
        "### Foreign share of base-year knowledge growth",
        "",
        f"Year 1 at neutral shocks. Before: {describe(before)}. After: {describe(after)}.",
        "",
    ]
    show_domestic = after["domestic_share"] is not None
    header = ["economy", "foreign share"] + (["domestic share (after)"] if show_domestic else [])
    rows = [
        [code, _pair(before["foreign_share"][n], after["foreign_share"][n], 3)]
        + ([f"{after['domestic_share'][n]:.3f}"] if show_domestic else [])
        for n, code in enumerate(economies)
    ]
    lines += [*_table(header, rows), ""]

    lines += [
        f"### Share of the variance of {horizon}-year mean TFP growth explained, percent",
        "",
        f"Preset `{VARIANCE_PRESET}`, shocks and parameters at scale 1. First-order index "
        f"Var(E[Y|X]) / Var(Y), E[Y|X] estimated by the mean of Y within {bins} equal-count bins of X "
        f"on the same {draws:,} draws; this estimator is biased upwards by about (bins − 1) / draws "
        f"= {(bins - 1) / draws:.4f}, which is subtracted from each index (so an index can be slightly "
        "negative). Efficacy: the sum of the four levers' indices. Remainder: 1 minus the three, "
        "i.e. the shocks and the interactions.",
        "",
    ]
    rows = [
        [code]
        + [
            _pair(100 * before["variance"][g][n], 100 * after["variance"][g][n], 1)
            for g in (*GROUPS, "remainder")
        ]
        for n, code in enumerate(economies)
    ]
    lines += _table(["economy", "theta", "beta", "lever efficacy", "remainder"], rows)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, measure both revisions and print the Markdown comparison."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--measure"]:  # inside the subprocess, in the revision's checkout
        print(json.dumps(measure(json.loads(argv[1]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision, or . for the working tree")
    parser.add_argument("after", help="git revision, or . for the working tree")
    parser.add_argument("--draws", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--horizon", type=int, default=30, help="years")
    parser.add_argument("--bins", type=int, default=20, help="equal-count bins of the variance shares")
    args = parser.parse_args(argv)
    options = {"draws": args.draws, "seed": args.seed, "horizon": args.horizon, "bins": args.bins}
    root = Path(_git(Path.cwd(), "rev-parse", "--show-toplevel"))
    before = run_measurement(root, args.before, options)
    after = run_measurement(root, args.after, options)
    print(render(before, after, options))


if __name__ == "__main__":
    main()
