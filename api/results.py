"""A finished job's files, one directory per job id, and the JSON form of its summary.

They live in the data directory (shared by replicas on a ReadWriteMany volume) or, with
``FORECASTER_RESULTS_URL``, in object storage with the data directory as each replica's
cache (:class:`ResultFiles`).

Files written when the job finishes: ``summary.nc``, ``summary.json`` (what
``GET /v1/forecasts/{id}/summary`` serves) and ``draws.nc`` (every draw, when
the run kept them). Derived from ``summary.nc`` on first request, so they do
not delay the result: ``summary.csv`` and ``fanchart-{ECONOMY}.png``.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from threading import get_ident
from typing import Any

import fsspec
import numpy as np
import xarray as xr

from api.jobs import JobSpec
from api.metrics import Metrics
from api.store import JobRecord, JobStore
from forecaster import FieldError, Forecast, ForecasterError, fan_chart, write_netcdf
from forecaster.engine import EXACT_MAX_CELLS
from forecaster.outcomes import DRAWN, VARIABLES
from forecaster.params import CHANNELS
from forecaster.report import attribution_chart, tornado_chart, write_summary_csv

SUMMARY_JSON, SUMMARY_NETCDF, SUMMARY_CSV, DRAWS_NETCDF = (
    "summary.json", "summary.nc", "summary.csv", "draws.nc",
)
#: An analysis's files: its dataset, its document and (written on first use) its CSV.
RESULT_JSON, RESULT_NETCDF, RESULT_CSV = "result.json", "result.nc", "result.csv"
#: Bytes of ``draws.nc`` per draw x year x economy cell and scenario: float32 for every per-draw
#: variable, ``channel_growth`` once per channel; the per-draw inputs of ``DRAWN`` (per draw, or per
#: draw and year) counted as if each were a cell variable, an upper bound.
DRAWS_BYTES_PER_CELL = 4 * (len(VARIABLES) - 1 + len(CHANNELS) + len(DRAWN))
#: Bytes of ``summary.nc`` and ``summary.json`` per year x economy, generously (about 13 KB were
#: measured with the default quantiles and a baseline).
SUMMARY_BYTES_PER_CELL = 16_384
MEGABYTE = 1_000_000


class ResultTooLargeError(FieldError):
    """A job's result files would exceed the service's size cap; ``field`` names what to reduce."""


class InsufficientStorageError(ForecasterError):
    """The data volume has too little free space for a job's files (and the floor kept free)."""

    http_status, problem, retry_later = 507, "insufficient-storage", True


class ResultStoreUnavailableError(ForecasterError):
    """The remote result store (object storage) could not be reached to read a job's file."""

    http_status, problem, retry_later = 503, "unavailable", True


class DamagedResultError(ForecasterError):
    """A succeeded job's result file is missing or does not match its recorded SHA-256."""

    http_status, problem = 500, "damaged-results"


def estimated_bytes(spec: JobSpec, n_economies: int) -> int:
    """Bytes a job's result files will take, before it runs (an upper estimate).

    An analysis keeps no draws: its result is a few statistics per year and economy, well within
    the summary's allowance.
    """
    request = spec.request
    if spec.kind != "forecast":
        return SUMMARY_BYTES_PER_CELL * request.horizon_years * n_economies
    cells = request.n_draws * request.horizon_years * n_economies
    scenarios = 2 if request.compare_to_baseline else 1
    draws = cells * scenarios * DRAWS_BYTES_PER_CELL if cells <= EXACT_MAX_CELLS else 0
    return draws + SUMMARY_BYTES_PER_CELL * request.horizon_years * n_economies


def check_storage(needed: int, directory: Path, cap_bytes: int, floor_bytes: int) -> None:
    """Refuse, before it runs, a job whose files exceed the cap or do not fit above the floor.

    Raises
    ------
    ResultTooLargeError
        If ``needed`` exceeds ``cap_bytes``.
    InsufficientStorageError
        If the volume of ``directory`` has less than ``needed + floor_bytes`` free.
    """
    if needed > cap_bytes:
        raise ResultTooLargeError(
            "body.draws", f"the result files would take about {needed / MEGABYTE:,.0f} MB, more than this "
            f"service's limit of {cap_bytes / MEGABYTE:,.0f} MB a job: fewer draws, years or economies",
        )
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < needed + floor_bytes:
        raise InsufficientStorageError(
            f"the data volume has {free / MEGABYTE:,.0f} MB free; this job's files need about "
            f"{needed / MEGABYTE:,.0f} MB and {floor_bytes / MEGABYTE:,.0f} MB are kept free"
        )


def _finite(values: Any) -> Any:
    """Nested lists with NaN and infinities as None (JSON has no NaN)."""
    if isinstance(values, list):
        return [_finite(value) for value in values]
    return values if isinstance(values, int | str) or math.isfinite(values) else None


