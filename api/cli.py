"""Command line: forecast, attribute, compare, sensitivity, batch, backtest and serve.

``forecaster forecast`` runs one forecast; ``forecaster attribute`` shares a mix's effect
among its levers; ``forecaster compare`` compares policies on the same draws;
``forecaster sensitivity`` says which random inputs drive the spread;
``forecaster batch`` runs a file of scenarios;
``forecaster backtest`` scores forecasts made at past origins against Penn World Table data;
``forecaster serve`` runs the HTTP service.

Exit codes: 0 success; 2 invalid input, nothing run (the message names the
field); 3 a batch ran but at least one scenario failed; 4 Ray unavailable: the
cluster cannot be reached or joined (token authentication, workers' code),
nothing run; 5 a batch job submitted with ``--address`` was stopped or failed
on the cluster without running the batch to its end (Ray's message says why).
A job that ends with code 2, 3 or 4 on the cluster ends the command with it.
130: interrupted (Ctrl-C); the tasks in flight, or the batch job submitted with
``--address``, are stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from pydantic import ValidationError
from tqdm import tqdm

from api.batch import (
    EXIT_CLUSTER_UNAVAILABLE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_JOB_FAILED,
    EXIT_OK,
    EXIT_SCENARIO_FAILED,
    load_batch,
    run_batch,
)
from api.schema import parse_policy, parse_request
from forecaster import (
    PRESETS,
    Calibration,
    Executor,
    ForecasterError,
    ForecastRequest,
    PolicyMix,
    RequestError,
    SerialExecutor,
    attribute,
    compare,
    fan_chart,
    forecast,
    headline_table,
    load_calibration,
    write_netcdf,
)
from forecaster.backtest import DEFAULT_ORIGINS, BacktestRequest, run_backtest, track_record
from forecaster.plan import plan_blocks
from forecaster.report import attribution_chart, tornado_chart, write_backtest, write_summary_csv
from forecaster.sensitivity import sensitivity


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forecaster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("forecast", help="run one forecast and write its outputs")
    _policy_options(run)
    _request_options(run, horizon=30, draws=10_000, out="data/forecast")
    run.add_argument("--no-baseline", action="store_true", help="skip the baseline comparison")
    run.add_argument(
        "--netcdf", action="store_true",
        help="also write every draw to draws.nc (runs too large to keep every draw: the summary, summary.nc)",
    )
    share = commands.add_parser("attribute", help="share a mix's effect among its levers (Shapley values)")
    _policy_options(share)
    share.add_argument("--levers", default="", help="comma-separated levers (default: the mix's active ones)")
    _request_options(share, horizon=10, draws=1000, out="data/attribution")
    versus = commands.add_parser("compare", help="compare 2 to 6 policies on the same draws")
    versus.add_argument("--policy", action="append", required=True, metavar="PRESET_OR_FILE",
                        help="a preset name or a JSON policy file; give it 2 to 6 times")
    _request_options(versus, horizon=10, draws=1000, out="data/comparison")
    spread = commands.add_parser("sensitivity", help="Sobol' indices of the horizon's TFP by group of inputs")
    _policy_options(spread)
    spread.add_argument("--groups", default="", help="comma-separated groups of inputs (default: all)")
    _request_options(spread, horizon=10, draws=1000, out="data/sensitivity")
    batch = commands.add_parser("batch", help="run every scenario of a YAML or JSON file")
    batch.add_argument("file", type=Path, help="batch file (see api/batch.py for the format)")
    batch.add_argument("--calibration", type=Path, help="calibration JSON (default: shipped)")
    batch.add_argument("--out", type=Path, default=Path("data/batch"), help="output directory")
    _executor_option(batch)
    batch.add_argument(
        "--address",
        default="",
        help="run the batch as a job on the Ray cluster whose Jobs API (dashboard) is at this URL, "
        "e.g. http://HEAD:8265, with --executor ray, and follow it; --out is then an absolute path "
        "on the head node",
    )
    past = commands.add_parser(
        "backtest", help="forecast baseline TFP growth at past origins and score it against PWT data"
    )
    past.add_argument("--origins", default=",".join(map(str, DEFAULT_ORIGINS)),
                      help="comma-separated origin years (default: %(default)s)")
    past.add_argument("--horizon", type=int, default=10, help="years ahead (default: %(default)s)")
    past.add_argument("--draws", type=int, default=2000, help="Monte-Carlo draws (default: %(default)s)")
    past.add_argument("--seed", type=int, default=0)
    _executor_option(past)
    past.add_argument("--out", type=Path, default=Path("data/backtest"), help="output directory")
    serve = commands.add_parser(
        "serve", help="run the HTTP service (settings from FORECASTER_* variables, see docs/api.md)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    return parser


def _policy_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", default="high-level-opening", choices=sorted(PRESETS),
                        help="named policy mix (default: %(default)s)")
    source.add_argument("--policy", type=Path, help="JSON file with a policy mix")


def _request_options(parser: argparse.ArgumentParser, horizon: int, draws: int, out: str) -> None:
    parser.add_argument("--economies", default="", help="comma-separated codes (default: all)")
    parser.add_argument("--horizon", type=int, default=horizon, help="years (default: %(default)s)")
    parser.add_argument("--draws", type=int, default=draws, help="Monte-Carlo draws (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--calibration", type=Path, help="calibration JSON (default: shipped)")
    _executor_option(parser)
    parser.add_argument("--chart-economy", default="",
                        help="economy of the chart (default: CHN if simulated, else the first)")
    parser.add_argument("--out", type=Path, default=Path(out), help="output directory (default: %(default)s)")


def _policy(source: Path | str | None, preset: str = "high-level-opening") -> PolicyMix:
    """Return the policy of ``--policy`` (a JSON file, or for ``compare`` a preset name) or ``--preset``."""
    if source is None:
        return PRESETS[preset]
    if str(source) in PRESETS:
        return PRESETS[str(source)]
    return parse_policy(json.loads(Path(source).read_text()))


def _request(args: argparse.Namespace, policy: PolicyMix, compare_to_baseline: bool = True
             ) -> ForecastRequest:
    """Return the options' request, checked by the schema of batch files and HTTP bodies (same errors)."""
    options = {
        "economies": [code for code in args.economies.split(",") if code], "horizon_years": args.horizon,
        "draws": args.draws, "seed": args.seed, "compare_to_baseline": compare_to_baseline,
    }
    return dataclasses.replace(parse_request(options, where=""), policy=policy)


