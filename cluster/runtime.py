"""Connecting to Ray: an embedded local instance by default, or an existing cluster.

Token authentication
    Ray >= 2.59 turns token authentication on by default (for local clusters;
    2.61 for every cluster). Ray reads ``RAY_AUTH_MODE``, ``RAY_AUTH_TOKEN``
    and ``RAY_AUTH_TOKEN_PATH`` from the environment when it starts up, so they
    belong in the environment of the process (the Helm chart sets them from a
    Secret, the tests in the environment of the processes they start); this
    module reads them and never changes them. Joining an existing cluster
    needs ``RAY_AUTH_MODE`` set explicitly, to ``token`` (with the cluster's
    token in ``RAY_AUTH_TOKEN``, in the file named by ``RAY_AUTH_TOKEN_PATH``
    or in ``~/.ray/auth_token``) or to ``disabled``: with the mode unset, Ray
    sends no token to an address it was given, and a cluster that wants one
    refuses the handshake after about 20 s with a message that does not say
    why. The embedded instance follows Ray's default: token mode, with a token
    generated in ``~/.ray/auth_token`` if there is none.

Project code on workers
    When joining an existing cluster, this process's ``forecaster`` and
    ``cluster`` packages are shipped to the workers as runtime-environment
    ``py_modules`` (uploaded once per content hash), so workers run exactly
    the driver's code: results are bit-identical to a serial run only if they
    do. The cluster's Python must provide the dependencies (the project's
    image does); :func:`connect` checks, with one task on every node, that
    workers import the code and have the same Python and numpy versions. Set
    ``FORECASTER_RAY_SHIP_CODE=0`` to use the cluster's installed copy instead
    (a cluster running the same image as the driver).

Embedded instance
    Every process of the embedded Ray listens on loopback only: its node's
    address is kept on 127.0.0.1 (see :func:`_node_on_loopback`), and
    ``tests/test_ray_exposure.py`` checks every listening socket. On Linux a
    watchdog process (:mod:`cluster.watchdog`) ends what is left of it when
    this process dies, even by SIGKILL: Ray ends its head processes with the
    process that started them, but not the raylet's agents.
"""

from __future__ import annotations

import ipaddress
import os
import platform
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import ray
import ray._private.ray_constants
import ray.util.client
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import cluster.watchdog
import forecaster
from forecaster import MODEL_VERSION, ForecasterError

#: Seconds to wait for the head's port to accept a connection before calling it unreachable.
REACH_TIMEOUT = 5.0
#: Seconds for the environment check task (a worker may have to start and fetch the code).
PROBE_TIMEOUT = 120.0
#: Ports of addresses given as a URL without one.
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Left out of shipped packages: bytecode is rebuilt by the workers' own Python.
CODE_EXCLUDES = ["__pycache__", "*.pyc"]
#: The embedded Ray's node address: its servers listen on it only (see :func:`_node_on_loopback`).
LOOPBACK = "127.0.0.1"
#: Seconds :func:`disconnect` waits for the watchdog to stop what is left of the embedded Ray.
WATCHDOG_TIMEOUT = cluster.watchdog.GRACE_SECONDS + 10

#: The watchdog of the embedded Ray this process started, while it runs (see :mod:`cluster.watchdog`).
_watchdog: subprocess.Popen[bytes] | None = None


class ClusterUnavailableError(ForecasterError):
    """Ray cannot be reached or is not usable; the message says what is wrong."""

    http_status, problem, retry_later, exit_code = 503, "unavailable", True, 4


@dataclass(frozen=True)
class RaySettings:
    """How to reach Ray.

    Attributes
    ----------
    address : str
        Empty: start an embedded local Ray bound to loopback. Otherwise an
        existing cluster, e.g. ``"auto"``, ``"10.0.0.5:6379"`` or
        ``"ray://head:10001"``.
    num_cpus : int or None
        CPUs of the embedded instance (ignored when connecting).
    include_dashboard : bool
        Start the dashboard of an embedded instance (off unless asked).
    ship_code : bool
        When joining a cluster, ship this process's ``forecaster`` and
        ``cluster`` packages to the workers (see the module docstring).
    """

    address: str = ""
    num_cpus: int | None = None
    include_dashboard: bool = False
    ship_code: bool = True


