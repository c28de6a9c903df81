"""Hostile and unlucky input that must not hurt the service (issue: faults and hostile input)."""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from live_server import finished, free_port, running, wait_for

from api import results
from api.batch import MAX_FILE_BYTES
from api.cli import main
from api.jobs import JobSpec
from api.metrics import Metrics
from api.runner import JobRunner
from api.settings import Settings
from api.store import Claim, JobStatus, JobStore, StoreUnavailableError, job_id
from forecaster import PRESETS, Calibration, ForecastRequest, SerialExecutor


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
        ("scenarios:\n  - {name: a, 2: 3}\n", "scenarios[0] (a).2: Keys should be strings, got 2"),
        ("scenarios:\n  - {name: a, policy: {digital: {1: 0.5}}}\n",
         "scenarios[0] (a).policy.digital.1: Keys should be strings, got 1"),
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
    assert "(a).draws: Input should be a valid integer, got '999" in error and "characters)" in error
    assert len(error) < 1_000


def test_the_chart_economy_is_checked_before_the_forecast_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = ["forecast", "--preset", "baseline", "--economies", "USA,EU", "--draws", "20", "--horizon", "5",
            "--out", str(out)]
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


# ---- a full disk ----------------------------------------------------------------------------------

BODY = {"policy": "digital", "economies": ["CHN", "USA"], "horizon_years": 3, "draws": 200}


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (root only; CI runs as root): a disk that is really full."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_work_that_cannot_be_written_is_refused_before_it_runs(small_volume: Path) -> None:
    settings = Settings(data_dir=small_volume, executor="serial", min_free_megabytes=1,
                        max_result_megabytes=50)
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        big = {**BODY, "draws": 2000, "horizon_years": 10}  # about 6 MB of files on a 3 MB disk
        response = client.post("/v1/forecasts", json=big)
        assert response.status_code == 507 and response.headers["Retry-After"]
        assert "free; this job's files need about 6 MB and 1 MB are kept free" in response.json()["detail"]
        huge = {**BODY, "draws": 100_000, "horizon_years": 10}  # over the 50 MB cap
        problem = client.post("/v1/forecasts", json=huge).json()
        assert problem["status"] == 422 and problem["errors"][0]["field"] == "body.draws"
        assert "more than this service's limit of 50 MB a job" in problem["errors"][0]["message"]
        assert client.post("/v1/forecasts", json=BODY).status_code == 202  # small work still fits
    tight = Settings(data_dir=small_volume, executor="serial", min_free_megabytes=10)
    with running(tight) as url, httpx.Client(base_url=url, timeout=30) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "below the floor of 10 MB" in ready.json()["detail"]