@contextmanager
def _progress_bar(description: str, request: ForecastRequest) -> Iterator[Callable[[int, int], None]]:
    """Show a progress bar on stderr counting the request's blocks; yield its ``on_progress`` callback."""
    n_blocks = len(plan_blocks(request.n_draws, request.seed, request.block_size))
    with tqdm(total=n_blocks, unit="block", desc=description, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        yield progress


def _executor_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        choices=("serial", "ray"),
        default="serial",
        help="where blocks run: this process, or Ray (an embedded local Ray unless "
        "FORECASTER_RAY_ADDRESS or RAY_ADDRESS names a cluster)",
    )


def _executor(choice: str) -> Executor:
    if choice == "ray":
        from cluster import RayEnvironment, RayExecutor, connect  # Ray only when asked for

        connect(RayEnvironment().ray_settings())
        return RayExecutor()
    return SerialExecutor()


def _print_table(rows: list[dict[str, object]]) -> None:
    with_baseline = "prob_beats_baseline" in rows[0]
    header = f"{'economy':<8}{'p5':>8}{'median':>8}{'p95':>8}{'mean':>8}{'+-mcse':>8}"
    gains = ("dynamic_gain_mean", "static_gain_mean", "total_gain_mean")
    if with_baseline:
        header += f"{'dynamic':>9}{'static':>9}{'total':>9}{'P(beats)':>10}"
    print(f"Annual TFP growth in {rows[0]['year']} (%)"
          + (", and gains against the baseline (% of the year's real income)" if with_baseline else ""))
    print(header)
    for row in rows:
        line = f"{row['economy']!s:<8}" + "".join(
            f"{100 * float(row[key]):>8.2f}"  # type: ignore[arg-type]
            for key in ("tfp_growth_p5", "tfp_growth_p50", "tfp_growth_p95", "tfp_growth_mean",
                        "tfp_growth_mcse")
        )
        if with_baseline:
            line += "".join(f"{100 * float(row[key]):>+9.2f}" for key in gains)  # type: ignore[arg-type]
            line += f"{float(row['prob_beats_baseline']):>10.3f}"  # type: ignore[arg-type]
        print(line)