class RayEnvironment(BaseSettings):
    """The ``FORECASTER_RAY_*`` environment variables (the address falls back to ``RAY_ADDRESS``).

    Read by the command line, and by the service as part of its settings; an
    invalid value raises :class:`pydantic.ValidationError` naming the variable.
    """

    model_config = SettingsConfigDict(env_prefix="FORECASTER_", extra="ignore", frozen=True)

    ray_address: str = Field(
        "",
        validation_alias=AliasChoices("FORECASTER_RAY_ADDRESS", "RAY_ADDRESS"),
        description="existing Ray cluster; empty starts an embedded local Ray",
    )
    ray_num_cpus: int | None = Field(None, ge=1, description="CPUs of the embedded Ray")
    ray_dashboard: bool = Field(False, description="start the embedded Ray's dashboard")
    ray_ship_code: bool = Field(
        True, description="ship this process's forecaster and cluster code to a cluster it joins"
    )

    def ray_settings(self) -> RaySettings:
        """Return these settings as :func:`connect` takes them."""
        return RaySettings(self.ray_address, self.ray_num_cpus, self.ray_dashboard, self.ray_ship_code)


def auth_mode(environ: Mapping[str, str] = os.environ) -> str:
    """Return the token-authentication mode for talking to an existing cluster.

    Parameters
    ----------
    environ : mapping
        Where to read ``RAY_AUTH_*`` (default: this process's environment,
        which is what Ray reads).

    Returns
    -------
    str
        ``"token"`` or ``"disabled"``, from ``RAY_AUTH_MODE``.

    Raises
    ------
    ClusterUnavailableError
        If ``RAY_AUTH_MODE`` is not set to one of them, or is ``token`` and no
        token is configured.
    """
    mode = environ.get("RAY_AUTH_MODE", "").lower()
    if mode not in ("token", "disabled"):
        raise ClusterUnavailableError(
            f"RAY_AUTH_MODE must be set to 'token' or 'disabled' to use an existing Ray cluster, "
            f"got {environ.get('RAY_AUTH_MODE', '')!r}: Ray >= 2.59 clusters want a token, and Ray "
            "sends one only in token mode (see the README, section 'On Ray')"
        )
    path = environ.get("RAY_AUTH_TOKEN_PATH", "")
    token_file = _token_file(environ)
    if mode == "token" and not (environ.get("RAY_AUTH_TOKEN") or token_file.is_file()):
        where = f"the file RAY_AUTH_TOKEN_PATH={path}" if path else f"RAY_AUTH_TOKEN or {token_file}"
        raise ClusterUnavailableError(f"RAY_AUTH_MODE=token but there is no token in {where}")
    return mode


def _token_file(environ: Mapping[str, str]) -> Path:
    """Where Ray reads (and, starting a local instance, writes) its token: ``RAY_AUTH_TOKEN_PATH``."""
    path = environ.get("RAY_AUTH_TOKEN_PATH", "")
    return Path(path) if path else Path.home() / ".ray" / "auth_token"


def code_modules(*packages: str) -> list[str]:
    """Directories of this process's project packages, for a runtime environment's ``py_modules``.

    Parameters
    ----------
    *packages : str
        Top-level package names of this repository (``forecaster``, ``cluster``, ``api``).
    """
    root = Path(forecaster.__file__).resolve().parent.parent
    return [str(root / name) for name in packages]


