"""Commands run on a remote Ray cluster as jobs, submitted through the Ray Jobs API.

:func:`submit_command` runs a command (the command line's batch, say) on the
cluster as a Ray job and follows it to the end, printing its log as it comes.
The caller names the command, the files it needs and the packages to ship;
this module knows nothing of what the command does. The job's runtime
environment carries everything the cluster does not have:

- ``working_dir``: the given files, copied to a fresh directory so that
  nothing else is uploaded;
- ``py_modules``: the given packages as this process has them, so the job
  runs exactly the code that validated its input; the job's driver then
  joins the cluster with ``FORECASTER_RAY_SHIP_CODE=0`` (its tasks inherit the
  job's ``py_modules``; Ray refuses the same field twice);
- ``RAY_AUTH_MODE``: this process's mode, so the driver's own check passes
  whatever the head's environment says. The token itself is never put in
  the job (job settings are visible in the dashboard): the driver takes it
  from the cluster's environment.

The job's driver runs on the head node with no CPU reserved
(``entrypoint_num_cpus=0``): it mostly waits for tasks and writes files, and a
reserved CPU would be one fewer for the tasks. The cluster's ``python`` must
have the project's dependencies (the project's image has).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
import ray
import requests
from ray.job_submission import JobDetails, JobStatus, JobSubmissionClient

from cluster.runtime import CODE_EXCLUDES, ClusterUnavailableError, auth_mode, check_reachable, code_modules

#: Seconds between status polls once the log stream has ended or broken.
POLL_INTERVAL = 1.0

#: What Ray's Jobs client raises when the cluster cannot be reached: it speaks HTTP through
#: requests, whose ConnectionError is not the builtin one.
_UNREACHABLE = (ConnectionError, requests.RequestException, RuntimeError)


@dataclass(frozen=True)
class SubmissionOutcome:
    """How a submitted job ended.

    Attributes
    ----------
    submission_id : str
        Ray's id of the job (``ray job logs ID`` shows its log again).
    status : str
        ``SUCCEEDED``, ``FAILED`` or ``STOPPED``.
    exit_code : int or None
        Exit code of the command on the cluster, if it ran.
    message : str
        Ray's description of the end (e.g. why the runtime environment failed).
    """

    submission_id: str
    status: str
    exit_code: int | None
    message: str


def submit_command(
    address: str,
    command: Sequence[str],
    files: Mapping[str, Path],
    packages: Sequence[str],
    metadata: Mapping[str, str],
    log: TextIO | None = None,
) -> SubmissionOutcome:
    """Run ``command`` on the cluster whose Jobs API is at ``address``; follow it to the end.

    Parameters
    ----------
    address : str
        The Ray dashboard's URL, e.g. ``http://head:8265``.
    command : sequence of str
        The job's command, run in a directory that holds ``files``.
    files : mapping of str to Path
        Each local file, by the relative path the command names it with.
    packages : sequence of str
        Packages of this process shipped to the job (``py_modules``).
    metadata : mapping of str to str
        Shown with the job in Ray's dashboard.
    log : text stream, optional
        Where the job's log goes as it arrives (default: standard output).

    Raises
    ------
    ClusterUnavailableError
        If token authentication is not configured, the Jobs API cannot be
        reached or refuses the job, or the cluster goes away while the job runs.
    """
    log = log or sys.stdout
    mode = auth_mode()
    check_reachable(address)
    with tempfile.TemporaryDirectory(prefix="forecaster-job-") as staging:
        for name, source in files.items():
            (Path(staging) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, Path(staging) / name)
        try:
            client = JobSubmissionClient(address)
            submission_id = client.submit_job(
                entrypoint=shlex.join(command),
                entrypoint_num_cpus=0,
                metadata=dict(metadata),
                runtime_env={
                    "working_dir": staging,
                    "py_modules": code_modules(*packages),
                    "excludes": CODE_EXCLUDES,
                    "env_vars": {"FORECASTER_RAY_SHIP_CODE": "0", "RAY_AUTH_MODE": mode},
                },
            )
        except (*_UNREACHABLE, ray.exceptions.RayError) as error:
            raise ClusterUnavailableError(f"Ray Jobs API at {address}: {error}") from None
    try:  # from here on an interrupt stops the job, so the line below must be inside
        print(f"submitted job {submission_id} to {address}", file=log, flush=True)
        info = _follow(client, submission_id, log)
    except KeyboardInterrupt:  # the job is this command's: it does not outlive it
        print(f"interrupted: stopping job {submission_id} on the cluster", file=log, flush=True)
        with contextlib.suppress(Exception):
            client.stop_job(submission_id)
        raise
    except _UNREACHABLE as error:
        raise ClusterUnavailableError(
            f"lost the Ray cluster at {address} while job {submission_id} ran: {error}"
        ) from None
    outcome = SubmissionOutcome(submission_id, str(info.status), info.driver_exit_code, info.message or "")
    print(f"job {submission_id}: {outcome.status} ({outcome.message})", file=log, flush=True)
    return outcome


def _follow(client: JobSubmissionClient, submission_id: str, log: TextIO) -> JobDetails:
    """Print the job's log as it comes, then wait for its final status."""
    try:
        asyncio.run(_print_log(client, submission_id, log))
    except asyncio.CancelledError:
        # Nothing but a Ctrl-C cancels this task; asyncio.run reports one as CancelledError instead of
        # KeyboardInterrupt when the log stream had cancelled a task of its own as it stopped.
        raise KeyboardInterrupt from None
    except (RuntimeError, aiohttp.ClientError) as error:  # the log stream broke; the status still tells
        print(f"(log stream of {submission_id} lost: {error}; waiting for the job to end)", file=log)
    info = client.get_job_info(submission_id)
    while not JobStatus(info.status).is_terminal():
        time.sleep(POLL_INTERVAL)
        info = client.get_job_info(submission_id)
    return info


async def _print_log(client: JobSubmissionClient, submission_id: str, log: TextIO) -> None:
    async for chunk in client.tail_job_logs(submission_id):
        log.write(chunk)
        log.flush()
