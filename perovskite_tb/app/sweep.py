r"""Parameter sweeps as a first-class job: TOML run file → points → local pool or Dask → resumable HDF5.

``perovskite-tb sweep run.toml`` (or :func:`run_sweep`) expands the axes of a run file into points
(material × parameter set × size × temperature × model × Zeeman variant), skips the points already
in the output file, computes the others in a local process pool (default) or on a Dask distributed
cluster, and appends each point to the HDF5 file as soon as it is finished. Only the calling
(writer) process opens the HDF5 file; workers return plain rows.

The run-file schema (parsed and validated in :mod:`perovskite_tb.app.runfile`) is documented in
``docs/run-file.md``; in short::

    output = "sweep.h5"                 # relative paths: relative to the run file's directory
    plot = "sweep.png"                  # optional: g vs transition energy (perovskite_tb.app.plot)

    [axes]
    material = ["CsPbI3"]               # a string or a list
    parameter_set = ["nestoklon2023"]   # ETB sets ("default" = the material's default; *.toml = a file)
    model = ["etb", "kp"]
    n_cells = [2, 3, [2, 2, 3]]         # ETB cuboids (N → N×N×N); k·p at edge N·a(T) of the ETB set
    edge_nm = [3.0, 5.0]                # k·p only: explicit cube edges (nm)
    temperature_K = [6.0]
    orbital_zeeman = [false, true]      # ETB only (on-site μB L·B term)

    [options]
    temperature_rule = "a"              # perovskite_tb.model.temperature rule for the ETB sets
    kp_parameter_set = "etb-nestoklon2023"
    kp_resolution = 12                  # k·p envelope functions per direction (default: by size)

    [execution]
    workers = 2                         # local processes (1 = run in this process)
    max_memory_gb = 16.0                # sum of the estimates of the points running at once
    threads_per_worker = 1              # BLAS threads per point

    [cluster]
    scheduler = "tcp://127.0.0.1:8786"  # Dask distributed scheduler (or --scheduler on the CLI)

Point identity (the resume key) is (model, material, parameter_set, lattice_set, n_cells or
edge_nm, temperature_K, orbital_zeeman), see :func:`point_key`. k·p points use the k·p set as
``parameter_set``; those given by ``n_cells`` record the ETB set that fixes their edge as
``lattice_set``, those given by ``edge_nm`` have ``n_cells = (0, 0, 0)`` and ``lattice_set = ""``.
The Zeeman axis applies to ETB only (k·p rows have ``orbital_zeeman = False``).

Output: the ``perovskite_tb.app.curve/1`` layout of :mod:`perovskite_tb.app.io` (readable by
:func:`perovskite_tb.app.io.read_curve`, :func:`perovskite_tb.app.plot.plot_curve` and
:func:`perovskite_tb.app.io.load_results`) with root attributes ``kind = "sweep"``, ``run_toml`` (the
resolved run file), ``run_file_text``, ``options_json``, ``parameter_files_json`` (path, SHA-256 and
citations of every ETB set used) and ``n_points_computed`` (rows ever appended, across restarts).

Failures: a point that raises :class:`~perovskite_tb.errors.PerovskiteTBError` does not stop the
others; after the run a :class:`~perovskite_tb.errors.SolverError` lists them (they are retried on
the next run). SIGTERM and Ctrl-C stop the workers, finish the row being written and close the file.

Debugging hook: if the environment variable ``PEROVSKITE_TB_SWEEP_TRACE`` names a file, every
point appends ``start <key>`` / ``done <key>`` (worker) and ``written <key>`` (writer) lines to it.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from perovskite_tb.errors import InputError, PerovskiteTBError, SolverError
from perovskite_tb.app.runfile import (  # noqa: F401  (re-exported: part of the sweep API)
    MODELS,
    RUN_SCHEMA,
    Axes,
    Execution,
    Options,
    RunSpec,
    load_run_file,
    parse_run,
    _check_scheduler,
    spec_to_toml,
)

from perovskite_tb.app.points import (  # noqa: F401  (re-exported: part of the sweep API)
    Point,
    _kp_default,
    _Resolved,
    expand_points,
    point_key,
)

#: Environment variable naming a trace file (debugging hook, see the module docstring).
TRACE_ENV = "PEROVSKITE_TB_SWEEP_TRACE"


__all__ = [
    "RUN_SCHEMA",
    "MODELS",
    "Axes",
    "Options",
    "Execution",
    "RunSpec",
    "Point",
    "SweepReport",
    "parse_run",
    "load_run_file",
    "spec_to_toml",
    "expand_points",
    "point_key",
    "compute_point",
    "run_sweep",
]

# ------------------------------------------------------------------------------------------------
# The computation of one point (runs in a worker; returns a plain row)
# ------------------------------------------------------------------------------------------------


def _trace(event: str, key: str) -> None:
    path = os.environ.get(TRACE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{event} {key} {os.getpid()}\n")


def _peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: KiB → GB (approx.)


@contextmanager
def _blas_threads(n: int | None):
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=n):
        yield


def compute_point(
    point: Point, threads: int | None = None, etb_solver: Callable | None = None
) -> dict:
    """Compute one point; returns its row (:data:`perovskite_tb.app.io.COLUMNS` + ID columns).

    Parameters
    ----------
    point : Point
    threads : int, optional
        BLAS threads for this point (threadpoolctl); None leaves the process setting.
    etb_solver : callable, optional
        ``(params, N, orbital_zeeman) -> NcResult`` replacing :func:`perovskite_tb.nc.nc_gfactors`
        for cubes (in-process runs only; used by :mod:`perovskite_tb.app.curve`).

    Raises
    ------
    PerovskiteTBError
        Solver failures.
    """
    import numpy as np

    _trace("start", point.key)
    t0 = time.perf_counter()
    with _blas_threads(threads):
        if point.model == "etb":
            n = point.n_cells
            if etb_solver is not None and n[0] == n[1] == n[2]:
                r = etb_solver(point.params, n[0], point.orbital_zeeman)
            else:
                from perovskite_tb.nc import nc_gfactors

                r = nc_gfactors(point.params, n, orbital_zeeman=point.orbital_zeeman)
            row = {
                "n_cells": tuple(n),
                "edge_nm": r.edge_nm[0],
                "temperature_K": point.temperature_K,
                "n_states": r.n_states,
                "E_e": r.E_e,
                "E_h": r.E_h,
                "transition_energy": r.transition_energy,
                "g_e": r.g_e.g,
                "g_h": r.g_h.g,
                "g_e_tensor": r.g_e.tensor,
                "g_h_tensor": r.g_h.tensor,
                "residual_e": r.residual_e,
                "residual_h": r.residual_h,
                "seconds": r.seconds,
            }
        else:
            from kp.confinement import nc_gfactors as kp_nc

            L = float(point.edge_nm)
            res = {} if point.kp_resolution is None else {_kp_resolution_kw(kp_nc): point.kp_resolution}
            d = kp_nc(
                point.material,
                (L, L, L),
                parameter_set=point.parameter_set,
                temperature_K=point.temperature_K,
                **res,
            )
            row = {
                "n_cells": tuple(point.n_cells),
                "edge_nm": L,
                "temperature_K": point.temperature_K,
                "n_states": d["n_states"],
                "E_e": d["E_e_eV"],
                "E_h": d["E_h_eV"],
                "transition_energy": d["transition_energy_eV"],
                "g_e": d["g_e"],
                "g_h": d["g_h"],
                "g_e_tensor": np.asarray(d["g_e_tensor"]),
                "g_h_tensor": np.asarray(d["g_h_tensor"]),
                "residual_e": d.get("residual_e_eV", np.nan),
                "residual_h": d.get("residual_h_eV", np.nan),
                "seconds": time.perf_counter() - t0,
            }
    row.update(
        peak_rss_GB=_peak_rss_gb(),
        material=point.material,
        parameter_set=point.parameter_set,
        lattice_set=point.lattice_set,
        orbital_zeeman=bool(point.orbital_zeeman),
    )
    _trace("done", point.key)
    return row


def _kp_resolution_kw(fn) -> str:
    """Name of the resolution keyword of ``kp.confinement.nc_gfactors`` (``n_grid`` or ``n_basis``)."""
    import inspect

    names = inspect.signature(fn).parameters
    for kw in ("n_grid", "n_basis"):
        if kw in names:
            return kw
    raise InputError("[options].kp_resolution: this kp version takes no resolution argument")


def _worker_init(threads: int | None) -> None:  # pragma: no cover - runs in the workers
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the writer decides; it terminates us


# ------------------------------------------------------------------------------------------------
# Runner
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    """Outcome of :func:`run_sweep`.

    Attributes
    ----------
    output : str
    n_points : int
        Points of the run file.
    n_skipped : int
        Already in the file.
    n_computed : int
        Computed and written by this call.
    failures : tuple of (key, message)
    """

    output: str
    n_points: int
    n_skipped: int
    n_computed: int
    failures: tuple = ()


class _Stop(BaseException):
    """SIGTERM received (raised outside the row writes)."""


class _Guard:
    """Turns SIGTERM into :class:`_Stop`, deferred while a row is being written."""

    def __init__(self):
        self.writing = False
        self.pending = False
        self._old = None

    def _handler(self, signum, frame):
        if self.writing:
            self.pending = True
        else:
            raise _Stop()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    @contextmanager
    def writing_row(self):
        self.writing = True
        try:
            yield
        finally:
            self.writing = False
        if self.pending:
            raise _Stop()


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def _available_gb() -> float:
    try:
        import psutil

        return psutil.virtual_memory().available / 1e9
    except ImportError:  # pragma: no cover
        return 8.0


def _check_resume(path: Path, invariants: dict, sets: dict) -> None:
    """Refuse to mix points made with other model options or changed parameter files into ``path``."""
    import h5py

    if not path.exists():
        return
    try:
        with h5py.File(path, "r") as f:
            a = dict(f.attrs)
    except OSError as exc:
        raise InputError(f"cannot open result file {str(path)!r}: {exc}") from None
    if "options_json" in a:
        old = json.loads(a["options_json"])
    elif "config_json" in a:  # a curve file
        old = {
            "temperature_rule": json.loads(a["config_json"]).get("temperature_rule", "a"),
            "kp_resolution": None,
        }
    else:
        old = {}
    diff = sorted(k for k in invariants if k in old and old[k] != invariants[k])
    if diff:
        raise InputError(
            f"{path} was made with different inputs ({', '.join(diff)}); use another output file"
        )
    old_sets = json.loads(a.get("parameter_files_json", "{}"))
    for name, info in sets.items():
        if (
            name in old_sets
            and old_sets[name]["sha256"]
            and info["sha256"] != old_sets[name]["sha256"]
        ):
            raise InputError(
                f"{path}: parameter file of set {name!r} changed since the file was written "
                f"(SHA-256 {old_sets[name]['sha256'][:12]} → {info['sha256'][:12]}); "
                "use another output file"
            )


def _done_keys(writer, model: str) -> set:
    from perovskite_tb.app.export import _fill

    rows = writer.rows(model)
    if not rows or "n_cells" not in rows:
        return set()
    fill = _fill(dict(writer.file.attrs), model)
    n = len(rows["n_cells"])
    col = {k: rows[k] if k in rows else [fill[k]] * n for k in fill}
    return {
        point_key(
            model,
            col["material"][i],
            col["parameter_set"][i],
            col["lattice_set"][i],
            rows["n_cells"][i],
            rows["edge_nm"][i],
            rows["temperature_K"][i],
            col["orbital_zeeman"][i],
        )
        for i in range(n)
    }


def run_sweep(
    spec: RunSpec,
    *,
    scheduler: str | None = None,
    progress: bool | None = None,
    attrs: dict | None = None,
    params_attrs: dict | None = None,
    etb_solver: Callable | None = None,
    run_file_text: str | None = None,
) -> SweepReport:
    """Run (or resume) a sweep; each finished point is appended to ``spec.output`` at once.

    Parameters
    ----------
    spec : RunSpec
    scheduler : str, optional
        Dask scheduler address; overrides ``spec.execution.scheduler``.
    progress : bool, optional
        tqdm bar (default: stderr is a TTY and ``CI`` is unset).
    attrs : dict, optional
        Extra root attributes (the curve front end passes its ``config_json`` and provenance; a
        differing ``config_json`` refuses to resume, see :class:`perovskite_tb.app.io.CurveWriter`).
    params_attrs : dict, optional
        Values for ``/params`` attributes.
    etb_solver : callable, optional
        In-process replacement of the cube solver, see :func:`compute_point` (needs ``workers = 1``).
    run_file_text : str, optional
        Original run-file text, stored as ``run_file_text``.

    Returns
    -------
    SweepReport

    Raises
    ------
    PerovskiteTBError
        Invalid inputs (before anything is computed), a changed parameter file or model option on
        resume, unreachable scheduler, or — after all other points are written — failed points.
    KeyboardInterrupt
        On Ctrl-C or SIGTERM, after the workers are stopped and the file is closed.
    """
    from perovskite_tb.app.export import _fill
    from perovskite_tb.app.io import CurveWriter

    res = expand_points(spec)
    ex = spec.execution
    scheduler = scheduler or ex.scheduler
    if scheduler:
        _check_scheduler(
            scheduler, lambda m: (_ for _ in ()).throw(InputError(f"--scheduler: {m}"))
        )
    out = _check_output(spec)
    sets = {}
    for (mat, ps), p in res.etb_sets.items():
        name = p.parameter_set if not ps.endswith(".toml") else ps
        sets[f"{mat}/{name}"] = {
            "path": p.path,
            "sha256": p.file_sha256,
            "citations": dict(p.sources),
        }
    _check_resume(out, res.invariants, sets)
    root = {
        "kind": "sweep",
        "run_toml": spec_to_toml(spec),
        "options_json": json.dumps(res.invariants),
        "run_file_text": run_file_text or "",
    }
    if attrs:
        root.update(attrs)
        root["kind"] = attrs.get("kind", "curve")
    if progress is None:
        import sys

        progress = sys.stderr.isatty() and not os.environ.get("CI")
    failures = []
    n_new = 0
    with _Guard() as guard, CurveWriter(out, root, params_attrs) as w:
        f = w.file
        old_sets = (
            json.loads(f.attrs.get("parameter_files_json", "{}"))
            if "parameter_files_json" in f.attrs
            else {}
        )
        f.attrs["parameter_files_json"] = json.dumps({**old_sets, **sets})
        f.flush()
        done = set()
        for m in MODELS:
            done |= _done_keys(w, m)
        todo = [p for p in res.points if p.key not in done]
        n_skip = len(res.points) - len(todo)

        from tqdm import tqdm

        bar = tqdm(total=len(todo), disable=not progress, desc="sweep", unit="pt")

        def on_result(point: Point, row: dict | None, err: BaseException | None) -> None:
            nonlocal n_new
            if err is not None:
                failures.append((point.key, f"{type(err).__name__}: {err}"))
            else:
                with guard.writing_row():
                    w.append(point.model, row, fill=_fill(dict(f.attrs), point.model))
                    _trace("written", point.key)
                n_new += 1
            bar.update()
            bar.set_postfix_str(point.key, refresh=False)

        try:
            if not todo:
                pass
            elif scheduler:
                _run_dask(scheduler, todo, ex.threads_per_worker, on_result)
            else:
                workers = ex.workers or min(2, _usable_cores())
                if etb_solver is not None and workers != 1:
                    raise InputError("etb_solver needs workers = 1 (it runs in this process)")
                if workers == 1 or len(todo) == 1 and etb_solver is None and ex.workers is None:
                    for p in todo:
                        try:
                            row = compute_point(p, ex.threads_per_worker, etb_solver)
                        except PerovskiteTBError as exc:
                            on_result(p, None, exc)
                        else:
                            on_result(p, row, None)
                else:
                    budget = ex.max_memory_gb or 0.8 * _available_gb()
                    threads = ex.threads_per_worker or max(1, _usable_cores() // workers)
                    _run_local(todo, workers, budget, threads, on_result)
        except _Stop:
            raise KeyboardInterrupt from None
        finally:
            bar.close()
    if spec.plot and (n_new or not Path(spec.plot).exists()):
        from perovskite_tb.app.plot import plot_curve

        plot_curve(str(out), spec.plot, models=spec.axes.model)
    if failures:
        msg = "; ".join(f"{k}: {m}" for k, m in failures[:3]) + (
            " ..." if len(failures) > 3 else ""
        )
        raise SolverError(
            f"{len(failures)} of {len(todo)} points failed (others saved in {out}): {msg}"
        )
    return SweepReport(
        output=str(out), n_points=len(res.points), n_skipped=n_skip, n_computed=n_new
    )


def _check_output(spec: RunSpec) -> Path:
    out = Path(spec.output)
    if not out.parent.is_dir():
        raise InputError(f"{spec.source}: output: directory {str(out.parent)!r} does not exist")
    if out.exists() and not out.is_file():
        raise InputError(f"{spec.source}: output: {str(out)!r} is not a file")
    return out


def _run_local(todo, workers: int, budget_gb: float, threads: int, on_result) -> None:
    """Local process pool; submits a point only while the running memory estimates fit ``budget_gb``."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # largest first (better packing); the file order does not matter (rows are keyed)
    pending = deque(sorted(todo, key=lambda p: -p.memory_gb))
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(threads,),
    )
    running: dict = {}
    used = 0.0
    clean = False
    try:
        while pending or running:
            while (
                pending
                and len(running) < workers
                and (not running or used + pending[0].memory_gb <= budget_gb)
            ):
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
                    raise SolverError(
                        f"a worker process died while computing {p.key} (out of memory?); "
                        "finished points are saved, re-run to resume"
                    ) from None
                else:
                    on_result(p, row, None)
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:  # stop the workers we started (they may be in a long solve)
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=5)


def _run_dask(address: str, todo, threads, on_result) -> None:
    """Send the points to a Dask distributed scheduler; results come back to this (writer) process."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError(
            "the Dask path needs 'distributed' (pip install 'perovskite-tb[cluster]')"
        ) from None
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