def forecast_command(args: argparse.Namespace) -> int:
    """Run the ``forecast`` command."""
    calibration = load_calibration(args.calibration)
    policy = _policy(args.policy, args.preset)
    request = _request(args, policy, compare_to_baseline=not args.no_baseline)
    chart = _chart_economy(args.chart_economy, request, calibration)  # checked before anything runs
    executor = _executor(args.executor)
    with _progress_bar(f"forecast {policy.name}", request) as progress:
        result = forecast(request, calibration, executor=executor, on_progress=progress)
    summary = result.summary
    _print_table(headline_table(summary))
    out: Path = args.out
    written = [write_summary_csv(summary, out / "summary.csv")]
    written.append(fan_chart(summary, chart, out / f"fanchart-{chart}.png"))
    if args.netcdf:
        if result.draws is None:
            written.append(write_netcdf(summary, out / "summary.nc"))
        else:
            written.append(write_netcdf(result.draws, out / "draws.nc"))
    return _written(written)


def _chart_economy(chosen: str, request: ForecastRequest, calibration: Calibration) -> str:
    """Choose the fan chart's economy: the one asked for, else CHN if simulated, else the first."""
    simulated = request.economies or calibration.economies
    if not chosen:
        return "CHN" if "CHN" in simulated else simulated[0]
    if chosen not in simulated:
        raise RequestError("--chart-economy", f"must be one of the simulated economies {list(simulated)}, "
                                              f"got {chosen!r}")
    return chosen


