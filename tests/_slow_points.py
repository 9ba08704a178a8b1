"""Stand-ins for long points in the orphan tests (module-level, so spawned workers can unpickle them).

Each writes its process id to ``<dir>/pid-<name>`` and then sleeps for two minutes: a worker still alive
seconds after its parent was killed is an orphan.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from perovskite_tb.app.engine import runners


@dataclass(frozen=True)
class FakePoint:
    """The fields of :class:`perovskite_tb.app.engine.points.Point` the local runners read."""

    key: str
    directory: str
    memory_gb: float = 0.01


def _mark(directory: str, name: str) -> None:
    tmp = Path(directory) / f".pid-{name}"
    tmp.write_text(str(os.getpid()))
    tmp.rename(Path(directory) / f"pid-{name}")


def sleepy_point(point: FakePoint, threads) -> dict:
    """Replaces ``compute_point`` in the pool: a point that would take two minutes."""
    _mark(point.directory, point.key)
    time.sleep(120)
    return {}


def sleepy_child(conn, directory: str, ppid: int) -> None:
    """Child of a Dask task: the worker start-up of the runners, then a long 'point'."""
    runners._worker_init(1, ppid)
    _mark(directory, "dask-child")
    time.sleep(120)
    conn.send(("row", {}))


def dask_task(directory: str):
    """A Dask task that runs :func:`sleepy_child` through the cancellation-aware runner."""
    return runners.run_child_until_cancelled(sleepy_child, directory, label="sleepy")
