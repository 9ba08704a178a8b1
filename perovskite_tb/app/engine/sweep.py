r"""The sweep engine: run file → points → local pool, fresh processes or Dask → resumable HDF5.

Every job of this package goes through :func:`run_sweep`: ``perovskite-tb sweep run.toml`` with a
user's run file, and ``curve``, ``tseries``, ``halides`` and the k·p study with run files built in
code (:mod:`perovskite_tb.app.jobs.curve` …). The engine expands the axes into points
(:mod:`perovskite_tb.app.engine.points`), skips the points already in the output file, computes the others
(:mod:`perovskite_tb.app.engine.runners`: in this process, a local process pool, one fresh process per
point, or a Dask distributed cluster) and appends each row to the HDF5 file as soon as it is
finished (:class:`perovskite_tb.app.store.io.ResultWriter`). Only the calling (writer) process opens the
file; workers return plain rows (:mod:`perovskite_tb.app.store.results`).

The run-file schema (:mod:`perovskite_tb.app.engine.runfile`) is documented in ``docs/run-file.md``.

Point identity (the resume key, :func:`perovskite_tb.app.store.keys.point_key`) is (model, material,
parameter_set, lattice_set, shape and size, temperature_K, orbital_zeeman[, k·p basis and
resolution]).

Output: :mod:`perovskite_tb.app.store.io` layout with root attributes ``kind`` (``"sweep"`` or the job's
kind), ``run_toml`` (the resolved run file), ``run_file_text``, ``options_json``,
``parameter_files_json`` (path, SHA-256 and citations of every parameter file used) and
``n_points_computed`` (rows ever appended, across restarts).

Failures: a point that raises :class:`~perovskite_tb.errors.PerovskiteTBError` does not stop the
others; after the run a :class:`~perovskite_tb.errors.SolverError` lists them (they are retried on
the next run). SIGTERM and Ctrl-C stop the workers, finish the row being written and close the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from perovskite_tb._system import memory_budget_gb
from perovskite_tb.app.engine import runners
from perovskite_tb.app.store.integrity import damage_guard
from perovskite_tb.app.store.io import ResultWriter, root_attrs
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.app.engine.models import TRACE_ENV, compute_point, trace
from perovskite_tb.app.plot import plot_curve
from perovskite_tb.app.engine.points import Point, expand_points, point_key, row_key
from perovskite_tb.app.store.results import failed_row
from perovskite_tb.app.engine.runfile import (MODELS, RUN_SCHEMA, Axes, Execution, Options, RunSpec,
                                       check_scheduler, load_run_file, parse_run, spec_to_toml)
from perovskite_tb.errors import InputError, SolverError
from kp.parameters import parameters_dir as kp_parameters_dir

__all__ = [
    "RUN_SCHEMA", "MODELS", "TRACE_ENV", "Axes", "Options", "Execution", "RunSpec", "Point",
    "SweepReport", "parse_run", "load_run_file", "spec_to_toml", "expand_points", "point_key",
    "compute_point", "run_sweep", "check_output",
]


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
        Computed (or taken from ``prefilled``) and written by this call.
    failures : tuple of (key, message)
    failed_rows : tuple of dict
        Rows of the failed points (:func:`perovskite_tb.app.store.results.failed_row`: NaN data, ``error``).
    """

    output: str
    n_points: int
    n_skipped: int
    n_computed: int
    failures: tuple = ()
    failed_rows: tuple = ()


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


def _check_resume(path: Path, invariants: dict, sets: dict) -> None:
    """Refuse to mix points made with other model options or changed parameter files into ``path``."""
    if not path.exists():
        return
    a = root_attrs(path)
    with damage_guard(path, "attributes"):
        if "options_json" in a:
            old = json.loads(a["options_json"])
        elif "config_json" in a:  # a curve file written before options_json
            old = {"temperature_rule": json.loads(a["config_json"]).get("temperature_rule", "a")}
        else:
            old = {}
        old_sets = json.loads(a.get("parameter_files_json", "{}"))
    diff = sorted(k for k in invariants if k in old and old[k] != invariants[k])
    if diff:
        raise InputError(f"{path} was made with different inputs ({', '.join(diff)}); "
                         "use another output file")
    with damage_guard(path, "parameter_files_json"):
        for name, info in sets.items():
            if name in old_sets and old_sets[name]["sha256"] and info["sha256"] != old_sets[name]["sha256"]:
                raise InputError(
                    f"{path}: parameter file of set {name!r} changed since the file was written "
                    f"(SHA-256 {old_sets[name]['sha256'][:12]} → {info['sha256'][:12]}); "
                    "use another output file")


