"""The job store: one table of job records, in SQLite (the embedded default) or PostgreSQL.

A job's id is a hash of what determines its result (the request with its seed,
the calibration and the model version), so the same request is one job. Every
state change is a single SQL statement or an exclusive transaction, so
concurrent requests cannot both take the last free slot.

``FORECASTER_DATABASE_URL=postgresql://...`` selects PostgreSQL (psycopg 3,
through a small connection pool), for deployments whose replicas share one
store; unset, the store is a SQLite file in the data directory (write-ahead
log). Both backends run the same SQL (``?`` placeholders become ``%s`` for
psycopg); what differs is how a connection is opened, how the write lock of a
transaction is taken, and where the schema version is kept.

**Migrations** are plain SQL, versioned by their position in :data:`MIGRATIONS`
and applied in order at start-up, inside one transaction that records the new
version (SQLite's ``user_version``; PostgreSQL's ``schema_version`` table,
under an advisory lock, so replicas starting together migrate once). One table
and a change or two a year do not call for Alembic, which would bring
SQLAlchemy and a second description of the schema; a migration is added by
appending its SQL, portable to both backends.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from api.jobs import JobSpec
from forecaster import MODEL_VERSION, ForecasterError

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
STATES: tuple[JobStatus, ...] = ACTIVE + FINISHED

#: The schema, one migration after another (each a list of statements valid in both backends).
#: Timestamps are ISO 8601 text in UTC, which sorts in time order.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, request TEXT NOT NULL, status TEXT NOT NULL, "
        "progress DOUBLE PRECISION NOT NULL DEFAULT 0, created_at TEXT NOT NULL, started_at TEXT, "
        "finished_at TEXT, error TEXT, files TEXT)",
        "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at)",
    ),
    (  # leases: which replica runs a job until when, and the attempt number that fences its writes
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_until TEXT",
        "ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0",
    ),
)


#: Longest wait for another writer's lock: a request answers 503 after it rather than hang.
LOCK_WAIT_SECONDS = 1.0
#: How long a run holds its job without renewing the lease; a job whose replica died is taken
#: over this long after its last heartbeat.
LEASE_SECONDS = 15.0


class StoreFullError(ForecasterError):
    """As many jobs are queued or running as the service allows; try again later."""

    http_status, problem, retry_later = 503, "overloaded", True


class StoreUnavailableError(ForecasterError):
    """The job store cannot be used now; nothing was changed, try again later.

    Locked by another writer past :data:`LOCK_WAIT_SECONDS`, or not writable (a full or
    read-only disk, an I/O error).
    """

    http_status, problem, retry_later = 503, "unavailable", True


class JobStateError(ForecasterError):
    """The job is not in a state that allows what was asked (e.g. cancelling a finished job)."""

    http_status, problem = 409, "conflict"


def check_not_emptied(path: Path, results_dir: Path) -> None:
    """Refuse a store file emptied (0 bytes) while result directories remain beside it.

    SQLite would take an empty file for a new store: every job would be forgotten and its
    files orphaned. A store that never existed, or an empty one with no results, is fine.

    Raises
    ------
    StoreUnavailableError
        Naming the file and what to do.
    """
    if not path.exists() or path.stat().st_size > 0 or not results_dir.is_dir():
        return
    kept = sum(1 for entry in results_dir.iterdir() if entry.is_dir())
    if kept:
        raise StoreUnavailableError(
            f"job store {path} is empty (0 bytes) but {results_dir} holds the files of {kept} jobs: restore "
            "the store from a backup, or move both away to start afresh"
        )


def job_id(spec: JobSpec, calibration_digest: str) -> str:
    """Content hash of everything that determines a job's result (32 hex digits).

    A forecast's identity is its request's, as before analyses existed, so its id is unchanged.
    """
    identity = {"request": spec.to_dict(), "calibration": calibration_digest, "model": MODEL_VERSION}
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _now() -> str:
    return _iso(datetime.now(UTC))


@dataclass(frozen=True)
class Claim:
    """A run of a job: its id and attempt number, which fences the run's writes."""

    job: str
    attempt: int

    def __iter__(self) -> Iterator[Any]:
        """Unpack as ``(job, attempt)``, the order the store's statements take them."""
        return iter((self.job, self.attempt))


