"""The service's settings, read from ``FORECASTER_*`` environment variables (pydantic-settings).

They extend :class:`cluster.RayEnvironment`, the ``FORECASTER_RAY_*`` variables
that the command line reads too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import fsspec
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from cluster import RayEnvironment
from forecaster.request import MAX_DRAWS, MAX_HORIZON_YEARS


class Settings(RayEnvironment):
    """Everything the service can be told; each field is ``FORECASTER_<NAME>`` in the environment.

    The limits are checked on every request before any work starts; they can
    only narrow the engine's own limits (``n_draws`` at most 1,000,000,
    ``horizon_years`` at most 100).
    """

    data_dir: Path = Field(Path("data/service"), description="result files, and the SQLite job store "
                           "unless database_url names a database")
    database_url: SecretStr | None = Field(
        None, description="postgresql://USER:PASSWORD@HOST:PORT/DB for a job store that replicas share "
        "(docs/deploy.md); unset: SQLite in data_dir",
    )
    results_url: str | None = Field(
        None, description="fsspec URL (s3://BUCKET/PREFIX) of object storage that keeps every job's result "
        "files for all replicas, data_dir then being each replica's cache (docs/deploy.md); unset: data_dir",
    )
    calibration: Path | None = Field(None, description="calibration JSON (default: the shipped one)")
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="comma-separated API keys; empty turns authentication off"
    )
    max_draws: int = Field(100_000, ge=1, le=MAX_DRAWS, description="most draws per request")
    max_horizon_years: int = Field(50, ge=1, le=MAX_HORIZON_YEARS, description="longest horizon")
    max_economies: int = Field(50, ge=1, description="most economies listed in one request")
    max_body_bytes: int = Field(65_536, ge=1024, description="largest request body")
    max_active_jobs: int = Field(8, ge=1, description="most jobs queued or running; past it, 503")
    retry_after_seconds: int = Field(10, ge=1, description="Retry-After sent with 503 when full")
    retention_days: float = Field(30.0, gt=0, description="finished jobs and results older are deleted")
    max_result_megabytes: int = Field(2_000, ge=1, description="largest result files of one job, in MB; "
                                      "larger requests are refused (413) before they run")
    min_free_megabytes: int = Field(256, ge=0, description="free space kept on the data volume, in MB; "
                                    "a job that would eat into it is refused (507)")
    executor: Literal["ray", "serial"] = Field("ray", description="where simulations run")
    lease_seconds: float = Field(15.0, ge=1, description="how long a replica holds a running job without "
                                 "renewing its lease; a job whose replica died is taken over after it")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("results_url")
    @classmethod
    def _known_protocol(cls, value: str | None) -> str | None:
        """Refuse at start-up a URL whose filesystem fsspec does not know or cannot load (s3fs missing)."""
        if value is not None:
            protocol = fsspec.core.split_protocol(value)[0] or "file"
            try:
                fsspec.get_filesystem_class(protocol)
            except (ValueError, ImportError) as error:
                raise ValueError(f"cannot keep results at {value!r}: {error}") from error
        return value

    @property
    def store_location(self) -> Path | str:
        """Where the job store is: the database URL, or the SQLite file in the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.data_dir / "jobs.sqlite3"

    @property
    def results_dir(self) -> Path:
        """Where each job's result files live, one directory per job id."""
        return self.data_dir / "results"
