"""Losing the embedded Ray's head (its GCS killed): the service says so, keeps every job, reconnects."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
from live_server import free_port, process, wait_for

#: A job that runs for several seconds on one CPU, so that the head can be killed under it.
LONG = {"economies": ["CHN", "USA", "EU", "JPN"], "horizon_years": 20, "draws": 60_000, "seed": 1}
SHORT = {"economies": ["CHN", "USA"], "horizon_years": 3, "draws": 200, "seed": 2}
#: Ray ends a driver that cannot reach its GCS for 60 s; the service must outlive that.
RAY_DRIVER_EXIT_SECONDS = 60


def test_a_lost_head_gives_503_then_the_service_reconnects_and_loses_no_job(tmp_path: Path) -> None:
    port = free_port()
    env = {"FORECASTER_EXECUTOR": "ray", "FORECASTER_RAY_ADDRESS": "", "FORECASTER_RAY_NUM_CPUS": "1",
           "FORECASTER_API_KEYS": "", "FORECASTER_RETRY_AFTER_SECONDS": "5"}
    with process(tmp_path, port, **env) as child, httpx.Client(base_url=f"http://127.0.0.1:{port}",
                                                              timeout=30) as client:
        long = client.post("/v1/forecasts", json=LONG).json()["id"]
        wait_for(lambda: client.get(f"/v1/forecasts/{long}").json()["progress"] > 0, timeout=120)
        (gcs,) = [p for p in psutil.Process(child.pid).children(recursive=True) if p.name() == "gcs_server"]
        gcs.kill()
        gcs.wait(10)
        killed = time.monotonic()

        seen: list[int] = []

        def refused_answer() -> httpx.Response | None:
            answer = client.post("/v1/forecasts", json=SHORT)
            seen.append(answer.status_code)
            return answer if answer.status_code == 503 else None

        try:
            refused = wait_for(refused_answer, timeout=10)
        except AssertionError:
            raise AssertionError(f"answers after the head was lost: {seen[:10]}") from None
        assert refused.headers["Retry-After"] == "5" and refused.json()["type"] == "/problems/unavailable"
        assert "its head (GCS) refuses connections" in refused.json()["detail"]
        assert client.get("/healthz").status_code == 200

        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=90, interval=0.5)  # reconnected
        record = wait_for(lambda: (r := client.get(f"/v1/forecasts/{long}").json())["status"]
                          in ("succeeded", "failed", "cancelled") and r, timeout=300, interval=0.5)
        assert record["status"] == "succeeded"  # interrupted, queued again, run again on the new Ray
        short = client.post("/v1/forecasts", json=SHORT)
        assert short.status_code == 202
        wait_for(lambda: client.get(f"/v1/forecasts/{short.json()['id']}").json()["status"] == "succeeded",
                 timeout=120, interval=0.5)

        time.sleep(max(0.0, killed + RAY_DRIVER_EXIT_SECONDS + 5 - time.monotonic()))
        assert child.poll() is None and client.get("/healthz").status_code == 200  # still up