def backtest_command(args: argparse.Namespace) -> int:
    """Run the ``backtest`` command: score, print the track record, write the files."""
    try:
        origins = tuple(int(year) for year in args.origins.split(","))
    except ValueError:
        print(f"error: --origins: must be comma-separated years, got {args.origins[:80]!r}", file=sys.stderr)
        return EXIT_INVALID
    request = BacktestRequest(origins=origins, horizon_years=args.horizon, n_draws=args.draws, seed=args.seed)
    executor = _executor(args.executor)
    with tqdm(total=len(origins), unit="origin", desc="backtest", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        scores = run_backtest(request, executor, on_progress=progress)
    record = track_record(scores)
    print(f"Backtest of baseline TFP growth, origins {args.origins}, {args.horizon} years ahead, "
          f"{record['cells']} forecasts scored against Penn World Table 9.1")
    print(f"  coverage of the 50% intervals {record['coverage_50']:.3f}, of the 90% intervals "
          f"{record['coverage_90']:.3f}")
    print(f"  {'':<14}{'mean CRPS':>10}{'skill':>8}")
    print(f"  {'model':<14}{100 * record['crps']:>10.3f}")
    for kind in ("random_walk", "climatology"):
        print(f"  {kind:<14}{100 * record[f'crps_{kind}']:>10.3f}{record[f'skill_vs_{kind}']:>+8.3f}")
    print("  (CRPS in percentage points of annual TFP growth; skill = 1 - model / benchmark)")
    for path in write_backtest(scores, record, args.out):
        print(f"wrote {path}")
    return EXIT_OK


def batch(args: argparse.Namespace) -> int:
    """Run the ``batch`` command: validate the whole file, then run what is not yet done."""
    calibration = load_calibration(args.calibration)
    scenarios = load_batch(args.file, calibration)  # raises before anything runs
    if args.address:
        return _batch_on_cluster(args)
    executor = _executor(args.executor)
    with tqdm(total=len(scenarios), unit="scenario", desc="batch", file=sys.stderr) as bar:
        done: set[str] = set()

        def progress(name: str, finished_blocks: int, total: int) -> None:
            bar.set_postfix_str(f"{name} {finished_blocks}/{total} blocks")
            if finished_blocks == total and name not in done:
                done.add(name)
                bar.update(1)

        code = run_batch(scenarios, args.out, calibration, executor, progress)
    print(f"wrote {args.out / 'summary.csv'} ({len(scenarios)} scenarios)")
    return code


def _batch_on_cluster(args: argparse.Namespace) -> int:
    """Submit a validated batch file as a Ray job at ``args.address``; follow it to the end."""
    if not PurePosixPath(args.out).is_absolute():
        print(f"error: --out: must be an absolute path on the cluster with --address, got {args.out}",
              file=sys.stderr)
        return EXIT_INVALID
    from cluster.submission import submit_command  # Ray only when asked for

    # The job runs this command line's own batch command, with this process's packages.
    command = ["python", "-m", "api.cli", "batch", args.file.name, "--executor", "ray",
               "--out", str(args.out)]
    files = {args.file.name: args.file}
    if args.calibration is not None:
        files[f"calibration/{args.calibration.name}"] = args.calibration
        command += ["--calibration", f"calibration/{args.calibration.name}"]
    outcome = submit_command(args.address, command, files, ("forecaster", "cluster", "api"),
                             {"forecaster": "batch", "file": args.file.name})
    if outcome.status == "SUCCEEDED":
        return EXIT_OK
    if outcome.exit_code in (EXIT_INVALID, EXIT_SCENARIO_FAILED, EXIT_CLUSTER_UNAVAILABLE):
        return outcome.exit_code  # the job's log, printed above, says why
    print(f"error: job {outcome.submission_id} {outcome.status}: {outcome.message}", file=sys.stderr)
    return EXIT_JOB_FAILED


def serve(args: argparse.Namespace) -> int:
    """Run the ``serve`` command: the HTTP service under uvicorn, until interrupted."""
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings())
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    print(f"""Forecast service on {base}  (API docs: {base}/docs, Ctrl-C stops it)
Try:
  curl -si -X POST {base}/v1/forecasts -H 'Content-Type: application/json' \\
       -d '{{"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"], "draws": 2000}}'
  curl -s {base}/v1/forecasts/ID            # status and progress; ID from the answer above
  curl -s {base}/v1/forecasts/ID/summary    # quantiles, probabilities, baseline comparison
  curl -so fan.png {base}/v1/forecasts/ID/fanchart.png
""", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return EXIT_OK


def attribute_command(args: argparse.Namespace) -> int:
    """Run the ``attribute`` command: Shapley values of the mix's levers, printed and written."""
    calibration = load_calibration(args.calibration)
    request = _request(args, _policy(args.policy, args.preset))
    levers = tuple(name for name in args.levers.split(",") if name) or None
    chart = _chart_economy(args.chart_economy, request, calibration)
    executor = _executor(args.executor)
    with _progress_bar(f"attribute {request.policy.name}", request) as progress:
        result = attribute(request, levers, calibration, executor, progress)
    last = result.isel(year=-1)
    print(f"Contributions to the TFP level in {int(last.year)} against the baseline "
          f"(% of base-year TFP; +- Monte-Carlo standard error)")
    print(f"{'economy':<8}" + "".join(f"{str(lever):>22}" for lever in last.lever.values)
          + f"{'total':>12}{'interaction':>12}")
    for economy in last.economy.values:
        at = last.sel(economy=economy)
        cells = "".join(f"{100 * float(share.tfp):>+12.3f} +-{100 * float(share.tfp_mcse):<7.3f}"
                        for share in (at.sel(lever=lever) for lever in last.lever.values))
        total, interaction = 100 * float(at.tfp_total), 100 * float(at.tfp_interaction)
        print(f"{economy!s:<8}{cells}{total:>+12.3f}{interaction:>+12.3f}")
    return _written([write_netcdf(result, args.out / "attribution.nc"),
                     write_summary_csv(result, args.out / "attribution.csv"),
                     attribution_chart(result, chart, args.out / f"attribution-{chart}.png")])


def compare_command(args: argparse.Namespace) -> int:
    """Run the ``compare`` command: the policies on the same draws, printed and written."""
    calibration = load_calibration(args.calibration)
    policies = [_policy(source) for source in args.policy]
    request = _request(args, policies[0])
    executor = _executor(args.executor)
    with _progress_bar(f"compare {len(policies)} policies", request) as progress:
        result = compare(request, policies, calibration, executor, progress)
    last = result.isel(year=-1)
    print(f"TFP level in {int(last.year)} against the base year (mean, % change) and P(ranks first)")
    print(f"{'economy':<8}" + "".join(f"{str(name):>28}" for name in last.policy.values))
    for economy in last.economy.values:
        at = last.sel(economy=economy)
        print(f"{economy!s:<8}" + "".join(
            f"{100 * (float(each.tfp_mean) - 1):>+14.3f} P(first) {float(each.prob_first):.3f}"
            for each in (at.sel(policy=name) for name in last.policy.values)))
    return _written([write_netcdf(result, args.out / "comparison.nc"),
                     write_summary_csv(result, args.out / "comparison.csv")])


def sensitivity_command(args: argparse.Namespace) -> int:
    """Run the ``sensitivity`` command: Sobol' indices, printed, written and drawn."""
    calibration = load_calibration(args.calibration)
    request = _request(args, _policy(args.policy, args.preset))
    groups = tuple(name for name in args.groups.split(",") if name) or None
    chart = _chart_economy(args.chart_economy, request, calibration)
    executor = _executor(args.executor)
    with _progress_bar(f"sensitivity {request.policy.name}", request) as progress:
        result = sensitivity(request, groups, calibration, executor, progress)
    for output in result.output.values:
        print(f"Total Sobol' indices of the {output} in the horizon's last year (first-order in brackets)")
        print(f"{'economy':<8}" + "".join(f"{str(group):>18}" for group in result.group.values))
        for economy in result.economy.values:
            at = result.sel(output=output, economy=economy)
            print(f"{economy!s:<8}" + "".join(
                f"{float(at.total_order.sel(group=g)):>9.3f} ({float(at.first_order.sel(group=g)):.3f})"
                for g in result.group.values))
    charts = [tornado_chart(result, chart, args.out / f"tornado-{output}-{chart}.png", output=str(output))
              for output in result.output.values]
    return _written([write_netcdf(result, args.out / "sensitivity.nc"),
                     write_summary_csv(result, args.out / "sensitivity.csv"), *charts])


def _written(paths: list[Path]) -> int:
    for path in paths:
        print(f"wrote {path}")
    return EXIT_OK


COMMANDS = {
    "forecast": forecast_command, "attribute": attribute_command, "compare": compare_command,
    "sensitivity": sensitivity_command, "batch": batch, "backtest": backtest_command, "serve": serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forecaster`` command; returns the exit code (see module docstring)."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ForecasterError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValidationError as error:  # a FORECASTER_* setting (api.settings)
        for problem in error.errors():
            name = "FORECASTER_" + "_".join(str(part) for part in problem["loc"]).upper()
            print(f"error: {name}: {problem['msg']}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