def summary_document(summary: xr.Dataset) -> dict[str, Any]:
    """Convert a summary to plain JSON-ready data.

    Returns
    -------
    dict
        ``coords`` (year, economy, quantile, threshold, channel), ``variables``
        (each with ``dims``, ``units``, ``long_name`` and nested ``values``
        in the order of ``dims``), and ``attrs`` (provenance: seed, model
        version, calibration hash, the request).
    """
    coords = {name: summary[name].values.tolist() for name in summary.coords}
    variables = {
        name: {
            "dims": list(values.dims),
            "units": values.attrs.get("units", ""),
            "long_name": values.attrs.get("long_name", ""),
            "values": _finite(values.values.tolist()),
        }
        for name, values in summary.data_vars.items()
    }
    attrs = {key: value.item() if isinstance(value, np.generic) else value
             for key, value in summary.attrs.items()}
    return {"coords": coords, "variables": variables, "attrs": attrs}


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_results(directory: Path, result: Forecast | xr.Dataset, writer: str = "") -> dict[str, str]:
    """Write a job's files, atomically: readers see all of them or none.

    A forecast writes its summary (netCDF and JSON) and, when it kept them, its draws; an
    analysis its dataset (netCDF and JSON).

    If writing fails (a full disk), the partial files are removed and the error raised.
    ``writer`` (e.g. the attempt) names the partial directory.

    Returns
    -------
    dict of str to str
        SHA-256 of each file written, by name, to record with the job.
    """
    # A name of the writer's own: two replicas writing one job (one of them about to lose its
    # lease) never share a partial directory.
    partial = directory.with_name(f"{directory.name}{'.' + writer if writer else ''}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        if isinstance(result, xr.Dataset):
            write_netcdf(result, partial / RESULT_NETCDF)
            (partial / RESULT_JSON).write_text(json.dumps(summary_document(result)))
        else:
            write_netcdf(result.summary, partial / SUMMARY_NETCDF)
            (partial / SUMMARY_JSON).write_text(json.dumps(summary_document(result.summary)))
            if result.draws is not None:
                write_netcdf(result.draws, partial / DRAWS_NETCDF)
        digests = {path.name: sha256_of(path) for path in sorted(partial.iterdir())}
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise

    def in_place() -> bool:  # another run of this job (same seeds) already put the same files there
        return all((directory / name).is_file() and sha256_of(directory / name) == digest
                   for name, digest in digests.items())

    try:
        if not in_place():  # else leave them: replacing them would hide them from readers a moment
            shutil.rmtree(directory, ignore_errors=True)  # an older, superseded attempt
            try:
                partial.replace(directory)
            except OSError:
                if not in_place():  # unless the other run renamed its (identical) files in first
                    raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already once renamed
    return digests


def _derived_file(
    path: Path, write: Callable[[xr.Dataset, Path], Path], source: str = SUMMARY_NETCDF
) -> Path:
    """Return ``path``, first writing it with ``write(dataset, path)`` from ``source`` if missing."""
    if not path.exists():
        # A name of this thread's own, so two first requests never write one file.
        partial = path.with_name(f".{path.stem}.{get_ident()}{path.suffix}")
        with xr.open_dataset(path.parent / source, engine="scipy") as dataset:
            write(dataset.load(), partial)
        partial.replace(path)
    return path


def summary_csv_file(directory: Path) -> Path:
    """Return the job's summary as CSV (:func:`forecaster.write_summary_csv`), written on first use."""
    return _derived_file(directory / SUMMARY_CSV, write_summary_csv)


def fan_chart_file(directory: Path, economy: str) -> Path:
    """Return the job's fan chart for ``economy``, drawn on first use."""
    return _derived_file(directory / f"fanchart-{economy}.png",
                         lambda summary, path: fan_chart(summary, economy, path))


def result_csv_file(directory: Path) -> Path:
    """Return an analysis's result as CSV (one row per variable and coordinates), written on first use."""
    return _derived_file(directory / RESULT_CSV, write_summary_csv, RESULT_NETCDF)


def analysis_chart_file(directory: Path, kind: str, economy: str) -> Path:
    """Return an attribution's bars or a sensitivity analysis's tornado for ``economy``, drawn on first use.

    The tornado is of the policy effect when the analysis decomposed it, else of the TFP level.
    """
    def draw(result: xr.Dataset, path: Path) -> Path:
        if kind == "attribution":
            return attribution_chart(result, economy, path)
        output = "tfp_effect" if "tfp_effect" in result.output.values else "tfp"
        return tornado_chart(result, economy, path, output=output)

    return _derived_file(directory / f"chart-{economy}.png", draw, RESULT_NETCDF)


class ResultFiles:
    """Every job's files: written, checked against their recorded SHA-256, copied out, deleted.

    Files are written to ``results_dir`` (one directory per job, renamed into place). With a
    ``remote_url`` (any fsspec URL, e.g. ``s3://BUCKET/PREFIX``), each succeeded job's files are
    also uploaded there before the job is marked succeeded, and ``results_dir`` is only this
    replica's cache: a file missing from it is downloaded on first read. Without one,
    ``results_dir`` is where the files live, shared by replicas on a ReadWriteMany volume.

    A file is checked on first read and remembered while its size and time stay the same. A
    missing or changed file marks the job failed (submitting it again recomputes the same
    result) and raises :class:`DamagedResultError` naming the job.
    """

    def __init__(
        self, results_dir: Path, store: JobStore, metrics: Metrics, remote_url: str | None = None
    ) -> None:
        self.results_dir, self.store, self.metrics = results_dir, store, metrics
        self.remote_url = remote_url
        # fsspec picks the filesystem from the URL's protocol (s3fs for s3://); credentials and
        # endpoint come from that library's usual environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL),
        # read now: an instance of this store's own, not one fsspec cached with another environment.
        self._remote = (None if remote_url is None
                        else fsspec.core.url_to_fs(remote_url, skip_instance_cache=True))
        self._checked: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> SHA-256 found equal

    def write(self, job: str, result: Forecast | xr.Dataset, writer: str = "") -> dict[str, str]:
        """Write a job's files (:func:`write_results`) and upload them; return their SHA-256 by name.

        Raises
        ------
        OSError
            If the files could not be written, or not uploaded (the local copy is then removed).
        """
        directory = self.results_dir / job
        digests = write_results(directory, result, writer)
        if self._remote is not None:
            filesystem, root = self._remote
            try:  # each object is replaced whole; readers look only once the job says succeeded
                for name in digests:
                    filesystem.put_file(str(directory / name), f"{root}/{job}/{name}")
            except Exception as error:
                shutil.rmtree(directory, ignore_errors=True)
                raise OSError(f"result store {self.remote_url}: {type(error).__name__}: {error}") from error
        return digests

    def delete(self, job: str) -> None:
        """Remove a job's files, here and in the remote store."""
        shutil.rmtree(self.results_dir / job, ignore_errors=True)
        if self._remote is not None:
            filesystem, root = self._remote
            filesystem.invalidate_cache()
            with suppress(FileNotFoundError):
                filesystem.rm(f"{root}/{job}", recursive=True)

    def prune_cache(self, max_age_seconds: float) -> None:
        """With a remote store, drop local copies older than ``max_age_seconds`` (they are a cache)."""
        if self._remote is None or not self.results_dir.is_dir():
            return
        oldest = time.time() - max_age_seconds
        for directory in self.results_dir.iterdir():
            if directory.is_dir() and directory.stat().st_mtime < oldest:
                shutil.rmtree(directory, ignore_errors=True)

    def path(self, record: JobRecord, name: str) -> Path:
        """Return the local path of ``record``'s file ``name``, checked (downloaded first if need be)."""
        path = self.results_dir / record.id / name
        if record.files is None:
            return path  # written before checksums were recorded
        expected = record.files.get(name)
        try:
            if expected is not None and not path.exists():
                self._download(record.id, name, path)
            status = path.stat()
            key = (str(path), status.st_size, status.st_mtime_ns)
            known = self._checked.get(key) == expected
            intact = expected is not None and (known or sha256_of(path) == expected)
        except OSError:
            intact = False
        if not intact:
            self.metrics.damaged_results.inc()
            self.store.fail_succeeded(record.id, f"result file {name} was found missing or damaged; submit "
                                                 "the job again to recompute it")
            raise DamagedResultError(
                f"job {record.id}: {name} is missing or does not match the SHA-256 recorded when it was "
                "written; the job is now failed: submit it again to recompute it (results are deterministic)"
            )
        if len(self._checked) > 4096:
            self._checked.clear()
        self._checked[key] = str(expected)
        return path

    def _download(self, job: str, name: str, path: Path) -> None:
        """Copy a file from the remote store (if there is one) to ``path``, through a name of its own."""
        if self._remote is None:
            return
        filesystem, root = self._remote
        partial = path.with_name(f".{name}.{get_ident()}.download")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            filesystem.get_file(f"{root}/{job}/{name}", str(partial))
            partial.replace(path)
        except FileNotFoundError:  # the caller reports the file missing
            partial.unlink(missing_ok=True)
            raise
        except Exception as error:  # unreachable, refused: the file may well be there
            partial.unlink(missing_ok=True)
            raise ResultStoreUnavailableError(
                f"result store {self.remote_url} did not answer ({type(error).__name__}: {error}); "
                "try again later"
            ) from error

    def kept_draws(self, record: JobRecord) -> bool:
        """Whether the job kept every draw (else its data file is the summary)."""
        if record.files is None:  # written before checksums were recorded
            return (self.results_dir / record.id / DRAWS_NETCDF).exists()
        return DRAWS_NETCDF in record.files
