"""Running the HTTP service for tests: a real uvicorn on a loopback port, in a thread or a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from api.app import create_app
from api.settings import Settings
from api.store import JobRecord, JobStore

TERMINAL = {"succeeded", "failed", "cancelled"}


@contextmanager
def running(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on 127.0.0.1 (a free port); yield its base URL."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


def free_port() -> int:
    """A port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(data_dir: Path, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``forecaster serve`` in a child process (serial executor), until it is ready."""
    environment = {**os.environ, "FORECASTER_DATA_DIR": str(data_dir), "FORECASTER_EXECUTOR": "serial", **env}
    child = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=120)
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Any, timeout: float, interval: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not done within {timeout} s")


def stored(where: Path | str, job: str) -> JobRecord | None:
    """Read one job's record straight from a store (SQLite file or PostgreSQL URL), as it is now."""
    store = JobStore(where)
    try:
        return store.get(job)
    finally:
        store.close()


def backdate(store: JobStore, job: str) -> None:
    """Make a finished job look as if it finished in 2000 (through the store's own connection)."""
    with store._connect() as db:
        db.execute("UPDATE jobs SET finished_at = '2000-01-01T00:00:00.000+00:00' WHERE id = ?", (job,))


def finished(
    client: httpx.Client, job: str, timeout: float = 120, collection: str = "forecasts"
) -> dict[str, Any]:
    """Poll a job of ``collection`` until it is in a terminal state; return its record."""

    def terminal() -> dict[str, Any] | None:
        record: dict[str, Any] = client.get(f"/v1/{collection}/{job}").json()
        return record if record["status"] in TERMINAL else None

    result: dict[str, Any] = wait_for(terminal, timeout)
    return result
