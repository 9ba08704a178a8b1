"""Where the sweep engine's points run: in this process, a local process pool, one fresh process per
point, or a Dask distributed cluster.

Every runner calls ``on_result(point, row, error)`` in the calling (writer) process once per point,
with either a row or a :class:`~perovskite_tb.errors.PerovskiteTBError`; other exceptions propagate.
The local runners start a point only while the sum of the memory estimates of the running points
fits the budget (largest first).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from perovskite_tb.app.models import compute_point
from perovskite_tb.errors import InputError, PerovskiteTBError, SolverError

__all__ = ["usable_cores", "run_inprocess", "run_pool", "run_isolated", "run_dask"]

_SPAWN = multiprocessing.get_context("spawn")


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_init(threads: int | None) -> None:  # pragma: no cover - runs in the workers
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the writer decides; it terminates us


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
                               initializer=_worker_init, initargs=(threads,))
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


def _isolated_main(conn, point, threads) -> None:  # pragma: no cover - runs in the child
    _worker_init(threads)
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
                proc = _SPAWN.Process(target=_isolated_main, args=(child, p, threads), daemon=True)
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
        futs = {client.submit(compute_point, p, threads, pure=False): p for p in todo}
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
