"""Batch jobs: many forecasts and analyses from one YAML or JSON file.

File format::

    defaults:            # optional, applied to every scenario
      draws: 10000
      horizon_years: 30
      seed: 1
    scenarios:
      - name: opening
        policy: high-level-opening
      - name: asean-digital
        policy: {digital: {intensity: 0.8, enacting: [ASEAN]}}
        economies: [CHN, USA, EU, ASEAN]
      - name: opening-levers
        analysis: attribution       # or comparison, sensitivity (docs/analysis.md)
        policy: high-level-opening
        draws: 1000

A scenario is a forecast unless ``analysis`` names one; its other fields are those of the
HTTP body of its kind (``levers``, ``policies``, ``groups``), and a default it does not take
(``quantiles`` for an attribution, say) is left out for it. The whole file is validated before
anything runs. Each scenario writes ``NAME.nc`` (a forecast's every draw, or for runs too
large to keep every draw, above ``forecaster.EXACT_MAX_CELLS``, the summary, whose
``summary_method`` attribute says so; an analysis's result) and ``NAME.done.json`` (request,
calibration hash, model version, SHA-256 of the netCDF, a forecast's headline rows);
``summary.csv`` collects the headline rows of all forecasts. A rerun skips scenarios whose
outputs verify against their manifest and redoes the rest.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from api.jobs import JobSpec
from api.results import sha256_of
from api.schema import BODIES, check_job, parse_job
from forecaster import (
    MODEL_VERSION,
    Calibration,
    Executor,
    Forecast,
    ForecasterError,
    RequestError,
    headline_table,
    write_netcdf,
)
from forecaster.errors import bounded

#: Exit codes of ``forecaster batch`` (meanings in :mod:`api.cli`); 130 as a shell reports SIGINT.
EXIT_OK, EXIT_INVALID, EXIT_SCENARIO_FAILED, EXIT_CLUSTER_UNAVAILABLE, EXIT_JOB_FAILED = 0, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_SCENARIOS = 1000
#: Largest batch file read: a thousand scenarios with policies of their own fit in well under it.
MAX_FILE_BYTES = 4_000_000


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases (``*name``).

    A few hundred bytes of nested aliases can expand to gigabytes ("billion laughs"), and a
    batch file has no need of them.
    """

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            message = "aliases (*name) are not allowed in batch files"
            raise yaml.composer.ComposerError(None, None, message, mark)
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