def connect(settings: RaySettings) -> bool:
    """Start or join Ray as ``settings`` say; idempotent within a process.

    Returns
    -------
    bool
        True if this call connected; False if Ray was connected already (then
        whoever connected it disconnects it).

    Raises
    ------
    ClusterUnavailableError
        If the cluster at ``settings.address`` cannot be joined or its workers
        cannot run this code; the message says which and why.
    """
    if ray.is_initialized():
        return False
    if not settings.address:
        _start_embedded(settings)
        return True
    auth_mode()
    check_reachable(settings.address)
    runtime_env = (
        {"py_modules": code_modules("forecaster", "cluster"), "excludes": CODE_EXCLUDES}
        if settings.ship_code
        else None
    )
    try:
        with _sigterm_handler_kept():
            ray.init(address=settings.address, runtime_env=runtime_env, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        raise ClusterUnavailableError(
            f"cannot join the Ray cluster at {settings.address}: {error}{cause}"
        ) from None
    try:
        _check_workers(settings)
    except ClusterUnavailableError:
        ray.shutdown()
        raise
    return True


def _start_embedded(settings: RaySettings) -> None:
    """Start the embedded Ray on loopback, watched by :mod:`cluster.watchdog`."""
    os.environ.pop("RAY_ADDRESS", None)  # never join a stray cluster by accident
    _stop_watchdog()  # of an embedded Ray that was shut down without disconnect()
    before = _children()
    try:
        with _sigterm_handler_kept(), _node_on_loopback():
            ray.init(
                num_cpus=settings.num_cpus,
                include_dashboard=settings.include_dashboard,
                log_to_driver=False,
                _node_ip_address=LOOPBACK,
            )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnavailableError(f"cannot start an embedded Ray: {error}") from None
    _start_watchdog(_children() - before)
    # Ray writes a token it generates readable by every user of the machine (mode 0644); anyone
    # holding it may run code in this instance. Only its owner's processes need to read it.
    with suppress(OSError):  # not this user's file, or none (a token given in RAY_AUTH_TOKEN)
        _token_file(os.environ).chmod(0o600)
    node = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0].strip("[]")
    if not ipaddress.ip_address(node).is_loopback:  # a Ray version that no longer keeps it there
        disconnect()
        raise ClusterUnavailableError(
            f"the embedded Ray would listen on {node}, not on loopback only: Ray {ray.__version__} "
            "needs another way to keep it there (cluster/runtime.py, _node_on_loopback)"
        )


@contextmanager
def _node_on_loopback() -> Iterator[None]:
    """Let ``ray.init`` keep the embedded node's address 127.0.0.1, so its servers listen on loopback only.

    Ray's gRPC servers (GCS, raylet, workers), its agents and its metrics
    servers listen on loopback when the node's address is a loopback address,
    and on all interfaces otherwise. But ``ray.init`` replaces a loopback
    ``_node_ip_address`` with the machine's external address, so that other
    nodes could reach it, unless clusters are disabled (``ENABLE_RAY_CLUSTER``,
    read from ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` when Ray is imported).
    Disabled only while the embedded instance starts: joining a cluster
    later needs the external address. The other processes of the instance
    get the address on their command lines.
    """
    constants = ray._private.ray_constants
    enabled = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = enabled


def _children() -> set[int]:
    """Process ids of this process's children (none where there is no ``/proc``)."""
    if not sys.platform.startswith("linux"):
        return set()
    me = os.getpid()
    return {pid for pid, (ppid, _) in cluster.watchdog.processes().items() if ppid == me}


def _start_watchdog(ray_processes: set[int]) -> None:
    """Start :mod:`cluster.watchdog` for ``ray_processes`` (Linux only: it reads ``/proc``).

    Its standard input is a pipe whose write end only this process holds
    (programs this process starts do not inherit it), so the watchdog sees
    the pipe's end when this process exits, in whatever way.
    """
    global _watchdog
    if not ray_processes:
        return
    _watchdog = subprocess.Popen(
        # Isolated and without site-packages: the watchdog needs only the standard library.
        [sys.executable, "-I", "-S", cluster.watchdog.__file__, *map(str, sorted(ray_processes))],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # signals to this process's group do not reach it
    )


def _stop_watchdog() -> None:
    """Close the watchdog's pipe, so that it stops what is left of its Ray, and wait for it (bounded)."""
    global _watchdog
    if _watchdog is None:
        return
    watchdog, _watchdog = _watchdog, None
    assert watchdog.stdin is not None
    watchdog.stdin.close()
    try:
        watchdog.wait(WATCHDOG_TIMEOUT)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


@contextmanager
def _sigterm_handler_kept() -> Iterator[None]:
    """Keep a SIGTERM handler that the process had set, which ``ray.init`` replaces.

    Ray's handler exits at once; a server's (uvicorn's) stops it gracefully,
    running the lifespan's shutdown, which leaves Ray in turn. Where no handler
    was set (the command line), Ray's stays.
    """
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if callable(previous) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def disconnect() -> None:
    """Leave the cluster (an embedded Ray stops with it); for whoever :func:`connect` connected.

    Returns when every process of an embedded Ray has ended: Ray's agents
    would otherwise outlive their raylet by up to a minute.
    """
    ray.shutdown()
    _stop_watchdog()


