"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; ``forecaster serve`` runs it.

The routes are in :mod:`api.routes`, by resource; this module assembles them.
The lifespan connects to Ray through :mod:`cluster` (an embedded local Ray
unless ``FORECASTER_RAY_ADDRESS`` names a cluster), opens the job store (SQLite in
the data directory, or the PostgreSQL database of ``FORECASTER_DATABASE_URL``),
and starts the job runner, which first requeues any job a previous process left
unfinished; at shutdown it stops the runner (a running
job goes back to the queue) and leaves the Ray it connected. The factory only
reads the calibration: it neither connects to Ray nor writes to the disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api import problems
from api.metrics import Metrics, MetricsMiddleware
from api.middleware import BodySizeLimit
from api.routes import analyses, catalogue, forecasts, jobs, ops
from api.runner import JobRunner
from api.settings import Settings
from api.store import JobStore, check_not_emptied
from cluster import RayExecutor, connect, disconnect, head_reachable, readiness
from forecaster import Executor, SerialExecutor, load_calibration

#: The explorer page's files (api/static), served at / and /static.
STATIC = Path(__file__).parent / "static"


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


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the store, connect to Ray and start the runner; undo it all at shutdown."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    using_ray = settings.executor == "ray"
    # Undone in reverse order at shutdown, and as far as it got if start-up fails.
    with ExitStack() as undo:
        settings.results_dir.mkdir(parents=True, exist_ok=True)  # with PostgreSQL, nothing else makes it
        location = settings.store_location
        if isinstance(location, Path):
            check_not_emptied(location, settings.results_dir)
        store = JobStore(location)
        undo.callback(store.close)
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

        runner = JobRunner(store, settings, app.state.calibration, executor, metrics,
                           cluster_problem=_ray_problem if using_ray else None,
                           reconnect=reconnect if owned else None, lease_seconds=settings.lease_seconds)
        app.state.store, app.state.runner = store, runner
        app.state.results = runner.results
        runner.start()
        undo.callback(runner.stop)
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    settings : Settings, optional
        Default: read from the environment.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="NQPF circulation forecaster",
        version="1.0",
        summary="Probabilistic forecasts of new quality productive forces under policy mixes",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.calibration = load_calibration(settings.calibration)
    app.state.metrics = metrics = Metrics()
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for resource in (forecasts, analyses, jobs, catalogue, ops):
        app.include_router(resource.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def explorer() -> FileResponse:
        """Serve the forecast explorer page (static files; it calls the /v1 API)."""
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
