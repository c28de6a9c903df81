"""Stop an embedded Ray's processes when the process that started it is gone, even by SIGKILL.

:func:`cluster.runtime.connect` runs this file as a script (standard library only,
so it starts in milliseconds and costs little memory) with the process ids of the
processes ``ray.init`` started, and a pipe on standard input whose other end only
the service holds. Ray ties its head processes to the service (the kernel kills
them when it dies) but not their children: the raylet's agents, orphaned, linger
for about a minute, longer when they hang on the lost GCS. So the watchdog notes
the head processes and all their descendants once a second while the service
lives; when the pipe closes (the service died, or :func:`cluster.runtime.disconnect`
closed it), it sends SIGTERM to every one still running, then SIGKILL after
:data:`GRACE_SECONDS`, and exits.

Linux only (it reads ``/proc``). It runs in a session of its own, so signals sent
to the service's process group (Ctrl-C in a terminal, ``kill -- -PGID``) leave it
running until the service is gone. A process is identified by its id and start
time, so an id the system has reused for another process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

#: Seconds between two notes of the processes.
POLL_SECONDS = 1.0
#: Seconds between SIGTERM and SIGKILL.
GRACE_SECONDS = 2.0

#: Process id -> (parent's process id, start time in clock ticks after boot).
Table = dict[int, tuple[int, int]]


def processes() -> Table:
    """Every live process (zombies left out) from ``/proc``."""
    table: Table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                # The command name, in parentheses, may hold spaces and ')': split after the last one.
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):  # it ended meanwhile
            continue
        if fields[0] != b"Z":
            table[int(name)] = (int(fields[1]), int(fields[19]))
    return table


def descendants(known: dict[int, int], table: Table) -> dict[int, int]:
    """Return the processes of ``known`` (id -> start time) still running, with all their descendants."""
    members = {pid: start for pid, start in known.items() if pid in table and table[pid][1] == start}
    while new := {
        pid: start for pid, (ppid, start) in table.items() if ppid in members and pid not in members
    }:
        members |= new
    return members


def stop(known: dict[int, int]) -> None:
    """Send SIGTERM to the processes of ``known`` and their descendants, later SIGKILL to those left."""
    known = descendants(known, processes())
    _signal(known, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while (known := descendants(known, processes())) and time.monotonic() < deadline:
        time.sleep(0.1)
    _signal(known, signal.SIGKILL)


def _signal(known: dict[int, int], number: signal.Signals) -> None:
    for pid in known:
        with contextlib.suppress(OSError):  # it ended meanwhile
            os.kill(pid, number)


def main(argv: list[str]) -> None:
    """Watch the processes whose ids are ``argv`` until standard input closes, then stop them."""
    table = processes()
    known = descendants({pid: table[pid][1] for pid in map(int, argv) if pid in table}, table)
    # Standard input reads as ready only at its end: the service never writes into the pipe.
    while not select.select([sys.stdin], [], [], POLL_SECONDS)[0]:
        known = descendants(known, processes())
    stop(known)


if __name__ == "__main__":
    main(sys.argv[1:])
