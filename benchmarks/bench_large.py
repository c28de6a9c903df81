"""Benchmark of a large run: 1,000,000 draws x 12 economies x 30 years, reduced inside tasks.

Run as ``.venv/bin/python benchmarks/bench_large.py [--executor ray|serial] [--draws N]``
(default: Ray, 1,000,000 draws). Wrap runs that start Ray in ``flock /tmp/nqpf-ray.lock``
on a shared machine.

Workload: ``forecast()`` of the default request (all 12 economies, 30 years, seed 0, the
baseline simulated on the same draws) with the ``high-level-opening`` preset, whose levers
make every policy-minus-baseline variable vary. Above ``EXACT_MAX_CELLS`` the run is
summarised inside its tasks (``forecaster.sketch``). With ``--executor ray`` it runs on
an embedded Ray with 2 CPUs (``connect(RaySettings(num_cpus=2))`` and ``RayExecutor()``).

What is measured. This process only watches: it starts the run in a child process (one
numpy thread per process) and every 0.2 s reads ``/proc`` for the child and all its
descendants (with Ray: GCS, raylet, agents, workers; the object store's shared-memory pages
count in the processes that map them).

- wall time of ``forecast()`` in the child (Ray's start is reported apart);
- peak of the summed resident set size (RSS) over the samples;
- peak of the summed proportional set size (PSS, shared pages split between the processes
  that map them, so nothing is counted twice) over the samples;
- sum of every process's own peak RSS (``VmHWM``): an upper bound on the true peak of the
  sum, catching peaks between samples.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

INTERVAL = 0.2
GIB = 2**30
MIB = 2**20
PEAK_TARGET = 4 * GIB
PRESET = "high-level-opening"


def run_child(executor_name: str, n_draws: int) -> None:
    """Run the forecast and print a JSON line of timings and headline figures."""
    started = time.perf_counter()
    from forecaster import (
        PRESETS,
        Executor,
        ForecastRequest,
        SerialExecutor,
        forecast,
        headline_table,
        load_calibration,
    )

    calibration = load_calibration()
    imported = time.perf_counter()
    executor: Executor
    if executor_name == "ray":
        from cluster import RayExecutor, RaySettings, connect

        connect(RaySettings(num_cpus=2))
        executor = RayExecutor()
    else:
        executor = SerialExecutor()
    ready = time.perf_counter()
    request = ForecastRequest(policy=PRESETS[PRESET], n_draws=n_draws)
    result = forecast(request, calibration, executor=executor)
    finished = time.perf_counter()
    chn = next(row for row in headline_table(result.summary) if row["economy"] == "CHN")
    print(json.dumps({
        "import": imported - started, "start": ready - imported, "forecast": finished - ready,
        "method": result.summary.attrs["summary_method"], "draws_kept": result.draws is not None,
        "chn": chn,
    }), flush=True)


def _tree(root: int) -> list[int]:
    """``root`` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _name(pid: int) -> str:
    """A short name: Ray's process title (``ray::...``) or the executable's name."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    first = command[0].decode(errors="replace")
    if first.startswith("ray::"):
        return first.split()[0]
    script = next((Path(arg.decode()).name for arg in command[1:2] if arg.endswith(b".py")), "")
    return f"{Path(first).name} {script}".strip()


def _memory(pid: int) -> tuple[int, int, int]:
    """RSS, PSS and peak RSS (VmHWM) of one process, in bytes (zeros if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return 0, 0, 0
    kib = {line.split(":")[0]: int(line.split()[1]) for line in status + rollup if line.endswith("kB")}
    return kib.get("VmRSS", 0) * 1024, kib.get("Pss", 0) * 1024, kib.get("VmHWM", 0) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executor", choices=("ray", "serial"), default="ray")
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.executor, args.draws)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--child", "--executor", args.executor, "--draws", str(args.draws)]
    began = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak_rss = peak_pss = 0
    at_peak: list[tuple[str, int]] = []
    hwm: dict[int, int] = {}
    while child.poll() is None:
        pids = _tree(child.pid)
        sample = [_memory(pid) for pid in pids]
        if sum(rss for rss, _, _ in sample) > peak_rss:
            peak_rss = sum(rss for rss, _, _ in sample)
            at_peak = [(_name(pid), rss) for pid, (rss, _, _) in zip(pids, sample, strict=True)]
        peak_pss = max(peak_pss, sum(pss for _, pss, _ in sample))
        for pid, (_, _, high) in zip(pids, sample, strict=True):
            hwm[pid] = max(hwm.get(pid, 0), high)
        time.sleep(INTERVAL)
    total = time.perf_counter() - began
    assert child.stdout is not None
    out = json.loads(child.stdout.read().strip().splitlines()[-1])
    if child.returncode != 0:
        sys.exit(f"the run failed with exit code {child.returncode}")
    upper = sum(hwm.values())
    print(f"date       {datetime.date.today().isoformat()}")
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.machine())
    print(f"machine    {model}, {os.cpu_count()} logical CPUs, "
          f"Linux {platform.release()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    import numpy as np

    print(f"software   Python {platform.python_version()}, numpy {np.__version__}"
          + (f", ray {__import__('ray').__version__}" if args.executor == "ray" else ""))
    print(f"workload   forecast(): {args.draws:,} draws x 12 economies x 30 years, preset {PRESET}, "
          f"baseline compared, seed 0, executor {args.executor}"
          + (" (embedded Ray, num_cpus=2)" if args.executor == "ray" else ""))
    print(f"summary    summary_method={out['method']}, draws kept: {out['draws_kept']}")
    chn = out["chn"]
    print(f"CHN {chn['year']}: TFP growth p5/p50/p95 {100 * chn['tfp_growth_p5']:.3f} / "
          f"{100 * chn['tfp_growth_p50']:.3f} / {100 * chn['tfp_growth_p95']:.3f} %, "
          f"P(beats baseline) {chn['prob_beats_baseline']:.4f}")
    print()
    row("quantity", "measured", "target", "result")
    print(f"|{'-' * 55}|{'-' * 13}|{'-' * 10}|{'-' * 8}|")
    row("forecast() wall time", f"{out['forecast']:.1f} s")
    row("imports and calibration; Ray start (not in the above)", f"{out['import']:.1f}; {out['start']:.1f} s")
    row("child process, start to exit", f"{total:.1f} s")
    row(f"peak of summed RSS, {len(at_peak)} processes (0.2 s samples)", f"{peak_rss / MIB:.0f} MiB")
    row("peak of summed PSS (shared pages counted once)", f"{peak_pss / MIB:.0f} MiB")
    row(f"sum of per-process peak RSS (VmHWM), {len(hwm)} processes", f"{upper / MIB:.0f} MiB", "<= 4 GiB",
        "PASS" if upper <= PEAK_TARGET else "MISS")
    print()
    print("RSS at the peak of the sum, by process (MiB): " + ", ".join(
        f"{name} {rss / MIB:.0f}" for name, rss in sorted(at_peak, key=lambda item: -item[1])
    ))


def row(quantity: str, measured: str, target: str = "", result: str = "") -> None:
    print(f"| {quantity:<53} | {measured:>11} | {target:<8} | {result:<6} |")


if __name__ == "__main__":
    main()
