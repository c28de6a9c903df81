"""A real two-node Ray cluster on loopback: forecasts, a killed worker, and the Jobs API.

A head and a worker node (one CPU each) are started with ``ray start`` as separate
processes, with token authentication configured explicitly through the environment
(``RAY_AUTH_MODE=token`` and a fresh token in ``RAY_AUTH_TOKEN_PATH``). This pytest
process is already the driver of the session's embedded Ray (conftest) and a driver
joins one cluster only, so every driver of this cluster is a subprocess running the
command line, with ``RAY_ADDRESS`` in its environment. Results are compared bit for
bit with serial runs in this process.

Nodes use the loopback address 127.0.0.2: ``ray start`` rewrites 127.0.0.1 and
``localhost`` to the machine's external address (``resolve_ip_for_localhost``), which
would take the cluster off loopback. The dashboard (Jobs API) listens on 127.0.0.1.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import xarray as xr
from live_server import finished, wait_for

from api.cli import main
from api.results import summary_document
from api.schema import parse_request
from forecaster import Calibration, forecast

NODE_IP = "127.0.0.2"
PYTHON = Path(sys.executable)
#: Seconds allowed for starting both nodes, and for one command-line run.
START_TIMEOUT, RUN_TIMEOUT = 90, 180
#: A forecast of a few seconds on two CPUs: 8 one-block tasks of about 0.15 s (30 years, 12 economies,
#: policy and baseline).
FORECAST = ["--preset", "high-level-opening", "--draws", "8000", "--seed", "11"]
BATCH = """
defaults: {draws: 2000, horizon_years: 8, seed: 4}
scenarios:
  - name: opening
    policy: high-level-opening
  - name: asean-digital
    policy: {digital: {intensity: 0.8, enacting: [ASEAN]}}
    economies: [CHN, USA, ASEAN]