def test_a_write_that_fails_fails_its_job_and_the_runner_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC in the middle of writing the results: the job fails with the reason, no partial files
    stay, and the next job runs."""
    real_write = results.write_netcdf

    def full_disk(ds: object, path: Path) -> Path:
        Path(path).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(results, "write_netcdf", full_disk)
    settings = Settings(data_dir=tmp_path, executor="serial")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=BODY).json()["id"]
        record = finished(client, job)
        assert record["status"] == "failed"
        assert "the results could not be written: [Errno 28] No space left on device" in record["error"]
        assert not list(settings.results_dir.glob("*.partial")) and not (settings.results_dir / job).exists()
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        monkeypatch.setattr(results, "write_netcdf", real_write)  # space freed
        assert client.post("/v1/forecasts", json=BODY).status_code == 202  # a failed job may be resubmitted
        assert finished(client, job)["status"] == "succeeded"


def test_a_store_that_cannot_record_a_finish_does_not_stop_the_runner(
    tmp_path: Path, calibration: Calibration
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    runner = JobRunner(store, Settings(data_dir=tmp_path, executor="serial"), calibration, SerialExecutor(),
                       Metrics(), store_retry_seconds=0.5)
    first = ForecastRequest(policy=PRESETS["digital"], n_draws=50, horizon_years=3, economies=("CHN", "USA"))
    second = dataclasses.replace(first, seed=1)
    real_finish = store.finish
    refused = job_id(JobSpec("forecast", first), calibration.digest)

    def finish(
        claim: Claim, status: JobStatus, error: str | None = None, files: dict[str, str] | None = None
    ) -> bool:
        if claim.job == refused:
            raise StoreUnavailableError("job store: disk I/O error")
        return real_finish(claim, status, error, files)

    store.finish = finish  # type: ignore[method-assign]
    runner.start()
    try:
        runner.submit(JobSpec("forecast", first))
        record, _ = runner.submit(JobSpec("forecast", second))
        wait_for(lambda: store.get(record.id).status == "succeeded", timeout=60)  # type: ignore[union-attr]
        record = store.get(refused)
        # Still leased to this run, which gave it up: taken again (rerun) once the lease runs out.
        assert record is not None and record.status == "running" and record.attempt == 1
    finally:
        runner.stop()


# ---- a held lock ----------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_a_held_store_lock_gives_503_fast_and_health_never_waits(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial", retry_after_seconds=3)
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        command = [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "jobs.sqlite3"), "12"]
        with subprocess.Popen(command, stdout=subprocess.PIPE) as holder:
            assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"

            def post(seed: int) -> tuple[int, float, str]:
                started = time.monotonic()
                answer = httpx.post(f"{url}/v1/forecasts", json={**BODY, "seed": seed}, timeout=30)
                return answer.status_code, time.monotonic() - started, answer.headers.get("Retry-After", "")

            with ThreadPoolExecutor(60) as pool:
                posts = pool.map(post, range(60))
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                health_seconds = time.monotonic() - started
                answers = list(posts)
            assert health_seconds < 1.0
            assert {status for status, _, _ in answers} == {503}
            assert {retry for _, _, retry in answers} == {"3"}
            # Each waited at most about a second for the lock (some queued for a thread too).
            assert max(seconds for _, seconds, _ in answers) < 8.0
            holder.kill()
        assert client.post("/v1/forecasts", json=BODY).status_code == 202


# ---- damaged result files ----------------------------------------------------------------------------


def test_damaged_or_missing_result_files_are_never_served(tmp_path: Path) -> None:
    """A truncated summary.json or a deleted draws.nc: a problem naming the job, a metric, and the job
    failed so that submitting it again recomputes the same files."""
    settings = Settings(data_dir=tmp_path, executor="serial")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=BODY).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
        original = client.get(f"/v1/forecasts/{job}/summary").content
        directory = settings.results_dir / job
        summary = directory / results.SUMMARY_JSON
        summary.write_bytes(summary.read_bytes()[: len(original) // 2])  # truncated on disk

        answer = client.get(f"/v1/forecasts/{job}/summary")
        assert answer.status_code == 500
        problem = answer.json()
        assert problem["type"] == "/problems/damaged-results" and job in problem["detail"]
        assert "summary.json is missing or does not match the SHA-256" in problem["detail"]
        assert "forecaster_damaged_results_total 1.0" in client.get("/metrics").text
        record = client.get(f"/v1/forecasts/{job}").json()
        assert record["status"] == "failed" and "summary.json was found missing or damaged" in record["error"]

        assert client.post("/v1/forecasts", json=BODY).status_code == 202  # recomputed
        assert finished(client, job)["status"] == "succeeded"
        assert client.get(f"/v1/forecasts/{job}/summary").content == original  # deterministic

        (directory / results.DRAWS_NETCDF).unlink()  # a missing file: a problem, not a bare 500
        answer = client.get(f"/v1/forecasts/{job}/data", params={"format": "netcdf"})
        assert answer.status_code == 500 and answer.json()["type"] == "/problems/damaged-results"


# ---- smaller faults -------------------------------------------------------------------------------


def test_an_emptied_store_beside_results_is_refused_at_start(tmp_path: Path) -> None:
    """A 0-byte jobs.sqlite3 would start as a new, empty store and orphan every result: refused."""
    (tmp_path / "results" / "0123abcd").mkdir(parents=True)
    (tmp_path / "jobs.sqlite3").write_bytes(b"")
    environment = {**os.environ, "FORECASTER_DATA_DIR": str(tmp_path), "FORECASTER_EXECUTOR": "serial"}
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "serve", "--port",
                           str(free_port())], env=environment, capture_output=True, timeout=120)
    assert done.returncode != 0
    assert b"is empty (0 bytes) but" in done.stderr and b"holds the files of 1 jobs" in done.stderr


def test_partial_files_of_an_earlier_process_are_removed_at_start(tmp_path: Path) -> None:
    leftover = tmp_path / "results" / "0123abcd.attempt1.partial"
    leftover.mkdir(parents=True)
    (leftover / "summary.nc").write_bytes(b"half")
    os.utime(leftover, (time.time() - 2 * 3600, time.time() - 2 * 3600))  # no writer for two hours
    fresh = tmp_path / "results" / "4567cdef.attempt1.partial"  # another replica writing now
    fresh.mkdir()
    with running(Settings(data_dir=tmp_path, executor="serial")):
        assert not leftover.exists() and fresh.exists()


def test_a_read_only_data_directory_gives_503_not_500(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, executor="serial")
    with running(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = client.post("/v1/forecasts", json=BODY).json()["id"]
        assert finished(client, job)["status"] == "succeeded"
        remount = f"mount --bind {tmp_path} {tmp_path} && mount -o remount,ro,bind {tmp_path}"
        remounted = subprocess.run(remount, shell=True, capture_output=True)
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remounted.stderr.decode().strip()}")
        try:
            answers = (client.post("/v1/forecasts", json={**BODY, "seed": 9}),
                       client.get(f"/v1/forecasts/{job}"), client.get("/readyz"))
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json()["type"] == "/problems/unavailable"
        finally:
            subprocess.run(["umount", "-l", str(tmp_path)], check=False)