def _parameter_files(res) -> dict:
    """Provenance of every parameter file of the run: ``{label: {path, sha256, citations}}``."""
    sets = {}
    for (mat, ps), p in res.etb_sets.items():
        name = p.parameter_set if not ps.endswith(".toml") else ps
        sets[f"{mat}/{name}"] = {"path": p.path, "sha256": p.file_sha256,
                                 "citations": dict(p.sources)}
    if res.kp_sets:
        for f in sorted(kp_parameters_dir().glob("*.kp.toml")):
            sets[f"kp/{f.name}"] = {"path": str(f), "sha256": hashlib.sha256(f.read_bytes()).hexdigest(),
                                    "citations": {}, "sets": sorted(set(res.kp_sets.values()))}
    return sets


def _done_keys(writer: ResultWriter) -> set:
    done = set()
    for m in MODELS:
        rows = writer.rows(m)
        n = len(rows.get("n_cells", ()))
        done |= {row_key({"model": m, **{k: v[i] for k, v in rows.items()}}) for i in range(n)}
    return done


def check_result_path(path, source: str) -> Path:
    """A result file path: ``.h5``/``.hdf5``, not a directory, writable (one InputError line otherwise)."""
    out = Path(path)
    if out.exists() and not out.is_file():
        raise InputError(f"{source}: output: {str(out)!r} is not a file")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"{source}: output: {str(out)!r} must end in .h5 or .hdf5 (results are HDF5)")
    return check_writable(out, f"{source}: output")


def check_output(spec: RunSpec) -> Path:
    """The output path of ``spec`` (:func:`check_result_path`); its figure path too, if it has one."""
    out = check_result_path(spec.output, spec.source)
    if spec.plot:
        check_writable(spec.plot, f"{spec.source}: plot")
    return out