"""


@dataclass(frozen=True)
class LoopbackCluster:
    """Addresses of the running cluster, and the environment its drivers need."""

    address: str
    dashboard: str
    env: dict[str, str]
    temp_dir: Path
    groups: tuple[int, ...]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python -m api.cli ARGS`` as a driver of this cluster."""
        return self.python("-m", "api.cli", *args)

    def python(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``python ARGS`` as a driver of this cluster, outside the checkout (see :func:`loopback`)."""
        return subprocess.run([str(PYTHON), *args], env=self.env, cwd=self.temp_dir, capture_output=True,
                              text=True, timeout=RUN_TIMEOUT, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        state, ppid, pgid = stat.rsplit(")", 1)[1].split()[:3]
        if state != "Z":
            found[int(entry.name)] = (int(ppid), int(pgid), cmdline.strip())
    return found


def _tree(groups: tuple[int, ...], roots: set[int]) -> set[int]:
    """Processes of ``groups`` and of ``roots``, with all their descendants.

    Ray's workers start sessions of their own, so process groups alone miss them.
    """
    processes = _processes()
    members = {pid for pid, (_, pgid, _) in processes.items() if pgid in groups} | (roots & set(processes))
    while children := {p for p, (ppid, _, _) in processes.items() if ppid in members} - members:
        members |= children
    return members


def _signal(pid: int, number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended by itself meanwhile
        os.kill(pid, number)


def _stop(groups: tuple[int, ...]) -> None:
    """Kill every process of the cluster: freeze the whole tree first so nothing escapes."""
    frozen: set[int] = set()
    while new := _tree(groups, frozen) - frozen:
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        frozen |= new
    for pid in frozen:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while frozen & set(_processes()) and time.monotonic() < deadline:
        time.sleep(0.1)


def _launch(args: list[str], env: dict[str, str], log: Path, groups: list[int]) -> subprocess.Popen[bytes]:
    """Start ``ray start ...`` in a session of its own; its group is noted before anything can hang."""
    with log.open("w") as out:
        node = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    groups.append(node.pid)
    return node


def _started(node: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    if node.wait(timeout=max(1.0, deadline - time.monotonic())) != 0:
        raise RuntimeError(f"{log.name}: ray start failed:\n{log.read_text()[-3000:]}")


def _listening(port: int, deadline: float) -> None:
    while True:
        try:
            socket.create_connection((NODE_IP, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackCluster]:
    """Head and worker node, one CPU each, stopped (every process killed) whatever happens.

    Drivers run in the cluster's temporary directory, not in the checkout: Ray puts a
    driver's working directory on its workers' ``sys.path``, which on one machine would
    hide whether the workers got the code from the runtime environment.
    """
    temp_dir = Path(tempfile.mkdtemp(prefix="nqpf-ray-", dir="/tmp"))  # short: socket paths
    token = temp_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("RAY_", "FORECASTER_"))
    }
    env |= {
        "PATH": f"{PYTHON.parent}{os.pathsep}{env.get('PATH', '')}",  # `python` for the job entrypoint
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    gcs, dashboard = _free_port(), _free_port()
    ray = str(PYTHON.parent / "ray")
    common = ["--num-cpus=1", f"--node-ip-address={NODE_IP}", "--object-store-memory=300000000",
              "--disable-usage-stats", "--log-style=record"]
    groups: list[int] = []
    deadline = time.monotonic() + START_TIMEOUT
    try:
        head = _launch(
            [ray, "start", "--head", *common, f"--port={gcs}", f"--temp-dir={temp_dir}",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
             f"--ray-client-server-port={_free_port()}", *_agent_ports()],
            env, temp_dir / "head.log", groups,
        )
        _listening(gcs, deadline)  # the worker node needs the head's GCS only, not its dashboard
        worker = _launch([ray, "start", f"--address={NODE_IP}:{gcs}", *common, *_agent_ports()],
                         env, temp_dir / "worker.log", groups)
        _started(head, temp_dir / "head.log", deadline)
        _started(worker, temp_dir / "worker.log", deadline)
        yield LoopbackCluster(
            f"{NODE_IP}:{gcs}", f"http://127.0.0.1:{dashboard}",
            env | {"RAY_ADDRESS": f"{NODE_IP}:{gcs}"}, temp_dir, tuple(groups),
        )
    finally:
        _stop(tuple(groups))
        shutil.rmtree(temp_dir, ignore_errors=True)


def _agent_ports() -> list[str]:
    """Free ports for a node's agents: two nodes on one machine cannot share Ray's defaults."""
    return [
        f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}", f"--metrics-export-port={_free_port()}",
    ]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Outputs of :data:`FORECAST` run serially in this process."""
    out = tmp_path_factory.mktemp("serial")
    assert main(["forecast", *FORECAST, "--executor", "serial", "--netcdf", "--out", str(out)]) == 0
    return out


def _assert_same_forecast(serial: Path, on_ray: Path) -> None:
    assert (on_ray / "summary.csv").read_bytes() == (serial / "summary.csv").read_bytes()
    with xr.open_dataset(serial / "draws.nc") as expected, xr.open_dataset(on_ray / "draws.nc") as got:
        xr.testing.assert_identical(expected, got)


#: Titles of worker processes that run no forecast task: idle, or connect()'s check of each node.
NOT_FORECAST = ("ray::IDLE", "ray::_worker_environment")
#: A worker process running a forecast task: node (0 head, 1 worker node), pid, title.
Task = tuple[int, int, str]


def _forecast_tasks(groups: tuple[int, ...]) -> list[Task]:
    """Every worker process running a forecast task now (Ray's agents are children of raylets too)."""
    processes = _processes()
    raylets = {
        pid: groups.index(pgid) for pid, (_, pgid, cmd) in processes.items()
        if pgid in groups and cmd.split(" ")[0].endswith("/raylet")
    }
    return [
        (raylets[ppid], pid, cmd) for pid, (ppid, _, cmd) in processes.items()
        if ppid in raylets and cmd.startswith("ray::") and not cmd.startswith(NOT_FORECAST)
        and not cmd.split(" ")[0].endswith("Agent")
    ]


def _forecast_watching(
    loopback: LoopbackCluster, out: Path, on_tasks: Callable[[list[Task]], bool]
) -> None:
    """Run :data:`FORECAST` on the cluster; show ``on_tasks`` the tasks every 20 ms until it says True."""
    args = [str(PYTHON), "-m", "api.cli", "forecast", *FORECAST, "--executor", "ray", "--netcdf",
            "--out", str(out)]
    log = out.parent / f"{out.name}.log"
    with log.open("w") as output, subprocess.Popen(args, env=loopback.env, cwd=loopback.temp_dir,
                                                   stdout=output, stderr=subprocess.STDOUT) as driver:
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while driver.poll() is None and time.monotonic() < deadline and not on_tasks(
                _forecast_tasks(loopback.groups)
            ):
                time.sleep(0.02)
            driver.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            driver.kill()
    assert driver.returncode == 0, log.read_text()[-3000:]


def test_forecast_runs_on_both_nodes_and_equals_serial(
    loopback: LoopbackCluster, serial: Path, tmp_path: Path
) -> None:
    nodes: set[int] = set()

    def note_nodes(tasks: list[Task]) -> bool:
        nodes.update(node for node, _, _ in tasks)
        return False

    _forecast_watching(loopback, tmp_path / "ray", note_nodes)
    assert nodes == {0, 1}
    _assert_same_forecast(serial, tmp_path / "ray")


def test_killing_a_worker_mid_forecast_gives_the_identical_result(
    loopback: LoopbackCluster, serial: Path, tmp_path: Path
) -> None:
    killed: list[tuple[int, str]] = []

    def kill_one_on_the_worker_node(tasks: list[Task]) -> bool:
        for node, pid, title in tasks:
            if node == 1:
                os.kill(pid, signal.SIGKILL)  # mid-task: its title names the task it runs
                killed.append((pid, title))
                return True
        return False

    _forecast_watching(loopback, tmp_path / "ray", kill_one_on_the_worker_node)
    assert killed, "no forecast task ran on the worker node"
    assert killed[0][0] not in _processes(), f"{killed[0][1]} survived SIGKILL"
    _assert_same_forecast(serial, tmp_path / "ray")


def test_batch_submitted_through_the_jobs_api_equals_a_local_run(
    loopback: LoopbackCluster, tmp_path: Path
) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(BATCH)
    remote, local = tmp_path / "remote", tmp_path / "local"
    run = loopback.run("batch", str(path), "--address", loopback.dashboard, "--out", str(remote))
    assert run.returncode == 0, run.stdout + run.stderr
    submitted = re.search(r"submitted job (\S+) to ", run.stdout)
    assert submitted is not None, run.stdout
    assert f"wrote {remote / 'summary.csv'} (2 scenarios)" in run.stdout  # the job's log, followed
    assert f"job {submitted[1]}: SUCCEEDED" in run.stdout
    assert main(["batch", str(path), "--out", str(local)]) == 0
    assert (remote / "summary.csv").read_bytes() == (local / "summary.csv").read_bytes()
    for name in ("opening", "asean-digital"):
        with xr.open_dataset(local / f"{name}.nc") as expected, xr.open_dataset(remote / f"{name}.nc") as got:
            xr.testing.assert_identical(expected, got)


def test_interrupting_a_remote_batch_stops_its_job(loopback: LoopbackCluster, tmp_path: Path) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(BATCH)  # about 10 s on the cluster: the interrupt comes as soon as it is submitted
    command = [str(PYTHON), "-m", "api.cli", "batch", str(path), "--address", loopback.dashboard,
               "--out", str(tmp_path / "out")]
    with subprocess.Popen(command, env=loopback.env, cwd=loopback.temp_dir, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as driver:
        watchdog = threading.Timer(RUN_TIMEOUT, driver.kill)  # bounds the blocking reads below
        watchdog.start()
        try:
            submitted = None
            while submitted is None:  # the first lines may be Ray's
                submitted = re.search(r"submitted job (\S+) to ", _line(driver))
            driver.send_signal(signal.SIGINT)
            out, err = driver.communicate()
        finally:
            watchdog.cancel()
    assert driver.returncode == 130, out + err
    assert f"interrupted: stopping job {submitted[1]} on the cluster" in out
    status = loopback.python("-c", "from ray.job_submission import JobSubmissionClient; import sys, time\n"
                             f"client = JobSubmissionClient({loopback.dashboard!r})\n"
                             "for _ in range(100):\n"
                             f"    status = client.get_job_status({submitted[1]!r})\n"
                             "    if status.is_terminal(): break\n"
                             "    time.sleep(0.2)\n"
                             "print(status)")
    assert status.stdout.strip() == "STOPPED", status.stdout + status.stderr


def _line(driver: subprocess.Popen[str]) -> str:
    assert driver.stdout is not None and driver.stderr is not None
    line = driver.stdout.readline()
    if not line:
        driver.kill()
        raise AssertionError(f"the driver ended early:\n{driver.stderr.read()[-3000:]}")
    return line.strip()


def test_two_service_replicas_drive_one_cluster_at_once(
    loopback: LoopbackCluster, database_url: str, tmp_path: Path, calibration: Calibration
) -> None:
    """Several drivers: two `forecaster serve` replicas join the cluster by its GCS address (the way
    a long-running service connects, docs/deploy.md), share a PostgreSQL store, and each runs a job
    on both nodes; the results equal a serial run bit for bit."""
    env = loopback.env | {"FORECASTER_RAY_ADDRESS": loopback.address, "FORECASTER_EXECUTOR": "ray",
                          "FORECASTER_DATABASE_URL": database_url, "FORECASTER_DATA_DIR": str(tmp_path)}
    bodies = [{"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"], "horizon_years": 10,
               "draws": 3000, "seed": seed} for seed in (1, 2)]
    with contextlib.ExitStack() as stack:
        clients = []
        for _ in range(2):
            port = _free_port()
            replica = stack.enter_context(subprocess.Popen(
                [str(PYTHON), "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
                env=env, cwd=loopback.temp_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            stack.callback(replica.kill)
            client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30))
            wait_for(lambda client=client: _ready(client), timeout=START_TIMEOUT)
            clients.append(client)
        jobs = [client.post("/v1/forecasts", json=body).json()["id"] for client, body in zip(clients, bodies,
                                                                                                strict=True)]
        for client, job, body in zip(clients, jobs, bodies, strict=True):
            record = finished(client, job, timeout=RUN_TIMEOUT)
            assert record["status"] == "succeeded", record
            expected = summary_document(forecast(parse_request(body), calibration).summary)
            assert client.get(f"/v1/forecasts/{job}/summary").json() == json.loads(json.dumps(expected))
        for client in clients:  # both still joined to the same two-node cluster
            assert client.get("/readyz").json() == {"status": "ready"}


def _ready(client: httpx.Client) -> bool:
    try:
        return client.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_a_driver_joins_runs_the_shipped_code_and_readiness_names_the_lost_head(
    loopback: LoopbackCluster,
) -> None:
    """Last in the module: it kills the head (the fixture then stops the worker node)."""
    script = (
        "import sys, forecaster, ray\n"
        "from cluster import RayEnvironment, connect, readiness\n"
        "connect(RayEnvironment().ray_settings())\n"
        "where = ray.get(ray.remote(lambda: forecaster.__file__).remote())\n"
        "print(sum(node['Alive'] for node in ray.nodes()), where, readiness(), flush=True)\n"
        "sys.stdin.readline()\n"
        "print(readiness(), flush=True)\n"
    )
    with subprocess.Popen([str(PYTHON), "-c", script], env=loopback.env, cwd=loopback.temp_dir, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as driver:
        watchdog = threading.Timer(RUN_TIMEOUT, driver.kill)  # bounds the blocking reads below
        watchdog.start()
        try:
            assert driver.stdin is not None
            nodes, where, ready = _line(driver).split(" ", 2)
            status = ast.literal_eval(ready)
            assert nodes == "2" and status["ready"] is True and status["cpus"] == 2.0
            assert 0 <= status["cpus_available"] <= 2.0
            # The workers imported the runtime environment's copy of the code, not this checkout.
            assert where.startswith(str(loopback.temp_dir)) and "py_modules" in where
            _stop(loopback.groups[:1])
            driver.stdin.write("go\n")
            driver.stdin.flush()
            port = loopback.address.rsplit(":", 1)[1]
            assert _line(driver) == (
                "{'ready': False, 'problem': 'Ray cluster unreachable: nothing accepts connections at "
                f"{NODE_IP}:{port} ([Errno 111] Connection refused); is the head node running and the "
                "address right?'}"
            )
        finally:
            watchdog.cancel()
            driver.kill()
