"""The models a sweep point can be computed with: one function per model, registered in :data:`MODELS`.

Each function takes a :class:`perovskite_tb.app.engine.points.Point` (parameters already at the point's
temperature) and returns its result row, built by :func:`perovskite_tb.app.store.results.row_from_result`.
:func:`compute_point` is what the sweep engine's workers run.

Debugging hook: if the environment variable ``PEROVSKITE_TB_SWEEP_TRACE`` names a file, every point
appends ``start <key> <pid>`` / ``done <key> <pid>`` lines to it (the writer adds ``written``).
"""

from __future__ import annotations

import os
from typing import Callable

from perovskite_tb import nc  # nc.nc_gfactors is looked up at call time (tests replace it)
from perovskite_tb._system import blas_threads, peak_rss_gb
from perovskite_tb.app.engine.points import Point
from perovskite_tb.app.store.results import row_from_result
from perovskite_tb.errors import GeometryError
from perovskite_tb.model.shapes import SHAPES
from kp.confinement import kp_terms

__all__ = ["MODELS", "TRACE_ENV", "compute_point", "compute_etb", "compute_kp", "trace", "solve_kp"]

#: Environment variable naming a trace file (debugging hook, see the module docstring).
TRACE_ENV = "PEROVSKITE_TB_SWEEP_TRACE"


def trace(event: str, key: str) -> None:
    """Append ``<event> <key> <pid>`` to the trace file named by :data:`TRACE_ENV`, if set."""
    path = os.environ.get(TRACE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{event} {key} {os.getpid()}\n")


def compute_etb(point: Point, etb_solver: Callable | None = None) -> dict:
    """ETB row of one point (:func:`perovskite_tb.nc.nc_gfactors`).

    Parameters
    ----------
    point : Point
        ``params`` is the ETB set at the point's temperature.
    etb_solver : callable, optional
        ``(params, N, orbital_zeeman) -> NcResult`` replacing the pipeline for N×N×N cubes of the
        default termination without extra levels or excitons (in-process runs only; the curve job's hook).

    Raises
    ------
    GeometryError
        A shape this version cannot build.
    """
    spec = point.shape
    term = point.termination
    default_term = term is None or term.is_default
    kw = {} if default_term else {"termination": term}
    if getattr(point, "solver", "auto") != "auto":
        kw["method"] = point.solver
    levels = _levels(point)
    exc = getattr(point, "excitons", None)
    if exc is not None:
        levels = max(levels, exc[1])  # the CI basis must be in the spectrum
    if levels != 1:
        kw["levels"] = levels
    if spec.n_cells is not None:
        n = tuple(spec.n_cells)
        if etb_solver is not None and n[0] == n[1] == n[2] and default_term and levels == 1 and exc is None:
            r = etb_solver(point.params, n[0], point.orbital_zeeman)
        else:
            r = nc.nc_gfactors(point.params, n, orbital_zeeman=point.orbital_zeeman, **kw)
    else:
        if spec.kind not in SHAPES:
            raise GeometryError(f"shape {spec.kind!r} is not available in this version "
                                f"(known: {', '.join(SHAPES)})")
        r = nc.nc_gfactors(point.params, spec, orbital_zeeman=point.orbital_zeeman, **kw)
    _thermal_context(r, point)
    if exc is not None:  # switches the registered exciton observables on (NaN otherwise)
        from perovskite_tb.observables.excitons import exciton_context

        r.context.update(exciton_context(*exc))
    n_atoms = getattr(r, "n_atoms", None) or r.n_states // point.params.n_orb
    return row_from_result(r, **point.columns(), n_atoms=n_atoms, peak_rss_GB=peak_rss_gb())


def _levels(point) -> int:
    """Doublets per carrier a point solves: ``[options].levels``, at least 8 with ``thermal_average``."""
    levels = getattr(point, "levels", 1)
    return max(levels, 8) if getattr(point, "thermal_average", False) else levels


def _thermal_context(r, point) -> None:
    """With ``[options].thermal_average`` the thermal-g observables read the point's temperature (K)."""
    if getattr(point, "thermal_average", False) and hasattr(r, "context"):
        r.context["temperature_K"] = float(point.temperature_K)


def solve_kp(params, edge_nm, material: str, *, basis: str = "legendre", n_basis=None, dielectric="default",
             levels: int = 1, method: str = "auto"):
    """A confined k·p box through the one pipeline (:func:`kp.confinement.kp_terms` → :func:`perovskite_tb.nc.solve`),
    with (ε_in, ε_out) = :func:`perovskite_tb.nc.dielectric_pair` ``(material, dielectric)`` in its context."""
    terms = kp_terms(params, edge_nm, basis=basis, n_basis=n_basis, method=method)
    context = {"material": material, "dielectric": nc.dielectric_pair(material, dielectric)}
    return nc.solve(terms, solver=method, levels=levels, context=context)


def compute_kp(point: Point) -> dict:
    """k·p row of one point (the box ``point.edges_nm`` through :func:`solve_kp`)."""
    levels = _levels(point)
    exc = getattr(point, "excitons", None)
    if exc is not None:
        levels = max(levels, exc[1])  # the CI basis must be in the spectrum
    r = solve_kp(point.params, point.edges_nm, point.material, basis=point.kp_basis,
                 n_basis=point.kp_resolution or None, levels=levels)
    _thermal_context(r, point)
    if exc is not None:  # the same registered exciton observables as ETB (k·p: long-range exchange only)
        from perovskite_tb.observables.excitons import exciton_context

        r.context.update(exciton_context(*exc))
    return row_from_result(r, **point.columns(), edges_nm=point.edges_nm, n_atoms=0,
                           peak_rss_GB=peak_rss_gb())


#: model name → ``compute(point) -> row``.
MODELS: dict[str, Callable] = {"etb": compute_etb, "kp": compute_kp}


def compute_point(point: Point, threads: int | None = None,
                  etb_solver: Callable | None = None) -> dict:
    """Compute one point; returns its row (every column of :data:`perovskite_tb.app.store.results.COLUMNS`).

    Parameters
    ----------
    point : Point
    threads : int, optional
        BLAS threads for this point (threadpoolctl); None leaves the process setting.
    etb_solver : callable, optional
        See :func:`compute_etb` (in-process runs only).

    Raises
    ------
    PerovskiteTBError
        Solver failures, unavailable shapes.
    """
    trace("start", point.key)
    with blas_threads(threads):
        if point.model == "etb":
            row = compute_etb(point, etb_solver)
        else:
            row = MODELS[point.model](point)
    trace("done", point.key)
    return row
