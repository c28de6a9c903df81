"""Benchmark of the service with one and two replicas on one Ray (loopback) and one PostgreSQL.

Run as ``flock /tmp/nqpf-ray.lock .venv/bin/python benchmarks/bench_replicas.py``. It starts a
PostgreSQL server (``pgserver``) and a one-node Ray cluster with 2 CPUs on 127.0.0.2 (``ray
start``, token authentication), then, for one replica and for two, starts that many
``forecaster serve`` processes that join the cluster by its GCS address and share the store and
a results directory, and submits 1,000-draw forecasts (12 economies, 10 years, distinct
seeds), spread over the replicas: a steady load (one every 0.5 s) and a burst (all at once,
which measures capacity). Reports each job's submit-to-result time (p50, p95: from the POST to
the moment its record says succeeded, polled every 20 ms) and the jobs finished per minute.
Everything started is stopped at the end.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg

JOBS = 24
#: Seconds between two submissions: a steady load, then a burst.
LOADS = {"steady": 0.5, "burst": 0.0}
BODY = {"policy": "high-level-opening", "horizon_years": 10, "draws": 1000}
PYTHON = Path(sys.executable)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


@contextlib.contextmanager
def ray_head(scratch: Path, env: dict[str, str]) -> Iterator[str]:
    """A one-node Ray cluster with 2 CPUs on loopback; yields its GCS address."""
    gcs = free_port()
    log = (scratch / "ray.log").open("w")
    node = subprocess.Popen(
        [str(PYTHON.parent / "ray"), "start", "--head", "--num-cpus=2", "--node-ip-address=127.0.0.2",
         f"--port={gcs}", f"--temp-dir={scratch / 'ray'}", "--include-dashboard=false",
         "--disable-usage-stats", "--object-store-memory=500000000"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        if node.wait(timeout=120) != 0:
            raise RuntimeError((scratch / "ray.log").read_text()[-3000:])
        yield f"127.0.0.2:{gcs}"
    finally:
        # `ray start` leaves its daemons in the session it was started in: end them all.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signal.SIGKILL)


@contextlib.contextmanager
def replicas(count: int, env: dict[str, str], cwd: Path) -> Iterator[list[str]]:
    """``count`` service processes; yields their base URLs."""
    started, urls = [], []
    try:
        for _ in range(count):
            port = free_port()
            started.append(subprocess.Popen(
                [str(PYTHON), "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
                env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_for(f"{url}/readyz")
        yield urls
    finally:
        for child in started:
            child.send_signal(signal.SIGTERM)
        for child in started:
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()


def load(urls: list[str], seed_base: int, interval: float) -> tuple[list[float], float]:
    """Submit :data:`JOBS` jobs, one every ``interval`` s over ``urls``; their times and the span."""
    times: list[float] = []
    lock = threading.Lock()

    def one(index: int) -> None:
        url = urls[index % len(urls)]
        with httpx.Client(base_url=url, timeout=60) as client:
            start = time.perf_counter()
            job = client.post("/v1/forecasts", json={**BODY, "seed": seed_base + index}).json()["id"]
            while client.get(f"/v1/forecasts/{job}").json()["status"] not in ("succeeded", "failed"):
                time.sleep(0.02)
            with lock:
                times.append(time.perf_counter() - start)

    began = time.perf_counter()
    threads = []
    for index in range(JOBS):
        threads.append(threading.Thread(target=one, args=(index,)))
        threads[-1].start()
        time.sleep(interval)
    for thread in threads:
        thread.join(600)
    return times, time.perf_counter() - began


def main() -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp())
    import pgserver

    scratch = Path(tempfile.mkdtemp(prefix="nqpf-bench-", dir="/tmp"))
    token = scratch / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "FORECASTER_"))}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0"}
    server = pgserver.get_server(scratch / "postgres", cleanup_mode="stop")
    rows = []
    try:
        with ray_head(scratch, env) as address:
            for count in (1, 2):
                database = f"bench{count}"
                with psycopg.connect(server.get_uri(), autocommit=True) as admin:
                    admin.execute(f"CREATE DATABASE {database}")
                service_env = env | {
                    "FORECASTER_RAY_ADDRESS": address, "FORECASTER_EXECUTOR": "ray",
                    "FORECASTER_DATABASE_URL": server.get_uri().replace("/postgres?", f"/{database}?", 1),
                    "FORECASTER_DATA_DIR": str(scratch / f"data{count}"), "FORECASTER_MAX_ACTIVE_JOBS": "64",
                }
                with replicas(count, service_env, scratch) as urls:
                    load(urls, 10_000 * count, LOADS["steady"])  # warm: workers started, code imported
                    for number, (name, interval) in enumerate(LOADS.items()):
                        times, span = load(urls, 20_000 * count + 1000 * number, interval)
                        quantiles = statistics.quantiles(times, n=20)
                        rows.append((name, count, statistics.median(times), quantiles[18],
                                     60 * len(times) / span))
    finally:
        server.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{JOBS} forecasts of 1,000 draws x 12 economies x 10 years; one Ray node with 2 CPUs on "
          "loopback, one PostgreSQL")
    print(f"{'load':<26}{'replicas':>9}{'p50 s':>8}{'p95 s':>8}{'jobs/min':>10}")
    for name, count, p50, p95, rate in sorted(rows):
        label = f"{name} (one every {LOADS[name]} s)" if LOADS[name] else f"{name} (all at once)"
        print(f"{label:<26}{count:>9}{p50:>8.2f}{p95:>8.2f}{rate:>10.1f}")


if __name__ == "__main__":
    main()
