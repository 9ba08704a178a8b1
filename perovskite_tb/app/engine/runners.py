"""Where the sweep engine's points run: in this process, a local process pool, one fresh process per
point, or a Dask distributed cluster.

Every runner calls ``on_result(point, row, error)`` in the calling (writer) process once per point,
with either a row or a :class:`~perovskite_tb.errors.PerovskiteTBError`; other exceptions propagate.
The local runners start a point only while the sum of the memory estimates of the running points
fits the budget (largest first).

Orphans: every worker process (pool, isolated, and the per-point child of a Dask task) watches its
parent and exits within :data:`WATCH_INTERVAL_S` seconds once it is gone (:func:`watch_parent`), so a
SIGKILL of the sweep leaves no process computing points that can no longer be written. The rows
finished before the kill are in the file (atomic rows, :mod:`perovskite_tb.app.store.io`).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from perovskite_tb.app.engine.models import compute_point
from perovskite_tb.errors import InputError, PerovskiteTBError, SolverError

__all__ = ["usable_cores", "run_inprocess", "run_pool", "run_isolated", "run_dask", "dask_point",
           "run_child_until_cancelled", "watch_parent", "WATCH_INTERVAL_S", "PARENT_GONE_EXIT"]

_SPAWN = multiprocessing.get_context("spawn")
#: Seconds between two checks of a worker's parent (and of a Dask task's cancellation).
WATCH_INTERVAL_S = 0.5
#: Exit status of a worker that found its parent gone.
PARENT_GONE_EXIT = 75


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def watch_parent(ppid: int, interval_s: float = WATCH_INTERVAL_S) -> None:
    """Exit this process (status :data:`PARENT_GONE_EXIT`) as soon as its parent ``ppid`` is gone.

    A daemon thread compares ``os.getppid()`` with ``ppid`` every ``interval_s`` seconds: a process
    whose parent dies is re-parented (to init or a sub-reaper), so the comparison notices a SIGKILL of
    the parent, which no handler can. Portable to every POSIX system (unlike Linux's
    ``PR_SET_PDEATHSIG``, which also fires when the parent *thread* that started the child ends).
    """
    if os.getppid() != ppid:
        os._exit(PARENT_GONE_EXIT)

    def watch():  # pragma: no cover - runs in the workers
        while os.getppid() == ppid:
            time.sleep(interval_s)
        os._exit(PARENT_GONE_EXIT)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_init(threads: int | None, ppid: int | None = None) -> None:  # pragma: no cover - in the workers
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the writer decides; it terminates us
    if ppid is not None:
        watch_parent(ppid)


def run_inprocess(todo, threads, on_result, etb_solver=None) -> None:
    """Every point in this process, in order."""
    for p in todo:
        try:
            row = compute_point(p, threads, etb_solver)
        except PerovskiteTBError as exc:
            on_result(p, None, exc)
        else:
            on_result(p, row, None)


def _stop(procs) -> None:
    """Terminate and reap the worker processes we started (they may be in a long solve)."""
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(timeout=5)


def run_pool(todo, workers: int, budget_gb: float, threads: int, on_result) -> None:
    """Local process pool (spawned workers); memory-guarded submission, largest points first."""
    pending = deque(sorted(todo, key=lambda p: -p.memory_gb))
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=_SPAWN,
                               initializer=_worker_init, initargs=(threads, os.getpid()))
    running: dict = {}
    used = 0.0
    clean = False
    try:
        while pending or running:
            while pending and len(running) < workers and (
                    not running or used + pending[0].memory_gb <= budget_gb):
                p = pending.popleft()
                running[pool.submit(compute_point, p, threads)] = p
                used += p.memory_gb
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                p = running.pop(fut)
                used -= p.memory_gb
                try:
                    row = fut.result()
                except PerovskiteTBError as exc:
                    on_result(p, None, exc)
                except BrokenProcessPool:
                    raise SolverError(f"a worker process died while computing {p.key} (out of "
                                      "memory?); finished points are saved, re-run to resume") from None
                else:
                    on_result(p, row, None)
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            _stop(procs)


def _isolated_main(conn, point, threads, ppid=None) -> None:  # pragma: no cover - runs in the child
    _worker_init(threads, ppid)
    try:
        msg = ("row", compute_point(point, threads))
    except BaseException as exc:  # noqa: BLE001 — everything goes back to the parent
        msg = ("error", exc)
    try:
        conn.send(msg)
    except Exception as exc:  # noqa: BLE001 — an unpicklable exception
        conn.send(("error", RuntimeError(f"{type(msg[1]).__name__}: {msg[1]} ({exc})")))
    conn.close()


def _collect(p, proc, conn, timeout_s, started, on_result) -> bool:
    """Handle one running isolated point; True once it is finished (result, error or timeout)."""
    if conn.poll():
        kind, val = conn.recv()
        proc.join()
        if kind == "row":
            on_result(p, val, None)
        elif isinstance(val, PerovskiteTBError):
            on_result(p, None, val)
        else:
            raise val
        return True
    if not proc.is_alive():
        on_result(p, None, SolverError(f"the process computing {p.key} died (exit code "
                                       f"{proc.exitcode}; out of memory?)"))
        return True
    if timeout_s is not None and time.monotonic() - started > timeout_s:
        _stop([proc])
        on_result(p, None, SolverError(f"stopped after {timeout_s:g} s (point_timeout_s)"))
        return True
    return False


def run_isolated(todo, workers: int, budget_gb: float, threads, on_result,
                 timeout_s: float | None = None) -> None:
    """One fresh process per point (own ``peak_rss_GB``), at most ``workers`` at once."""
    pending = deque(sorted(todo, key=lambda p: -p.memory_gb))
    running: dict = {}  # point key → (point, process, connection, start time)
    used = 0.0
    try:
        while pending or running:
            while pending and len(running) < workers and (
                    not running or used + pending[0].memory_gb <= budget_gb):
                p = pending.popleft()
                parent, child = _SPAWN.Pipe(duplex=False)
                proc = _SPAWN.Process(target=_isolated_main, args=(child, p, threads, os.getpid()), daemon=True)
                proc.start()
                child.close()
                running[p.key] = (p, proc, parent, time.monotonic())
                used += p.memory_gb
            multiprocessing.connection.wait([r[2] for r in running.values()], timeout=0.5)
            for key, (p, proc, conn, t0) in list(running.items()):
                if _collect(p, proc, conn, timeout_s, t0, on_result):
                    del running[key]
                    used -= p.memory_gb
    finally:
        _stop([r[1] for r in running.values()])


def run_dask(address: str, todo, threads, on_result) -> None:
    """Send the points to a Dask distributed scheduler; results come back to this (writer) process."""
    try:
        from distributed import Client, as_completed  # optional dependency ("cluster" extra)
    except ImportError:
        raise InputError(
            "the Dask path needs 'distributed' (pip install 'perovskite-tb[cluster]')") from None
    try:
        client = Client(address)  # timeout: distributed.comm.timeouts.connect
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach Dask scheduler {address}: {exc}") from None
    with client:
        futs = {client.submit(dask_point, p, threads, pure=False): p for p in todo}
        try:
            for fut in as_completed(futs):
                p = futs[fut]
                try:
                    row = fut.result()
                except PerovskiteTBError as exc:
                    on_result(p, None, exc)
                else:
                    on_result(p, row, None)
        finally:
            client.cancel(list(futs))


def dask_point(point, threads):  # pragma: no cover - runs on a Dask worker
    """Compute one point in a child process of the Dask worker, stopped when its sweep is gone.

    A Dask worker cannot interrupt a running task, so a point of a sweep whose writer process was
    killed would run to its end and be lost. The point runs in a fresh process instead
    (:func:`run_child_until_cancelled`), which is terminated once the scheduler has cancelled the task
    (the client disconnected) and exits by itself if the worker dies (:func:`watch_parent`).
    """
    return run_child_until_cancelled(_isolated_main, point, threads, label=point.key)


def run_child_until_cancelled(target, *args, label: str = "point"):  # pragma: no cover - on a Dask worker
    """Run ``target(conn, *args, ppid)`` in a fresh Python process; the value of its ``("row", value)``
    message is returned (an ``("error", exc)`` message raises ``exc``).

    Inside a Dask task, the task's state on its worker is polled every :data:`WATCH_INTERVAL_S`
    seconds; once it is no longer wanted (cancelled, released) the child is terminated and
    SolverError is raised. Outside a worker the child simply runs to its end.

    Raises
    ------
    SolverError
        The child died or the task was cancelled.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ImportError, ValueError, KeyError):  # not in a Dask task
        worker = key = None

    def wanted() -> bool:
        if worker is None:
            return True
        ts = worker.state.tasks.get(key)
        return ts is not None and ts.state not in ("cancelled", "released", "forgotten")

    # a plain subprocess: Dask workers are daemonic processes, which multiprocessing forbids children
    with tempfile.TemporaryDirectory(prefix="perovskite-tb-point-") as d:
        result = os.path.join(d, "message.pickle")
        proc = subprocess.Popen([sys.executable, "-c", "from perovskite_tb.app.engine.runners import _child_main; _child_main()"],
                                stdin=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
        try:
            proc.stdin.write(pickle.dumps((target, args, os.getpid(), result)))
            proc.stdin.close()
            while True:
                try:
                    proc.wait(timeout=WATCH_INTERVAL_S)
                    break
                except subprocess.TimeoutExpired:
                    if not wanted():
                        raise SolverError(f"{label}: cancelled (the sweep that asked for it is gone)") from None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        try:
            with open(result, "rb") as fh:
                kind, val = pickle.load(fh)
        except Exception:  # noqa: BLE001 — no message: the child died
            raise SolverError(f"the process computing {label} died (exit code {proc.returncode}; out of "
                              "memory?)") from None
    if kind == "row":
        return val
    raise val


class _FileConn:
    """The ``conn`` of a :func:`run_child_until_cancelled` child: one pickled message written to a file."""

    def __init__(self, path: str):
        self._path = path

    def send(self, msg) -> None:
        tmp = self._path + ".part"
        with open(tmp, "wb") as fh:
            pickle.dump(msg, fh)
        os.replace(tmp, self._path)

    def close(self) -> None:
        pass


def _child_main() -> None:  # pragma: no cover - runs in the child
    """Entry of a :func:`run_child_until_cancelled` child: (target, args, ppid, message path) on stdin."""
    target, args, ppid, result = pickle.load(sys.stdin.buffer)
    target(_FileConn(result), *args, ppid)
