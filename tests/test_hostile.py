"""Hostile and unlucky input that must not hurt the service (issue: faults and hostile input)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from live_server import running

from api.settings import Settings


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile"), executor="serial")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def _raw_request(url: str, method: str) -> bytes:
    """Send one request line with any method over a plain socket (HTTP clients refuse odd methods)."""
    address = urlparse(url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(f"{method} /v1/presets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_odd_methods_cannot_grow_the_metrics(service: httpx.Client) -> None:
    """A client sending made-up methods is counted under ``other``: the label set stays bounded."""
    before = service.get("/metrics").text
    methods = [f"X{i:03d}" + "A" * 1000 for i in range(60)]
    for method in methods:
        assert _raw_request(str(service.base_url), method).startswith(b"HTTP/1.1 405")
    after = service.get("/metrics").text
    assert not any(method in after for method in methods)
    assert 'method="other",route="/v1/presets",status="405"} 60.0' in after
    assert len(after) - len(before) < 10_000  # one new label set, not sixty
