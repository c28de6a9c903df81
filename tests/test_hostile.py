"""Hostile and unlucky input that must not hurt the service (issue: faults and hostile input)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from live_server import running

from api.batch import MAX_FILE_BYTES
from api.cli import main
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


# ---- the command line and batch files ------------------------------------------------------------

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{new}: &{new} [{', '.join([f'*{old}'] * 9)}]\n" for old, new in zip("abcdefgh", "bcdefghi", strict=True)
) + "scenarios: [*i]\n"


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """About 600 bytes that expand to 9^9 strings: refused before expanding, with a short message."""
    batch = tmp_path / "bomb.yaml"
    batch.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 700
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "aliases (*name) are not allowed in batch files" in error and len(error) < 1_000
    assert not (tmp_path / "out").exists()


def test_an_oversized_batch_file_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "big.yaml"
    batch.write_text("# " + "x" * (MAX_FILE_BYTES + 10) + "\nscenarios: [{name: a}]\n")
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    assert f"more than the limit of {MAX_FILE_BYTES:,}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("scenarios:\n  - {name: a, foo: 1, 2: 3}\n",
         "scenarios[0] (a).2: keys must be field names (strings), got 2"),
        ("scenarios:\n  - {name: a, policy: {digital: {1: 0.5}}}\n",
         "policy.digital.1: keys must be field names (strings), got 1"),
    ],
)
def test_a_key_that_is_not_a_string_is_named(
    text: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "keys.yaml"
    batch.write_text(text)
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    assert words in capsys.readouterr().err


def test_a_huge_bad_value_is_echoed_as_a_short_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "long.yaml"
    batch.write_text(f"scenarios:\n  - {{name: a, draws: '{'9' * 200_000}'}}\n")
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "(a).draws: must be an integer, got '999" in error and "characters)" in error
    assert len(error) < 1_000


def test_the_chart_economy_is_checked_before_the_forecast_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["forecast", "--economies", "USA,EU", "--draws", "20", "--horizon", "5", "--out", str(out)]
    assert main([*argv, "--chart-economy", "CHN"]) == 2
    assert "--chart-economy: must be one of the simulated economies ['USA', 'EU'], got 'CHN'" in (
        capsys.readouterr().err
    )
    assert not out.exists()  # nothing ran
    assert main(argv) == 0  # without CHN, the default chart is the first economy's
    assert (out / "fanchart-USA.png").exists()


def test_a_lone_surrogate_is_refused_before_anything_is_stored(service: httpx.Client) -> None:
    """JSON may escape a lone surrogate, which no UTF-8 file or response can hold: 422, nothing stored."""
    def stored() -> float:
        lines = service.get("/metrics").text.splitlines()
        return sum(float(line.split()[-1]) for line in lines if line.startswith("forecaster_jobs{"))

    before = stored()
    body = b'{"policy": {"name": "\\ud800"}, "economies": ["CHN", "USA"], "horizon_years": 5, "draws": 10}'
    response = service.post("/v1/forecasts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.policy.name"
    assert stored() == before


def test_a_control_character_in_a_batch_policy_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "names.yaml"
    batch.write_text('scenarios:\n  - {name: a, policy: {name: "bell\\a"}}\n')
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    assert "policy.name: must be printable text" in capsys.readouterr().err