@dataclass(frozen=True)
class JobRecord:
    """One row of the store."""

    id: str
    request: dict[str, Any]
    status: JobStatus
    progress: float
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    #: SHA-256 of each result file, by file name, recorded when a job succeeded.
    files: dict[str, str] | None = None
    #: The replica running the job, until when its lease holds, and the run's attempt number.
    lease_owner: str | None = None
    lease_until: str | None = None
    attempt: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        """Build a record from a ``jobs`` row."""
        files = json.loads(row["files"]) if row["files"] else None
        return cls(**{**dict(row), "request": json.loads(row["request"]), "files": files})


class SQLiteBackend:
    """A SQLite file (write-ahead log): a connection per call, the write lock by ``BEGIN IMMEDIATE``."""

    placeholder = "?"
    #: SQLite has one writer at a time: a claim's transaction already excludes the others.
    skip_locked = ""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.name = str(path)

    @contextmanager
    def connect(self, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[Any]:
        """Open a connection (autocommit: transactions are explicit); map its errors to the store's."""
        # A connection per call: sqlite3 connections must not cross threads, and opening
        # one costs tens of microseconds. isolation_level=None: we issue BEGIN ourselves.
        try:
            db = sqlite3.connect(self.path, timeout=lock_wait, isolation_level=None)
        except sqlite3.OperationalError as error:
            raise StoreUnavailableError(f"job store {self.name}: {error}") from error
        db.row_factory = sqlite3.Row
        try:
            yield db
        except sqlite3.OperationalError as error:  # locked, disk full, read-only, I/O error
            raise StoreUnavailableError(f"job store {self.name}: {error}") from error
        finally:
            db.close()

    @contextmanager
    def exclusive(self, db: Any) -> Iterator[None]:
        """Run a transaction holding the database's write lock."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def claiming(self, db: Any) -> AbstractContextManager[None]:
        """Run a claim's transaction: with SQLite, the write lock."""
        return self.exclusive(db)

    def migrate(self) -> None:
        """Apply the migrations this file has not had, recording the version in ``user_version``."""
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            with self.exclusive(db):
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in statements:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")
                # Stores made before result checksums were recorded (and before versions) get the
                # column; their jobs' files are served unverified.
                if "files" not in {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}:
                    db.execute("ALTER TABLE jobs ADD COLUMN files TEXT")

    def close(self) -> None:
        """Nothing to close: connections are per call."""


class PostgresBackend:
    """A PostgreSQL database through a connection pool; the write lock by ``LOCK TABLE``."""

    placeholder = "%s"
    #: Replicas claiming at once each take a different queued job instead of waiting in line.
    skip_locked = " FOR UPDATE SKIP LOCKED"
    #: Key of the advisory lock that serialises migrations across replicas.
    MIGRATION_LOCK = 7_203_412

    def __init__(self, url: str, lock_wait: float = LOCK_WAIT_SECONDS, max_connections: int = 8) -> None:
        import psycopg  # only a deployment with a database needs it
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout

        self._errors: tuple[type[Exception], ...] = (psycopg.OperationalError, PoolTimeout)
        parsed = urlsplit(url)
        self.name = f"postgresql://{parsed.hostname or 'localhost'}{parsed.path}"  # no credentials
        options = f"-c lock_timeout={round(lock_wait * 1000)} -c statement_timeout=30000"
        self.pool = ConnectionPool(
            url, min_size=1, max_size=max_connections, open=False, timeout=lock_wait + 5,
            kwargs={"autocommit": True, "row_factory": dict_row, "options": options, "connect_timeout": 5},
        )
        try:
            self.pool.open(wait=True, timeout=10)
        except self._errors as error:
            raise StoreUnavailableError(f"job store {self.name}: {error}") from error

    @contextmanager
    def connect(self, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[Any]:
        """Borrow a pooled connection (autocommit); map its errors to the store's."""
        try:
            with self.pool.connection() as db:
                yield db
        except self._errors as error:  # unreachable, lock timeout, read-only standby
            raise StoreUnavailableError(f"job store {self.name}: {error}") from error

    @contextmanager
    def exclusive(self, db: Any) -> Iterator[None]:
        """Run a transaction holding the jobs table's write lock (readers are not blocked)."""
        with db.transaction():
            db.execute("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE")
            yield

    def claiming(self, db: Any) -> AbstractContextManager[Any]:
        """Run a claim's transaction: row locks only (``SELECT ... FOR UPDATE SKIP LOCKED``)."""
        return db.transaction()

    def migrate(self) -> None:
        """Apply the migrations the database has not had, one replica at a time."""
        with self.connect() as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (self.MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = db.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()["v"]
            for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))

    def close(self) -> None:
        """Close the pool's connections."""
        self.pool.close()


Backend = SQLiteBackend | PostgresBackend


class _Connection:
    """A backend's connection that takes the store's SQL, written with ``?`` placeholders."""

    def __init__(self, db: Any, placeholder: str) -> None:
        self.db, self.placeholder = db, placeholder

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.db.execute(sql.replace("?", self.placeholder), params)


class JobStore:
    """Job records in a SQLite file or a PostgreSQL database; safe to share between threads.

    Parameters
    ----------
    where : Path or str
        A SQLite file, or a ``postgresql://`` URL.
    """

    def __init__(self, where: Path | str) -> None:
        if isinstance(where, str) and where.startswith(("postgresql://", "postgres://")):
            self.backend: Backend = PostgresBackend(where)
        else:
            self.backend = SQLiteBackend(Path(where))
        self.name = self.backend.name
        self.backend.migrate()

    def close(self) -> None:
        """Release the store's connections (a PostgreSQL pool)."""
        self.backend.close()

    @contextmanager
    def _connect(self, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[_Connection]:
        with self.backend.connect(lock_wait) as db:
            yield _Connection(db, self.backend.placeholder)

    def get(self, job: str) -> JobRecord | None:
        """Return the job's record, or None if there is none."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job,)).fetchone()
        return None if row is None else JobRecord.from_row(row)

    def submit(self, job: str, spec: JobSpec, capacity: int) -> tuple[JobRecord, bool]:
        """Queue a job unless it exists; return its record and whether it was (re)queued.

        A job that failed or was cancelled is queued again; a queued, running
        or succeeded one is returned as it is.

        Raises
        ------
        StoreFullError
            If ``capacity`` jobs are already queued or running.
        """
        with self._connect() as db, self.backend.exclusive(db.db):  # the write lock, before counting
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job,)).fetchone()
            if row is not None and row["status"] not in ("failed", "cancelled"):
                return JobRecord.from_row(row), False
            active = db.execute(
                "SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()["n"]
            if active >= capacity:
                raise StoreFullError(f"queued and running jobs are at the limit of {capacity}")
            db.execute(
                "INSERT INTO jobs (id, request, status, progress, created_at) VALUES (?, ?, 'queued', 0, ?) "
                "ON CONFLICT (id) DO UPDATE SET request = excluded.request, status = 'queued', progress = 0, "
                "created_at = excluded.created_at, started_at = NULL, finished_at = NULL, error = NULL, "
                "files = NULL",
                (job, spec.to_json(), _now()),
            )
        record = self.get(job)
        assert record is not None
        return record, True

    def claim(self, owner: str, lease_seconds: float = LEASE_SECONDS, job: str | None = None) -> Claim | None:
        """Take the oldest job to run, holding it by a lease; None if there is none.

        A job can be taken when it is queued, or running under a lease that has run out (its
        replica died). Taking it starts a new attempt: the attempt number fences every later
        write of the run (:meth:`heartbeat`, :meth:`set_progress`, :meth:`finish`,
        :meth:`requeue`), so a replica that lost the lease cannot write over the new one.

        Parameters
        ----------
        owner : str
            The replica taking it (recorded, for people).
        lease_seconds : float
            How long the lease holds unless :meth:`heartbeat` renews it.
        job : str, optional
            Take this job only, if it can be taken.
        """
        now = datetime.now(UTC)
        claimable = "(status = 'queued' OR (status = 'running' AND (lease_until IS NULL OR lease_until < ?)))"
        chosen = "AND id = ? " if job is not None else ""
        with self._connect() as db, self.backend.claiming(db.db):
            row = db.execute(
                f"SELECT id FROM jobs WHERE {claimable} {chosen}ORDER BY created_at, id LIMIT 1"
                + self.backend.skip_locked,
                (_iso(now), job) if job is not None else (_iso(now),),
            ).fetchone()
            if row is None:
                return None
            attempt = db.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, progress = 0, lease_owner = ?, "
                "lease_until = ?, attempt = attempt + 1 WHERE id = ? RETURNING attempt",
                (_iso(now), owner, _iso(now + timedelta(seconds=lease_seconds)), row["id"]),
            ).fetchone()["attempt"]
        return Claim(row["id"], attempt)

    def heartbeat(self, claim: Claim, lease_seconds: float = LEASE_SECONDS) -> bool:
        """Renew a run's lease; False if the run no longer holds it (cancelled, or taken over)."""
        until = _iso(datetime.now(UTC) + timedelta(seconds=lease_seconds))
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND attempt = ? AND status = 'running'",
                (until, claim.job, claim.attempt),
            ).rowcount
        return changed == 1

    def set_progress(self, claim: Claim, progress: float) -> None:
        """Record the fraction of blocks done of a running job (only by the run holding it)."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ? AND attempt = ? AND status = 'running'",
                       (progress, claim.job, claim.attempt))

    def finish(
        self, claim: Claim, status: JobStatus, error: str | None = None, files: dict[str, str] | None = None
    ) -> bool:
        """Record how a run ended (and its files' SHA-256).

        False if the run no longer holds the job: it was cancelled meanwhile (the cancel
        stands), or its lease ran out and another attempt took the job over.
        """
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, error = ?, files = ?, lease_until = NULL, "
                "progress = CASE WHEN ? = 'succeeded' THEN 1 ELSE progress END "
                "WHERE id = ? AND attempt = ? AND status = 'running'",
                (status, _now(), error, json.dumps(files) if files else None, status, *claim),
            ).rowcount
        return changed == 1

    def fail_succeeded(self, job: str, error: str) -> None:
        """Mark a succeeded job failed (its files are damaged), so that submitting it runs it again."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET status = 'failed', error = ? WHERE id = ? AND status = 'succeeded'",
                       (error, job))

    @property
    def shared(self) -> bool:
        """Whether several service processes may use this store at once (PostgreSQL; not SQLite)."""
        return isinstance(self.backend, PostgresBackend)

    def release_leases(self) -> None:
        """Make every running job claimable now, without waiting for its lease to run out.

        Only for a store no other live process uses (SQLite, one process per data directory):
        whatever ran those jobs is gone.
        """
        with self._connect() as db:
            db.execute("UPDATE jobs SET lease_until = NULL WHERE status = 'running'")

    def requeue(self, claim: Claim) -> None:
        """Put a running job back in the queue (its replica stops, or lost Ray), if the run holds it."""
        with self._connect() as db:
            db.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL, progress = 0, lease_owner = NULL, "
                "lease_until = NULL WHERE id = ? AND attempt = ? AND status = 'running'",
                (claim.job, claim.attempt),
            )

    def cancel(self, job: str) -> JobRecord:
        """Cancel a queued or running job.

        Raises
        ------
        KeyError
            If there is no such job.
        JobStateError
            If it has already finished.
        """
        with self._connect() as db:
            changed = db.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status IN ('queued', 'running')",
                (_now(), job),
            ).rowcount
        record = self.get(job)
        if record is None:
            raise KeyError(job)
        if not changed:
            raise JobStateError(f"job {job} has already finished: {record.status}")
        return record

    def recent(self, limit: int) -> list[JobRecord]:
        """Return the ``limit`` most recently submitted jobs, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY created_at DESC, id LIMIT ?", (limit,)).fetchall()
        return [JobRecord.from_row(row) for row in rows]

    def counts(self) -> dict[JobStatus, int]:
        """Count the jobs in each state."""
        with self._connect() as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status").fetchall()
        found = {row["status"]: row["n"] for row in rows}
        return {state: found.get(state, 0) for state in STATES}

    def expire(self, older_than: timedelta) -> list[str]:
        """Delete finished jobs that finished more than ``older_than`` ago; return their ids."""
        cutoff = (datetime.now(UTC) - older_than).isoformat(timespec="milliseconds")
        with self._connect() as db:
            rows = db.execute(
                "DELETE FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
                "AND finished_at < ? RETURNING id",
                (cutoff,),
            ).fetchall()
        return [row["id"] for row in rows]

    def writable(self) -> bool:
        """Return True if the store can take its write lock now (for the readiness check)."""
        try:
            with self._connect() as db, self.backend.exclusive(db.db):
                pass
        except (sqlite3.Error, StoreUnavailableError):
            return False
        return True