class BatchFileError(ForecasterError):
    """A batch file is invalid; ``problems`` names each invalid scenario (or default) and its field."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s), nothing was run:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Scenario:
    """One named scenario of a batch file: a forecast or an analysis."""

    name: str
    spec: JobSpec


def load_batch(path: Path, calibration: Calibration) -> list[Scenario]:
    """Parse and validate a whole batch file, including economies against ``calibration``.

    Raises
    ------
    BatchFileError
        Listing every invalid scenario and field; nothing has run.
    """
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            limit = f"the file is {size:,} bytes, more than the limit of {MAX_FILE_BYTES:,}"
            raise BatchFileError(path, [limit])
        # JSON is YAML; the safe loader builds plain data only, and this one refuses aliases.
        data = yaml.load(path.read_text(), Loader=_NoAliasLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BatchFileError(path, [f"cannot read the file: {bounded(str(error))}"]) from None
    if not isinstance(data, Mapping) or set(data) - {"defaults", "scenarios"}:
        raise BatchFileError(path, ["the file must be an object with 'scenarios' (and optional 'defaults')"])
    defaults = data.get("defaults") or {}
    scenarios = data.get("scenarios")
    if not isinstance(defaults, Mapping):
        raise BatchFileError(path, ["defaults: must be an object"])
    if not isinstance(scenarios, list) or not 1 <= len(scenarios) <= MAX_SCENARIOS:
        raise BatchFileError(path, [f"scenarios: must be a list of 1 to {MAX_SCENARIOS} scenarios"])
    try:  # a wrong default is reported once, at its place, not under every scenario it reaches
        parse_job(defaults, "forecast", where="defaults")
    except RequestError as error:
        raise BatchFileError(path, [str(error)]) from None
    problems: list[str] = []
    loaded: list[Scenario] = []
    seen: set[str] = set()
    for index, entry in enumerate(scenarios):
        name = entry.get("name") if isinstance(entry, Mapping) else None
        label = f"scenarios[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            problems.append(f"{label}.name: must be 1-64 letters, digits, '_', '-' or '.', got {name!r}")
            continue
        if name in seen:
            problems.append(f"{label}.name: used by an earlier scenario")
            continue
        seen.add(name)
        kind = entry.get("analysis", "forecast")
        if kind not in BODIES:
            allowed = f"must be one of {sorted(BODIES)}"
            problems.append(f"{label}.analysis: {allowed}, got {bounded(repr(kind), 60)}")
            continue
        fields = {key: value for key, value in entry.items() if key not in ("name", "analysis")}
        taken = {key: value for key, value in defaults.items() if key in BODIES[kind].model_fields}
        try:
            spec = parse_job({**taken, **fields}, kind, where=label)
            check_job(spec, calibration, where=label)  # economies, lever timing, the analysis's fields
        except RequestError as error:
            problems.append(str(error))
            continue
        loaded.append(Scenario(name, spec))
    if problems:
        raise BatchFileError(path, problems)
    return loaded


def _manifest(out: Path, scenario: Scenario) -> Path:
    return out / f"{scenario.name}.done.json"


def finished(out: Path, scenario: Scenario, calibration: Calibration) -> dict[str, Any] | None:
    """Return the manifest if the scenario's outputs exist and verify, else None.

    Verified means: same request, calibration and model version, and the
    netCDF's SHA-256 matches the one recorded when it was written.
    """
    try:
        manifest = json.loads(_manifest(out, scenario).read_text())
        ok = (
            manifest["request"] == scenario.spec.to_json()
            and manifest["calibration_sha256"] == calibration.digest
            and manifest["model_version"] == MODEL_VERSION
            and manifest["netcdf_sha256"] == sha256_of(out / f"{scenario.name}.nc")
        )
    except (OSError, ValueError, KeyError):
        return None
    return manifest if ok else None


def run_batch(
    scenarios: list[Scenario],
    out: Path,
    calibration: Calibration,
    executor: Executor,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Run every scenario not already finished; return the exit code.

    A scenario that fails, for whatever reason (a lost Ray node, a full disk),
    is reported on stderr and does not stop the others; the exit code is then
    :data:`EXIT_SCENARIO_FAILED`, and ``summary.csv`` holds the scenarios that
    finished.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    failed = []
    for scenario in scenarios:
        manifest = finished(out, scenario, calibration)
        if manifest is None:
            try:
                manifest = _run_one(scenario, out, calibration, executor, on_progress)
            except Exception as error:  # any failure is this scenario's, not the whole batch's
                failed.append(scenario.name)
                if not isinstance(error, ForecasterError | OSError):  # unforeseen: keep the traceback
                    traceback.print_exc(file=sys.stderr)
                print(f"scenario {scenario.name} failed: {type(error).__name__}: {error}", file=sys.stderr)
                continue
        else:
            print(f"scenario {scenario.name}: outputs verified, not run again", file=sys.stderr)
            if on_progress is not None:
                on_progress(scenario.name, 1, 1)
        rows.extend({"scenario": scenario.name, **row} for row in manifest["headline"])
    pd.DataFrame(rows).to_csv(out / "summary.csv", index=False)
    return EXIT_SCENARIO_FAILED if failed else EXIT_OK


def _run_one(
    scenario: Scenario,
    out: Path,
    calibration: Calibration,
    executor: Executor,
    on_progress: Callable[[str, int, int], None] | None,
) -> dict[str, Any]:
    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(scenario.name, done, total)

    result = scenario.spec.run(calibration, executor, progress, should_cancel=lambda: False)
    if isinstance(result, Forecast):
        written = result.summary if result.draws is None else result.draws
        headline = headline_table(result.summary)
    else:
        written, headline = result, []
    partial = out / f".{scenario.name}.nc.partial"
    final = out / f"{scenario.name}.nc"
    try:
        write_netcdf(written, partial)
        partial.replace(final)  # atomic: a netCDF under its final name is always complete
    finally:
        partial.unlink(missing_ok=True)
    manifest = {
        "request": scenario.spec.to_json(),
        "calibration_sha256": calibration.digest,
        "model_version": MODEL_VERSION,
        "netcdf_sha256": sha256_of(final),
        "headline": headline,
    }
    _manifest(out, scenario).write_text(json.dumps(manifest, indent=1))
    return manifest
