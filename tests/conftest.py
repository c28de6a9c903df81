"""Shared fixtures: the shipped calibration, parsed once, one local Ray for the session, and an
executor that lays tasks out differently from the serial one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from cluster import RaySettings, connect, disconnect
from forecaster import Calibration, load_calibration
from forecaster.plan import Block


class ShuffledGroupsExecutor:
    """Regroups blocks in threes and runs the groups in reverse order: a stand-in for any task layout."""

    def run(
        self, task: Callable[[Any, Sequence[Block]], Any], inputs: Any, groups: Sequence[Sequence[Block]]
    ) -> Iterator[tuple[int, Any]]:
        blocks = [block for group in groups for block in group]
        for start in reversed(range(0, len(blocks), 3)):
            chunk = blocks[start : start + 3]
            yield len(chunk), task(inputs, chunk)


@pytest.fixture
def shuffled_executor() -> ShuffledGroupsExecutor:
    return ShuffledGroupsExecutor()


@pytest.fixture(scope="session")
def calibration() -> Calibration:
    return load_calibration()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """A real embedded Ray with 2 CPUs, started once (``ray.init`` costs seconds)."""
    connect(RaySettings(num_cpus=2))
    yield
    disconnect()  # also stops the embedded Ray's watchdog


#: Modules whose tests start processes, browsers, Helm or long statistical runs: not in the fast subset.
SLOW_MODULES = {"test_multinode", "test_explorer", "test_helm", "test_large_runs", "test_ray_access",
                "test_ray_exposure", "test_ray_head_loss", "test_openapi"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark as ``slow`` every test that needs Ray or a slow module (``make test-fast`` leaves them out)."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module is not None else ""  # type: ignore[attr-defined]
        if module in SLOW_MODULES or "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (the ``pgserver`` package's binaries), started once; yields its URL."""
    # pgserver finds its runtime directory through platformdirs, which warns when there is none.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextmanager
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto's, over HTTP on loopback); yields its endpoint URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


#: What s3fs (through botocore) needs to reach the test server; moto takes any credentials.
S3_ENVIRONMENT = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One S3-compatible server for the session."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def results_url(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://BUCKET/results`` in a fresh bucket of the session's server, reached through the environment."""
    import boto3

    for name, value in {**S3_ENVIRONMENT, "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return f"s3://{bucket}/results"


@pytest.fixture
def database_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's server, for one test."""
    import psycopg

    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return postgres_server.replace("/postgres?", f"/{name}?", 1)
