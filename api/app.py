"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; ``forecaster serve`` runs it.

The lifespan connects to Ray through :mod:`cluster` (an embedded local Ray
unless ``FORECASTER_RAY_ADDRESS`` names a cluster), opens the SQLite job store
in the data directory, and starts the job runner, which first requeues any job
a previous process left unfinished; at shutdown it stops the runner (a running
job goes back to the queue) and leaves the Ray it connected. The factory only
reads the calibration: it neither connects to Ray nor writes to the disk.
"""

from __future__ import annotations

import functools
import hmac
import shutil
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, FastAPI, Query, Request, Response, Security
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.metrics import Metrics, MetricsMiddleware
from api.models import ForecastIn, JobOut, Links
from api.problems import Problem, invalid
from api.results import (
    DRAWS_NETCDF,
    MEGABYTE,
    SUMMARY_JSON,
    SUMMARY_NETCDF,
    fan_chart_file,
    sha256_of,
    summary_csv_file,
)
from api.runner import JobRunner
from api.schema import check_request, request_from_dict, request_to_dict
from api.settings import Settings
from api.store import JobRecord, JobStore, check_not_emptied
from cluster import RayExecutor, connect, disconnect, head_reachable, readiness
from forecaster import (
    LEVERS,
    MODEL_VERSION,
    PRESETS,
    BacktestRequest,
    Executor,
    ForecastRequest,
    SerialExecutor,
    load_calibration,
    run_backtest,
    track_record,
)
from forecaster.policy import LEVER_DESCRIPTIONS, PRESET_DESCRIPTIONS, YEAR_RANGE

API_KEY_HEADER = "X-API-Key"
#: The explorer page's files (api/static), served at / and /static.
STATIC = Path(__file__).parent / "static"
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="required when keys are set")
_OVERLOADED: dict[int | str, dict[str, Any]] = {
    503: {"description": "too many jobs queued or running, or the job store is busy; see Retry-After"},
    507: {"description": "the data volume has too little free space for the job's files; see Retry-After"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job"}}
_NOT_READY: dict[int | str, dict[str, Any]] = {**_NOT_FOUND, 409: {"description": "not finished"}}


def _file(description: str, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI of a 200 answer that is a file of one of ``media_types``."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {200: {"description": description, "content": dict.fromkeys(media_types, binary)}}


def _require_key(request: Request, key: Annotated[str | None, Security(_api_key)]) -> None:
    keys: tuple[str, ...] = request.app.state.settings.api_keys
    if not keys:
        return
    given = (key or "").encode()
    # Compare with every key, always: constant time whichever key (if any) matches.
    matched = [hmac.compare_digest(given, candidate.encode()) for candidate in keys]
    if not any(matched):
        raise Problem(401, "Unauthorized", f"a valid API key is required in the {API_KEY_HEADER} header",
                      headers={"WWW-Authenticate": "ApiKey"})


class BodySizeLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on if its body is within the limit; otherwise answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)  # the server stops at the declared length
            return
        # No declared length (chunked): read it here, up to the limit, then hand it on.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = {"type": "about:blank", "title": "Content too large", "status": 413,
                "detail": f"request body exceeds {self.max_bytes} bytes", "instance": scope["path"]}
        await JSONResponse(body, status_code=413, media_type=problems.MEDIA_TYPE)(scope, receive, send)


def _links(job: str) -> Links:
    base = f"/v1/forecasts/{job}"
    return Links(self=base, summary=f"{base}/summary", netcdf=f"{base}/data?format=netcdf",
                 csv=f"{base}/data?format=csv", fanchart=f"{base}/fanchart.png")


def _job_out(record: JobRecord) -> JobOut:
    return JobOut(
        id=record.id, status=record.status, progress=record.progress, created_at=record.created_at,
        started_at=record.started_at, finished_at=record.finished_at, error=record.error,
        request=request_to_dict(ForecastRequest.from_dict(record.request)), links=_links(record.id),
    )


def _ray_problem() -> str | None:
    """Return why the Ray cluster is lost, or None while its head answers.

    Only the head's port is asked: any Ray call would wait for a lost head, and it is asked
    before every submission and every second of a running job.
    """
    return None if head_reachable() else "Ray cluster unreachable: its head (GCS) refuses connections"


def _ray_cpus() -> tuple[float, float] | None:
    """Return the Ray cluster's CPUs, all and not in use, or None while Ray is not ready."""
    status = readiness()
    if not status["ready"]:
        return None
    return float(status["cpus"]), float(status["cpus_available"])  # type: ignore[arg-type]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : Settings, optional
        Default: read from the environment.
    """
    settings = settings or Settings()
    calibration = load_calibration(settings.calibration)
    using_ray = settings.executor == "ray"
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Undone in reverse order at shutdown, and as far as it got if start-up fails.
        with ExitStack() as undo:
            check_not_emptied(settings.data_dir / "jobs.sqlite3", settings.results_dir)
            store = JobStore(settings.data_dir / "jobs.sqlite3")
            undo.callback(metrics.registry.unregister, metrics.watch(store, _ray_cpus if using_ray else None))
            executor: Executor = SerialExecutor()
            owned = False
            if using_ray:
                executor = RayExecutor()
                owned = connect(settings.ray_settings())
                if owned:
                    undo.callback(disconnect)

            def reconnect() -> None:
                disconnect()
                connect(settings.ray_settings())

            runner = JobRunner(store, settings, calibration, executor, metrics,
                               cluster_problem=_ray_problem if using_ray else None,
                               reconnect=reconnect if owned else None)
            app.state.store, app.state.runner = store, runner
            runner.start()
            undo.callback(runner.stop)
            yield

    app = FastAPI(
        title="NQPF circulation forecaster",
        version="1.0",
        summary="Probabilistic forecasts of new quality productive forces under policy mixes",
        lifespan=lifespan,
    )
    app.state.settings = settings
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_require_key)],
                   responses={401: {"description": "missing or invalid API key"}})

    def record_or_404(job: str) -> JobRecord:
        record: JobRecord | None = app.state.store.get(job)
        if record is None:
            raise Problem(404, "Not found", f"no forecast job {job!r}")
        return record

    def succeeded(job: str) -> JobRecord:
        record = record_or_404(job)
        if record.status != "succeeded":
            raise Problem(409, "Not ready", f"job {job} is {record.status}; results exist once it succeeds",
                          problems.CONFLICT)
        return record

    checked: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> SHA-256 found equal

    def result_file(record: JobRecord, name: str) -> Path:
        """Return a succeeded job's file, checked against the SHA-256 recorded when it was written.

        Checked on first read and remembered while the file's size and time stay the same. A
        missing or changed file marks the job failed (submitting it again recomputes the same
        result) and answers a problem naming the job.
        """
        job = record.id
        path = settings.results_dir / job / name
        if record.files is None:
            return path  # written before checksums were recorded
        expected = record.files.get(name)
        try:
            status = path.stat()
            key = (str(path), status.st_size, status.st_mtime_ns)
            intact = expected is not None and (checked.get(key) == expected or sha256_of(path) == expected)
        except OSError:
            intact = False
        if not intact:
            metrics.damaged_results.inc()
            app.state.store.fail_succeeded(job, f"result file {name} was found missing or damaged; submit "
                                                "the job again to recompute it")
            raise Problem(500, "Damaged results", f"job {job}: {name} is missing or does not match the "
                          "SHA-256 recorded when it was written; the job is now failed: submit it again to "
                          "recompute it (results are deterministic)", problems.DAMAGED)
        if len(checked) > 4096:
            checked.clear()
        checked[key] = str(expected)
        return path

    def validated(body: ForecastIn) -> ForecastRequest:
        request = request_from_dict(body.to_data(), where="body")
        caps = [
            ("body.draws", request.n_draws, settings.max_draws),
            ("body.horizon_years", request.horizon_years, settings.max_horizon_years),
            ("body.economies", len(request.economies or calibration.economies), settings.max_economies),
        ]
        for field, value, cap in caps:
            if value > cap:
                raise invalid(field, f"must be at most {cap} on this service, got {value}")
        check_request(request, calibration, where="body")
        return request

    @v1.post("/forecasts", status_code=202, response_model=JobOut,
             responses={200: {"description": "the same job exists already", "model": JobOut},
                        202: {"description": "queued; poll Location"}, **_OVERLOADED})
    def submit(
        body: Annotated[ForecastIn, Body(openapi_examples={
            "preset": {"summary": "a preset for three economies",
                       "value": {"policy": "high-level-opening", "economies": ["CHN", "USA", "EU"],
                                 "horizon_years": 10, "draws": 2000, "seed": 1}},
            "levers": {"summary": "explicit levers",
                       "value": {"policy": {"digital": {"intensity": 0.8, "enacting": ["ASEAN"]},
                                            "software": {"intensity": 0.5, "start_year": 2027}},
                                 "draws": 1000, "horizon_years": 15, "thresholds": [0.01, 0.03]}},
        })],
        request: Request, response: Response,
    ) -> JobOut:
        """Queue a forecast (202), or return the existing job for the same request and seed (200)."""
        record, queued = request.app.state.runner.submit(validated(body))
        response.status_code = 202 if queued else 200
        response.headers["Location"] = f"/v1/forecasts/{record.id}"
        return _job_out(record)

    @v1.get("/forecasts/{job}", response_model=JobOut, responses=_NOT_FOUND)
    def status(job: str) -> JobOut:
        """Status, progress, timestamps and the request of a job."""
        return _job_out(record_or_404(job))

    @v1.delete("/forecasts/{job}", response_model=JobOut,
               responses={**_NOT_FOUND, 409: {"description": "already finished"}})
    def cancel(job: str, request: Request) -> JobOut:
        """Cancel a queued or running job."""
        record_or_404(job)
        return _job_out(request.app.state.runner.cancel(job))

    @v1.get("/forecasts/{job}/summary", response_class=FileResponse, responses={
        200: {"description": "the summary document (docs/api.md)",
              "content": {"application/json": {"schema": {"type": "object"}}}}, **_NOT_READY})
    def summary(job: str) -> FileResponse:
        """Quantiles, means with Monte-Carlo errors, probabilities, baseline comparison, channels.

        Variables and their dims are listed in docs/api.md; values are nested
        lists in the order of each variable's ``dims``.
        """
        return FileResponse(result_file(succeeded(job), SUMMARY_JSON), media_type="application/json")

    @v1.get("/forecasts/{job}/data", response_class=FileResponse, responses={
        **_file("netCDF (format=netcdf) or CSV (format=csv)", "application/x-netcdf", "text/csv"),
        **_NOT_READY,
    })
    def data(job: str, format: Literal["netcdf", "csv"] = "netcdf") -> FileResponse:
        """Every draw as netCDF (the summary when the run kept no draws), or the summary as CSV."""
        record = succeeded(job)
        if format == "csv":  # derived from summary.nc, which is checked first
            directory = result_file(record, SUMMARY_NETCDF).parent
            return FileResponse(summary_csv_file(directory), media_type="text/csv",
                                filename=f"{job}-summary.csv")
        if record.files is None:  # written before checksums were recorded
            kept_draws = (settings.results_dir / job / DRAWS_NETCDF).exists()
        else:
            kept_draws = DRAWS_NETCDF in record.files
        path = result_file(record, DRAWS_NETCDF if kept_draws else SUMMARY_NETCDF)
        return FileResponse(path, media_type="application/x-netcdf", filename=f"{job}-{path.name}")

    @v1.get("/forecasts/{job}/fanchart.png", response_class=FileResponse,
            responses={**_file("PNG image", "image/png"), **_NOT_READY})
    def fanchart(job: str, economy: Annotated[str | None, Query(max_length=16)] = None) -> FileResponse:
        """Fan chart of TFP against the base year for one economy (default: the first), baseline overlaid."""
        record = succeeded(job)
        economies = record.request["economies"] or list(calibration.economies)
        chosen = economy or economies[0]
        if chosen not in economies:
            raise invalid("query.economy", f"must be one of the job's economies {economies}, got {chosen!r}")
        directory = result_file(record, SUMMARY_NETCDF).parent
        return FileResponse(fan_chart_file(directory, chosen), media_type="image/png")

    @v1.get("/presets")
    def presets() -> dict[str, Any]:
        """Named policy mixes: description and levers."""
        return {name: {"description": PRESET_DESCRIPTIONS[name], "policy": mix.to_dict()}
                for name, mix in PRESETS.items()}

    @v1.get("/levers")
    def levers() -> dict[str, Any]:
        """Describe each lever: what it does and the range of each field."""
        ranges = {"intensity": [0, 1], "start_year": list(YEAR_RANGE), "phase_in_years": [0, 50]}
        return {name: {"description": LEVER_DESCRIPTIONS[name], "ranges": ranges} for name in LEVERS}

    @v1.get("/economies")
    def economies() -> dict[str, Any]:
        """List the calibration: every economy's data, each number with its source and year."""
        return {
            "name": calibration.name, "version": calibration.version, "base_year": calibration.base_year,
            "sha256": calibration.digest,
            "economies": {code: {"name": name, "bloc": bloc, "data": calibration.sources[code]}
                          for code, name, bloc in zip(calibration.economies, calibration.names,
                                                      calibration.blocs, strict=True)},
        }

    @v1.get("/track-record")
    def history() -> dict[str, Any]:
        """How the model's fan charts did against history (docs/validation.md): pooled coverage and skill."""
        return model_track_record()

    app.include_router(v1)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        """Serve the forecast explorer page (static files; it calls the /v1 API)."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Answer while the process is alive (on the event loop: never queued behind store waits)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "not ready; detail says why"}})
    def readyz() -> dict[str, Any]:
        """Ready when Ray is reachable (if used) and the job store is writable."""
        found: list[str] = []
        store: JobStore = app.state.store
        if not store.writable():
            found.append(f"job store {store.path} is not writable")
        free = shutil.disk_usage(settings.data_dir).free
        if free < settings.min_free_megabytes * MEGABYTE:
            found.append(f"the data volume has {free / MEGABYTE:,.0f} MB free, below the floor of "
                         f"{settings.min_free_megabytes:,} MB")
        if using_ray:
            ray_status = readiness()
            if not ray_status["ready"]:
                found.append(str(ray_status["problem"]))
        if found:
            raise Problem(503, "Not ready", "; ".join(found), problems.UNAVAILABLE)
        return {"status": "ready"}

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


@functools.cache
def model_track_record() -> dict[str, Any]:
    """Compute the default backtest's headline (about a second; once per process).

    Baseline TFP growth forecast from the origins 1990, 1995, 2000 and 2005 with the data up to
    each, 10 years ahead, 2,000 draws, scored against Penn World Table 9.1.
    """
    request = BacktestRequest()
    record = track_record(run_backtest(request))
    best = min(("random_walk", "climatology"), key=lambda kind: record[f"crps_{kind}"])
    return {
        **record,
        "best_benchmark": best,
        "skill_vs_best": record[f"skill_vs_{best}"],
        "origins": list(request.origins),
        "horizon_years": request.horizon_years,
        "n_draws": request.n_draws,
        "model_version": MODEL_VERSION,
    }