def check_reachable(address: str) -> None:
    """Fail fast when nothing listens at a cluster's address (Ray itself retries for minutes).

    Parameters
    ----------
    address : str
        ``HOST:PORT``, ``SCHEME://HOST[:PORT]`` (``ray://``, ``http://``, ``https://``;
        the port may be left out for the last two), or ``auto``/``local`` (found by Ray
        on this machine; not checked).

    Raises
    ------
    ClusterUnavailableError
        If the address has no host and port, or nothing accepts a TCP
        connection there within :data:`REACH_TIMEOUT` seconds.
    """
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        host = port = None
    if host is None or port is None:
        raise ClusterUnavailableError(
            f"Ray cluster address {address!r}: expected HOST:PORT, SCHEME://HOST:PORT or 'auto'"
        )
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT).close()
    except OSError as error:
        raise ClusterUnavailableError(
            f"Ray cluster unreachable: nothing accepts connections at {host}:{port} "
            f"({error}); is the head node running and the address right?"
        ) from None


def environment() -> dict[str, str]:
    """Return what must match between driver and workers for bit-identical results."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "model": MODEL_VERSION,
    }


@ray.remote(num_cpus=0, max_retries=0)
def _worker_environment() -> dict[str, str]:
    return environment()


def environment_problems(driver: dict[str, str], worker: dict[str, str]) -> list[str]:
    """Differences between a worker's :func:`environment` and the driver's that change results."""
    return [
        f"{key} {worker[key]} on the workers, {driver[key]} here"
        for key in ("python", "numpy", "model")
        if worker[key] != driver[key]
    ]


def _check_workers(settings: RaySettings) -> None:
    """Run one task on every live node to check that its workers run this code.

    Every node, because each may run another image; no CPU is reserved, so a
    busy cluster answers too. (A side effect: each node has a worker of this
    job ready when the forecast's tasks arrive.)
    """
    nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
    probes = [
        _worker_environment.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, False)).remote()
        for node in nodes
    ]
    try:
        workers = ray.get(probes, timeout=PROBE_TIMEOUT)
    except ray.exceptions.GetTimeoutError:
        raise ClusterUnavailableError(
            f"the Ray cluster at {settings.address} did not start a worker on each of its {len(nodes)} "
            f"nodes within {PROBE_TIMEOUT:.0f} s"
        ) from None
    except ray.exceptions.RayError as error:
        hint = "" if settings.ship_code else " (FORECASTER_RAY_SHIP_CODE=0: is the project installed there?)"
        raise ClusterUnavailableError(
            f"workers of the Ray cluster at {settings.address} cannot run this code{hint}: {error}"
        ) from None
    here = environment()
    problems = [
        f"node {node}: {problem}"
        for node, worker in zip(nodes, workers, strict=True)
        for problem in environment_problems(here, worker)
    ]
    if problems:
        raise ClusterUnavailableError(
            f"workers of the Ray cluster at {settings.address} would not give bit-identical results: "
            + "; ".join(problems)
        )


def head_reachable() -> bool:
    """Return False when Ray is not connected or this driver's GCS refuses connections, else True.

    A Ray call that needs the GCS would wait for a lost one, blocking the process; ask its port
    first. Ray Client connections are not checked (their GCS address is the server's).
    """
    if not ray.is_initialized():
        return False  # e.g. between leaving a lost cluster and joining it again
    if ray.util.client.ray.is_connected():
        return True
    try:
        check_reachable(ray.get_runtime_context().gcs_address)
    except ClusterUnavailableError:
        return False
    return True


def readiness() -> dict[str, object]:
    """Report whether Ray is usable: connected, CPUs (all, and not in use), or what is wrong."""
    if not ray.is_initialized():
        return {"ready": False, "problem": "Ray is not connected"}
    if not ray.util.client.ray.is_connected():
        # A driver waits for a lost GCS (and Ray ends it after 60 s), so ask the GCS's port
        # first. Not through Ray Client: the GCS address is then the server's, which this
        # process usually cannot reach.
        try:
            check_reachable(ray.get_runtime_context().gcs_address)
        except ClusterUnavailableError as error:
            return {"ready": False, "problem": str(error)}
    try:
        cpus = ray.cluster_resources().get("CPU", 0)
        cpus_available = ray.available_resources().get("CPU", 0)
    except Exception as error:  # Ray raises several private types when the GCS is gone
        return {"ready": False, "problem": f"Ray cluster unreachable: {error}"}
    if cpus < 1:
        return {"ready": False, "problem": "Ray cluster has no CPUs"}
    return {"ready": True, "cpus": cpus, "cpus_available": cpus_available}
