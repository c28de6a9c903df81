"""Reaching an existing Ray cluster: token settings, unreachable addresses, exit codes.

No Ray is started here. Commands that would join a cluster run in subprocesses: this
process's Ray (conftest) is already initialised, and Ray reads its ``RAY_AUTH_*``
variables from the environment at start-up, so they are set only in children.
"""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cluster.submission
from api.cli import main
from cluster.runtime import ClusterUnavailableError, auth_mode, check_reachable, environment_problems

GOOD = """
scenarios:
  - {name: opening, policy: high-level-opening, draws: 100, horizon_years: 3}
"""


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_auth_mode_must_be_explicit_and_token_mode_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnavailableError, match="RAY_AUTH_MODE must be set to 'token' or 'disabled'"):
        auth_mode({})
    missing = str(tmp_path / "absent")
    with pytest.raises(ClusterUnavailableError, match=f"no token in the file RAY_AUTH_TOKEN_PATH={missing}"):
        auth_mode({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": missing})
    (tmp_path / "token").write_text("f" * 64)
    assert auth_mode({"RAY_AUTH_MODE": "TOKEN", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "token")}) == "token"
    assert auth_mode({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "f" * 64}) == "token"
    assert auth_mode({"RAY_AUTH_MODE": "disabled"}) == "disabled"


def test_unreachable_or_malformed_addresses_are_named(closed_port: int) -> None:
    refused = f"nothing accepts connections at 127.0.0.1:{closed_port}"
    for address in (f"127.0.0.1:{closed_port}", f"http://127.0.0.1:{closed_port}"):
        with pytest.raises(ClusterUnavailableError, match=refused):
            check_reachable(address)
    for address in ("head", "head:port", "ray://head"):
        with pytest.raises(ClusterUnavailableError, match="expected HOST:PORT"):
            check_reachable(address)
    check_reachable("auto")  # left to Ray: it looks for this machine's running instance


def test_workers_with_another_numpy_or_model_are_refused() -> None:
    here = {"python": "3.11.7", "numpy": "2.4.6", "model": "1.0"}
    assert environment_problems(here, dict(here)) == []
    assert environment_problems(here, {**here, "numpy": "2.3.0", "model": "0.9"}) == [
        "numpy 2.3.0 on the workers, 2.4.6 here",
        "model 0.9 on the workers, 1.0 here",
    ]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "FORECASTER_"))}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=clean | env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "RAY_AUTH_MODE must be set to 'token' or 'disabled'"),
        ({"RAY_AUTH_MODE": "disabled"}, "Ray cluster unreachable: nothing accepts connections at 127.0.0.1:"),
    ],
)
def test_forecast_on_an_unavailable_cluster_exits_4_saying_why(
    tmp_path: Path, closed_port: int, env: dict[str, str], message: str
) -> None:
    run = _cli("forecast", "--draws", "10", "--horizon", "2", "--executor", "ray", "--out", str(tmp_path),
               RAY_ADDRESS=f"127.0.0.1:{closed_port}", **env)
    assert run.returncode == 4, run.stderr
    assert message in run.stderr


def test_batch_on_an_unreachable_jobs_api_exits_4(tmp_path: Path, closed_port: int) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(GOOD)
    address = f"http://127.0.0.1:{closed_port}"
    run = _cli("batch", str(path), "--address", address, "--out", str(tmp_path), RAY_AUTH_MODE="disabled")
    assert run.returncode == 4, run.stderr
    assert f"nothing accepts connections at 127.0.0.1:{closed_port}" in run.stderr


def test_batch_for_a_cluster_is_validated_here_and_nothing_is_submitted(
    tmp_path: Path, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenarios.yaml"
    path.write_text(GOOD + "  - {name: broken, policy: {digital: {intensity: 2}}}\n")
    address = f"http://127.0.0.1:{closed_port}"  # never contacted: exit 2, not 4
    assert main(["batch", str(path), "--address", address, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "1 problem(s), nothing was run" in err
    assert "scenarios[1] (broken).policy.digital.intensity: must be in [0.0, 1.0], got 2" in err
    path.write_text(GOOD)
    assert main(["batch", str(path), "--address", address, "--out", "relative/out"]) == 2
    assert "--out: must be an absolute path on the cluster with --address, got relative/out" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("status", "exit_code", "expected"),
    [("SUCCEEDED", 0, 0), ("FAILED", 3, 3), ("FAILED", 2, 2), ("FAILED", 4, 4), ("FAILED", 1, 5),
     ("FAILED", None, 5), ("STOPPED", None, 5)],
)
def test_a_job_ends_the_command_with_its_own_code_or_5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    status: str, exit_code: int | None, expected: int,
) -> None:
    """How a job ended on the cluster (as the Jobs API reports it) maps to the command's exit code."""
    submitted: list[tuple[object, ...]] = []

    def fake_submit(*args: object) -> cluster.submission.SubmissionOutcome:
        submitted.append(args)
        message = "Job entrypoint command failed"
        return cluster.submission.SubmissionOutcome("raysubmit_1", status, exit_code, message)

    monkeypatch.setattr(cluster.submission, "submit_command", fake_submit)
    path = tmp_path / "scenarios.yaml"
    path.write_text(GOOD)
    assert main(["batch", str(path), "--address", "http://head:8265", "--out", "/data/batch"]) == expected
    command = ["python", "-m", "api.cli", "batch", "scenarios.yaml", "--executor", "ray",
               "--out", "/data/batch"]
    packages, metadata = ("forecaster", "cluster", "api"), {"forecaster": "batch", "file": "scenarios.yaml"}
    assert submitted == [("http://head:8265", command, {"scenarios.yaml": path}, packages, metadata)]
    err = capsys.readouterr().err
    assert (f"error: job raysubmit_1 {status}: Job entrypoint command failed" in err) == (expected == 5)


def test_a_ctrl_c_reported_as_a_cancelled_log_stream_is_an_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncio.run may report a Ctrl-C during the log stream as CancelledError: still an interrupt,
    so the command stops the job and exits 130."""

    def cancelled(coroutine: Any) -> None:
        coroutine.close()
        raise asyncio.CancelledError

    monkeypatch.setattr(cluster.submission.asyncio, "run", cancelled)
    with pytest.raises(KeyboardInterrupt):
        cluster.submission._follow(object(), "raysubmit_1", io.StringIO())  # type: ignore[arg-type]
