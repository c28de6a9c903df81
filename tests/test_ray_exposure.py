"""What the embedded Ray exposes on the network, and what is left of it when the service dies.

Every process of the embedded Ray (the driver and its descendants: GCS, raylet, agents,
workers, dashboard) must listen on loopback only, TCP and UDP. Nothing is exempt in
Ray 2.60: with the node's address kept on 127.0.0.1 (``cluster.runtime._node_on_loopback``)
every server Ray starts binds to loopback. If a Ray version brings a listener that cannot
be moved, it goes into :data:`EXEMPT` with the reason, and into the README ("On Ray").
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import ray
from live_server import free_port, process, wait_for

#: Process name -> why it may listen on other than loopback. None in Ray 2.60.
EXEMPT: dict[str, str] = {}
#: Ray processes that listen once the embedded instance is up (workers too, once started).
LISTENING = {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent"}
#: Seconds for the service's Ray processes to end after it is killed (the watchdog's grace
#: period is 2 s; Ray ends workers within about 3 s of their raylet).
ORPHAN_TIMEOUT = 20


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, how gRPC binds 127.0.0.1 on a dual-stack socket
    return address.is_loopback


def _listeners(processes: list[Any]) -> list[tuple[str, int, str, int]]:
    """(process name, pid, address, port) of every listening TCP socket and bound UDP socket."""
    found = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            name = proc.name()
            name = "python" if name.startswith("python") else name  # python, python3, python3.11
            for conn in proc.net_connections(kind="inet"):
                udp = conn.type == socket.SOCK_DGRAM
                if (conn.status == psutil.CONN_LISTEN or udp) and conn.laddr:
                    found.append((name, proc.pid, conn.laddr.ip, conn.laddr.port))
    return found


def _exposed(processes: list[Any], expected: set[str]) -> list[tuple[str, int, str, int]]:
    """Wait until every process named in ``expected`` listens; return the listeners not on loopback."""

    seen: list[tuple[str, int, str, int]] = []

    def ready() -> list[tuple[str, int, str, int]] | None:
        seen[:] = _listeners(processes)
        return seen if expected <= {name for name, *_ in seen} else None

    try:
        found: list[tuple[str, int, str, int]] = wait_for(ready, timeout=60, interval=0.5)
    except AssertionError:
        missing = expected - {name for name, *_ in seen}
        raise AssertionError(f"{sorted(missing)} never listened; listening: {seen}") from None
    return [item for item in found if not _loopback(item[2]) and item[0] not in EXEMPT]


def _alive(processes: list[Any]) -> list[Any]:
    alive = []
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


@ray.remote(num_cpus=1)
def _pid() -> int:
    return os.getpid()


def test_embedded_ray_listens_on_loopback_only(ray_cluster: None) -> None:
    ray.get([_pid.remote() for _ in range(2)])  # workers listen too
    me = psutil.Process()
    processes = [me, *me.children(recursive=True)]
    assert _exposed(processes, LISTENING | {"ray::IDLE"}) == []
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")


def test_the_embedded_rays_token_is_readable_by_its_owner_only(ray_cluster: None) -> None:
    # Ray writes the token it generates with mode 0644; whoever reads it may run code in the instance.
    token = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    assert token.is_file() and token.stat().st_mode & 0o777 == 0o600


def test_killed_service_leaves_no_ray_process_and_its_dashboard_is_on_loopback(tmp_path: Path) -> None:
    """SIGKILL of ``forecaster serve`` (embedded Ray, dashboard on): its Ray processes end within seconds.

    Ray kills its head processes with the service, but the raylet's agents used to linger
    orphaned for a minute or more; :mod:`cluster.watchdog` ends them.
    """
    port = free_port()
    env = {"FORECASTER_EXECUTOR": "ray", "FORECASTER_RAY_ADDRESS": "", "FORECASTER_RAY_NUM_CPUS": "1",
           "FORECASTER_RAY_DASHBOARD": "true", "FORECASTER_API_KEYS": ""}
    tree: list[Any] = []
    try:
        with process(tmp_path, port, **env) as child:
            base = f"http://127.0.0.1:{port}"
            job = httpx.post(f"{base}/v1/forecasts", json={"economies": ["CHN", "USA"], "horizon_years": 2,
                                                           "draws": 1000}, timeout=30)
            assert job.status_code == 202, job.text
            wait_for(lambda: httpx.get(f"{base}/v1/forecasts/{job.json()['id']}", timeout=5).json()["status"]
                     == "succeeded", timeout=120, interval=0.5)
            service = psutil.Process(child.pid)
            tree = service.children(recursive=True)
            assert _exposed([service, *tree], LISTENING | {"python"}) == []  # python: the dashboard
            names = {proc.name() for proc in tree}
            assert {"ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names  # those that lingered
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
            deadline = time.monotonic() + ORPHAN_TIMEOUT
            while _alive(tree) and time.monotonic() < deadline:
                time.sleep(0.5)
            survivors = [(proc.pid, proc.name()) for proc in _alive(tree)]
            assert survivors == [], f"still running {ORPHAN_TIMEOUT} s after the service was killed"
    finally:
        for proc in _alive(tree):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
