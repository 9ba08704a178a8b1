r"""Least-squares fit of ETB parameters to bulk band-edge targets (the tool behind ``*-fit`` sets).

A *fit spec* (TOML, see ``parameters/fits/*.toml``) names a parent parameter set, optional changed
starting values (e.g. a lattice constant or the Nano Lett. 2023 Table S1 values), the free parameters
and the bulk targets with weights. :func:`fit_parameters` minimises

.. math:: \chi^2 = \sum_t \Big(w_t\,\frac{y_t(\mathbf p) - y_t^{\rm target}}{s_t}\Big)^2

over the free parameters :math:`\mathbf p` with ``scipy.optimize.least_squares`` (trust-region
reflective, forward-difference Jacobian, fixed options → deterministic), where :math:`y_t` are the
bulk properties of :func:`perovskite_tb.model.bulk.bulk_properties` and :math:`s_t` a per-target scale
(the target's ``tolerance`` if given, else :data:`DEFAULT_SCALES`). :func:`write_parameter_file`
writes the result as a parameter TOML of the shipped schema plus a ``[fit]`` table recording the
parent, the spec, targets, achieved values, residuals and citations.

The spec schema and its reader: :mod:`perovskite_tb.app.jobs.fitspec`.

References
----------
Nestoklon et al., Nano Lett. 23, 8218 (2023), SI Tables S1 (start values) and S2 (targets); the
sp3d5s* model of Nestoklon, Comput. Mater. Sci. 196, 110535 (2021) and Jancu et al., PRB 57, 6493
(1998).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from perovskite_tb._system import blas_threads
from perovskite_tb.app.jobs.fitfile import format_report, write_parameter_file
from perovskite_tb.app.jobs.fitspec import (DEFAULT_SCALES, FITTABLE_NAMES, TARGET_NAMES, FitResult,
                                       FitSpec, Target, read_fit_spec)
from perovskite_tb.errors import DegeneracyError, InputError, ParameterError, SolverError
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.materials import ONSITE_NAMES, EtbParameters

__all__ = [
    "TARGET_NAMES",
    "FITTABLE_NAMES",
    "DEFAULT_SCALES",
    "Target",
    "FitSpec",
    "FitResult",
    "read_fit_spec",
    "fit_parameters",
    "evaluate_targets",
    "write_parameter_file",
    "run_fit_file",
    "format_report",
]

#: Residual returned for parameter points where the band-edge structure at R is lost.
_PENALTY = 1e3


# --------------------------------------------------------------------------------------------
# fitting


def evaluate_targets(params: EtbParameters, names, *, orbital_zeeman: bool = False) -> dict[str, float]:
    """Bulk quantities ``names`` (subset of :data:`TARGET_NAMES`) of one parameter set.

    Parameters
    ----------
    params : EtbParameters
    names : iterable of str
    orbital_zeeman : bool, optional
        Include the on-site L·B term in g (default off, as in the Nano Lett. 2023 model).

    Returns
    -------
    dict of str → float
        Values in eV (energies), m0 (masses), 1 (g).

    Raises
    ------
    InputError
        Unknown target name.
    DegeneracyError
        If the band-edge structure at R is not the expected one.
    """
    names = list(names)
    bad = [n for n in names if n not in TARGET_NAMES]
    if bad:
        raise InputError(f"unknown target(s) {', '.join(bad)} (known: {', '.join(TARGET_NAMES)})")
    b = asdict(bulk_properties(params, orbital_zeeman=orbital_zeeman))
    return {n: float(b[n]) for n in names}


def fit_parameters(spec: FitSpec | str | Path | dict, *, xtol: float = 1e-10, ftol: float = 1e-12,
                   gtol: float = 1e-10) -> FitResult:
    r"""Fit the free parameters of ``spec`` to its bulk targets.

    Parameters
    ----------
    spec : FitSpec, str, pathlib.Path or dict
        A spec, or anything :func:`read_fit_spec` accepts.
    xtol, ftol, gtol : float, optional
        Termination tolerances of ``scipy.optimize.least_squares``.

    Returns
    -------
    FitResult

    Raises
    ------
    InputError, ParameterError
        Malformed spec (:func:`read_fit_spec`).
    SolverError
        The optimiser did not converge (status ≤ 0, e.g. ``max_nfev`` reached), the fitted set has no
        regular band-edge structure at R, or ``strict`` is set and a target misses its tolerance.

    Notes
    -----
    Residuals :math:`r_t = w_t (y_t - y_t^{\rm target})/s_t` (module docstring). The Jacobian is a
    forward difference with relative step 1e-7; parameter points where the R-point level structure is
    lost (band inversion) get the constant residual 1e3 so the trust region shrinks back.
    """
    if not isinstance(spec, FitSpec):
        spec = read_fit_spec(spec)
    p0 = spec.start_parameters()
    names = spec.free
    x0 = np.array([getattr(p0, n) for n in names], dtype=float)
    lo = np.array([spec.bounds.get(n, (-np.inf, np.inf))[0] for n in names])
    hi = np.array([spec.bounds.get(n, (-np.inf, np.inf))[1] for n in names])
    if np.any(x0 < lo) or np.any(x0 > hi):
        raise InputError(
            f"fit spec: starting values {dict(zip(names, x0.tolist()))} eV lie outside the bounds {spec.bounds}"
        )
    tnames = [t.name for t in spec.targets]
    tval = np.array([t.value for t in spec.targets])
    wsc = np.array([t.weight / t.scale for t in spec.targets])

    def make(x):
        return p0.replace(**{n: float(v) for n, v in zip(names, x)})

    def resid(x):
        try:
            y = evaluate_targets(make(x), tnames, orbital_zeeman=spec.orbital_zeeman)
        except (DegeneracyError, ParameterError):
            return np.full(len(tnames), _PENALTY)
        return wsc * (np.array([y[n] for n in tnames]) - tval)

    with blas_threads(1):  # the 80×80 bulk matrices gain nothing from BLAS threads
        sol = least_squares(
            resid, x0, bounds=(lo, hi), method="trf", x_scale=1.0, diff_step=1e-7,
            xtol=xtol, ftol=ftol, gtol=gtol, max_nfev=spec.max_nfev,
        )
        if sol.status <= 0:
            raise SolverError(
                f"fit of {spec.material}.{spec.parameter_set} did not converge after {sol.nfev} evaluations "
                f"(status {sol.status}: {sol.message}); ½χ² = {sol.cost:.4g}"
            )
        params, shift = _aligned(make(sol.x), spec.align_vbm)
        try:
            ach = evaluate_targets(params, TARGET_NAMES, orbital_zeeman=spec.orbital_zeeman)
        except DegeneracyError as exc:
            raise SolverError(f"fitted set has no regular band-edge structure at R: {exc}") from None
    res = {t.name: ach[t.name] - t.value for t in spec.targets}
    met = {t.name: (None if t.tolerance is None else abs(res[t.name]) <= t.tolerance) for t in spec.targets}
    if spec.strict and any(m is False for m in met.values()):
        miss = ", ".join(
            f"{t.name}: {ach[t.name]:.4f} vs {t.value} (tol {t.tolerance} {TARGET_NAMES[t.name]})"
            for t in spec.targets if met[t.name] is False
        )
        raise SolverError(f"fit of {spec.material}.{spec.parameter_set} misses target tolerances: {miss}")
    return FitResult(
        spec=spec, params=params, initial=dict(zip(names, x0.tolist())),
        fitted={n: float(getattr(params, n)) for n in names},
        achieved=ach, residuals=res, met=met, cost=float(sol.cost), nfev=int(sol.nfev), status=int(sol.status),
        message=str(sol.message), vbm_shift=shift,
    )


def _aligned(params: EtbParameters, align: bool) -> tuple[EtbParameters, float]:
    """``params`` with every on-site energy shifted by −E_vbm if ``align`` (bulk VBM at 0 eV), and the shift."""
    if not align:
        return params, 0.0
    shift = -float(bulk_properties(params).E_vbm)
    return params.replace(**{n: getattr(params, n) + shift for n in ONSITE_NAMES}), shift


def run_fit_file(spec_path: str | Path, output: str | Path | None = None) -> tuple[FitResult, Path]:
    """Read a spec, fit, and write ``<material>.<set>.etb.toml`` (CLI back end).

    Parameters
    ----------
    spec_path : str or pathlib.Path
    output : str or pathlib.Path, optional
        Output file; default ``<material>.<parameter_set>.etb.toml`` in the current directory.

    Returns
    -------
    (FitResult, pathlib.Path)

    Raises
    ------
    InputError, ParameterError, SolverError
        As :func:`read_fit_spec` and :func:`fit_parameters`.
    """
    spec = read_fit_spec(spec_path)
    result = fit_parameters(spec)
    out = Path(output) if output is not None else Path(f"{spec.material}.{spec.parameter_set}.etb.toml")
    return result, write_parameter_file(result, out)


def add_subcommand(sub) -> None:
    """Register ``perovskite-tb fit SPEC.toml [-o OUT]`` on an argparse sub-parser collection."""
    f = sub.add_parser("fit", help="least-squares fit of ETB parameters to bulk targets → parameter TOML")
    f.add_argument("spec", help="fit spec TOML path (see parameters/fits/*.toml; values in eV, m0)")
    f.add_argument("-o", "--output", default=None,
                   help="output parameter file path (default ./<material>.<parameter_set>.etb.toml)")
    f.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    f.set_defaults(func=_cmd_fit)


def _cmd_fit(args) -> int:
    result, out = run_fit_file(args.spec, args.output)
    if args.json:
        print(json.dumps({
            "output": str(out), "fitted": result.fitted, "achieved": result.achieved,
            "residuals": result.residuals, "met": result.met, "cost": result.cost, "nfev": result.nfev,
        }))
    else:
        print(format_report(result))
        print(f"wrote {out}")
    return 0