def _execute(todo, spec: RunSpec, scheduler, etb_solver, on_result) -> None:
    """Run the points ``todo`` where the execution settings say."""
    ex = spec.execution
    if scheduler:
        return runners.run_dask(scheduler, todo, ex.threads_per_worker, on_result)
    workers = ex.workers or min(2, runners.usable_cores())
    if etb_solver is not None and (workers != 1 or ex.isolate):
        raise InputError("etb_solver needs workers = 1 and no isolation (it runs in this process)")
    budget = memory_budget_gb(ex.max_memory_gb)
    too_big = [p for p in todo if p.memory_gb > budget]
    if too_big and scheduler is None:  # refused before any point starts (the local machine's budget)
        p = max(too_big, key=lambda q: q.memory_gb)
        raise InputError(f"{len(too_big)} point(s) need more memory than the {budget:.1f} GB budget, e.g. "
                         f"{p.key}: ≈ {p.memory_gb:.3g} GB; drop them or raise [execution] max_memory_gb")
    if ex.isolate:
        return runners.run_isolated(todo, workers, budget, ex.threads_per_worker, on_result,
                                    ex.point_timeout_s)
    if workers == 1 or len(todo) == 1 and etb_solver is None and ex.workers is None:
        return runners.run_inprocess(todo, ex.threads_per_worker, on_result, etb_solver)
    threads = ex.threads_per_worker or max(1, runners.usable_cores() // workers)
    return runners.run_pool(todo, workers, budget, threads, on_result)


def run_sweep(spec: RunSpec, *, scheduler: str | None = None, progress: bool | None = None,
              kind: str = "sweep", attrs: dict | None = None, params_attrs: dict | None = None,
              etb_solver: Callable | None = None, run_file_text: str | None = None,
              prefilled: dict | None = None, on_row: Callable | None = None,
              raise_failures: bool = True) -> SweepReport:
    """Run (or resume) a sweep; each finished point is appended to ``spec.output`` at once.

    Parameters
    ----------
    spec : RunSpec
    scheduler : str, optional
        Dask scheduler address; overrides ``spec.execution.scheduler``.
    progress : bool, optional
        tqdm bar (default: stderr is a TTY and ``CI`` is unset).
    kind : str
        Root ``kind`` attribute (:data:`perovskite_tb.app.store.io.KINDS`); ``attrs["kind"]`` wins.
    attrs : dict, optional
        Extra root attributes (a job's ``config_json`` and provenance; a differing ``config_json``
        refuses to resume, see :class:`perovskite_tb.app.store.io.ResultWriter`).
    params_attrs : dict, optional
        Values for ``/params`` attributes.
    etb_solver : callable, optional
        In-process replacement of the cube solver (:func:`perovskite_tb.app.engine.models.compute_etb`;
        needs ``workers = 1``).
    run_file_text : str, optional
        Original run-file text, stored as ``run_file_text``.
    prefilled : dict of key → row, optional
        Rows already computed elsewhere (e.g. a size search); written instead of computing.
    on_row : callable, optional
        ``on_row(row)`` after each row is written (progress lines of the jobs).
    raise_failures : bool
        Raise SolverError for failed points after the run (default); False: only report them.

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
    res = expand_points(spec)
    scheduler = scheduler or spec.execution.scheduler
    if scheduler:
        check_scheduler(scheduler, lambda m: (_ for _ in ()).throw(InputError(f"--scheduler: {m}")))
    out = check_output(spec)
    sets = _parameter_files(res)
    _check_resume(out, res.invariants, sets)
    root = {"kind": kind, "run_toml": spec_to_toml(spec), "options_json": json.dumps(res.invariants),
            "run_file_text": run_file_text or "", **(attrs or {})}
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    failures, failed, prefilled = [], [], dict(prefilled or {})
    n_new = 0
    with _Guard() as guard, ResultWriter(out, root, params_attrs) as w:
        old_sets = json.loads(w.file.attrs.get("parameter_files_json", "{}"))
        w.set_attrs(parameter_files_json=json.dumps({**old_sets, **sets}))
        done = _done_keys(w)
        todo = [p for p in res.points if p.key not in done]
        bar = tqdm(total=len(todo), disable=not progress, desc=kind, unit="pt")

        def on_result(point: Point, row: dict | None, err: BaseException | None) -> None:
            nonlocal n_new
            if err is not None:
                failures.append((point.key, f"{type(err).__name__}: {err}"))
                failed.append(failed_row(failures[-1][1], **point.columns()))
            else:
                with guard.writing_row():
                    w.append(point.model, row)
                    trace("written", point.key)
                n_new += 1
                if on_row is not None:
                    on_row(row)
            bar.update()
            bar.set_postfix_str(point.key, refresh=False)

        try:
            for p in [p for p in todo if p.key in prefilled]:
                on_result(p, {**prefilled[p.key], **p.columns()}, None)
            rest = [p for p in todo if p.key not in prefilled]
            if rest:
                _execute(rest, spec, scheduler, etb_solver, on_result)
        except _Stop:
            raise KeyboardInterrupt from None
        finally:
            bar.close()
    if spec.plot and (n_new or not Path(spec.plot).exists()):
        plot_curve(str(out), spec.plot, models=spec.axes.model)
    if failures and raise_failures:
        msg = "; ".join(f"{k}: {m}" for k, m in failures[:3]) + (" ..." if len(failures) > 3 else "")
        raise SolverError(f"{len(failures)} of {len(todo)} points failed (others saved in {out}): {msg}")
    return SweepReport(output=str(out), n_points=len(res.points), n_skipped=len(res.points) - len(todo),
                       n_computed=n_new, failures=tuple(failures), failed_rows=tuple(failed))
