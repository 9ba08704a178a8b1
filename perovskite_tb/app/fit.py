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

The spec schema and its reader: :mod:`perovskite_tb.app.fitspec`.

References
----------
Nestoklon et al., Nano Lett. 23, 8218 (2023), SI Tables S1 (start values) and S2 (targets); the
sp3d5s* model of Nestoklon, Comput. Mater. Sci. 196, 110535 (2021) and Jancu et al., PRB 57, 6493
(1998).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tomli_w
from scipy.optimize import least_squares

from perovskite_tb._system import blas_threads
from perovskite_tb.app.fitspec import (DEFAULT_SCALES, FITTABLE_NAMES, TARGET_NAMES, FitSpec,
                                       Target, read_fit_spec)
from perovskite_tb.errors import DegeneracyError, InputError, ParameterError, SolverError
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.materials import (_SP3_UNUSED, ONSITE_NAMES, SPIN_ORBIT_NAMES,
                                           TWO_CENTRE_NAMES, EtbParameters)

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


@dataclass(frozen=True)
class FitResult:
    """Outcome of :func:`fit_parameters`.

    Attributes
    ----------
    spec : FitSpec
    params : EtbParameters
        The fitted set.
    initial, fitted : dict of str → float
        Free parameter values before / after the fit (eV).
    achieved : dict of str → float
        Target quantities of the fitted set.
    residuals : dict of str → float
        achieved − target (units of the target).
    met : dict of str → bool or None
        |residual| ≤ tolerance (None if the target has no tolerance).
    cost : float
        ½ χ² at the solution.
    nfev : int
        Number of bulk evaluations of the optimiser.
    status : int
        ``scipy.optimize.least_squares`` status (> 0 converged).
    message : str
    """

    spec: FitSpec
    params: EtbParameters
    initial: dict
    fitted: dict
    achieved: dict
    residuals: dict
    met: dict
    cost: float
    nfev: int
    status: int
    message: str


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
        params = make(sol.x)
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
        spec=spec, params=params, initial=dict(zip(names, x0.tolist())), fitted=dict(zip(names, sol.x.tolist())),
        achieved=ach, residuals=res, met=met, cost=float(sol.cost), nfev=int(sol.nfev), status=int(sol.status),
        message=str(sol.message),
    )


# --------------------------------------------------------------------------------------------
# output


def _toml_value(v) -> str:
    """One TOML value written by ``tomli_w`` (dicts as inline tables, the parameter-file style)."""
    if isinstance(v, float) and not math.isfinite(v):
        raise InputError(f"cannot write non-finite value {v} to TOML")
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    try:
        return tomli_w.dumps({"v": v}).split("=", 1)[1].strip()
    except TypeError:
        raise InputError(f"cannot write {type(v).__name__} to TOML") from None


def _key(k: str) -> str:
    return tomli_w.dumps({k: 0}).rsplit("=", 1)[0].strip()


def _round(x: float, nd: int = 6) -> float:
    return float(f"{x:.{nd}g}") if x != 0 else 0.0


def write_parameter_file(result: FitResult, path: str | Path) -> Path:
    """Write a fitted set as a parameter TOML (shipped schema + ``[fit]`` table).

    Fitted values are written with 7 significant digits; the file reloads with
    :func:`perovskite_tb.model.materials.load_parameter_file` to the same bulk properties within
    1e-6 (eV, m0, 1).

    Parameters
    ----------
    result : FitResult
    path : str or pathlib.Path
        Output file; its name should be ``<material>.<set>.etb.toml`` to be found by
        :func:`perovskite_tb.model.materials.load_parameters` when placed in ``parameters/``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputError
        If the file cannot be written.
    """
    spec, p = result.spec, result.params
    parent_src = dict(spec.parent.sources)
    src = {n: parent_src.get(n, spec.source) for n in ("a",) + FITTABLE_NAMES}
    for n, (_, s) in spec.start.items():
        src[n] = s
    for n in spec.free:
        src[n] = spec.source
    lines = [
        f"# ETB parameters of cubic {spec.material}, set '{spec.parameter_set}'. Written by perovskite_tb.app.fit",
        "# from the fit spec recorded in [fit]; regenerate with `perovskite-tb fit <spec> -o <this file>`.",
        "# Units are stated per value and converted by the loader; energies relative to the bulk VBM (≈ 0 eV).",
        "",
        "[meta]",
        f"material = {_toml_value(spec.material)}",
        f"parameter_set = {_toml_value(spec.parameter_set)}",
        'model = "etb"',
        f"basis = {_toml_value(p.basis)}",
        f"description = {_toml_value(spec.description or f'least-squares fit of {spec.parent_name}')}",
        f"status = {_toml_value(spec.status or 'REC (fitted by perovskite_tb.app.fit)')}",
        "reference_temperature_K = { value = %r, unit = \"K\", source = %s }"
        % (float(spec.parent.reference_temperature_K), _toml_value(spec.source)),
        "",
        "[lattice]",
        f"a = {{ value = {_round(p.a * 10, 8)!r}, unit = \"angstrom\", source = {_toml_value(src['a'])} }}",
    ]
    sections = (("onsite", ONSITE_NAMES), ("two_centre", TWO_CENTRE_NAMES), ("spin_orbit", SPIN_ORBIT_NAMES))
    for sec, names in sections:
        lines += ["", f"[{sec}]"]
        for n in names:
            if p.basis == "sp3" and n in _SP3_UNUSED:
                continue
            v = _round(getattr(p, n), 7) if n in spec.free else float(getattr(p, n))
            tag = ", fitted = true" if n in spec.free else ""
            lines.append(f"{n} = {{ value = {v!r}, unit = \"eV\", source = {_toml_value(src[n])}{tag} }}")
    # no [temperature] table: fitted sets carry no cited dEg/dT unless the parent's material matches
    if spec.parent.material == spec.material and (spec.parent.dEg_dT or spec.parent.thermal_expansion):
        lines += ["", "[temperature]", "# copied from the parent set (same material)"]
        for n in ("dEg_dT", "thermal_expansion"):
            unit = "eV/K" if n == "dEg_dT" else "1/K"
            lines.append(
                f"{n} = {{ value = {float(getattr(spec.parent, n))!r}, unit = \"{unit}\", source = {_toml_value(parent_src.get(n, spec.source))} }}"
            )
    lines += [
        "",
        "# Record of the fit (ignored by the parameter loader except for a type check).",
        "[fit]",
        f"parent = {_toml_value(spec.parent_name)}",
        f"parent_sha256 = {_toml_value(spec.parent.file_sha256)}",
        f"free = {_toml_value(list(spec.free))}",
        f"orbital_zeeman = {_toml_value(spec.orbital_zeeman)}",
        f"citations = {_toml_value(list(spec.citations))}",
        f"cost = {_round(result.cost, 8)!r}",
        f"nfev = {result.nfev}",
        f"optimizer = {_toml_value('scipy.optimize.least_squares (trf): ' + result.message)}",
        "",
        "[fit.initial]",
    ]
    lines += [f"{n} = {_round(v, 8)!r}" for n, v in result.initial.items()]
    lines += ["", "[fit.targets]"]
    for t in spec.targets:
        d = {"value": t.value, "weight": t.weight, "unit": TARGET_NAMES[t.name]}
        if t.tolerance is not None:
            d["tolerance"] = t.tolerance
        if t.source:
            d["source"] = t.source
        lines.append(f"{t.name} = {_toml_value(d)}")
    lines += ["", "[fit.achieved]", "# all bulk quantities of the fitted set (eV, m0, 1)"]
    lines += [f"{n} = {_round(v, 6)!r}" for n, v in result.achieved.items()]
    lines += ["", "[fit.residuals]", "# achieved − target"]
    lines += [f"{n} = {_round(v, 4)!r}" for n, v in result.residuals.items()]
    lines += ["", "[fit.met]", "# |residual| ≤ tolerance (targets with a tolerance only)"]
    lines += [f"{n} = {_toml_value(m)}" for n, m in result.met.items() if m is not None]
    lines += ["", "[fit.spec]", "# the fit spec as read"]
    lines += _spec_lines(spec.raw, "fit.spec")
    text = "\n".join(lines) + "\n"
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write parameter file {str(path)!r}: {exc.strerror}") from None
    return path


def _spec_lines(doc: dict, prefix: str) -> list[str]:
    """Spec document as TOML lines: one sub-table per top-level table, inline values inside."""
    out: list[str] = []
    for k, v in doc.items():
        if not isinstance(v, dict):
            out.append(f"{_key(k)} = {_toml_value(v)}")
    for k, v in doc.items():
        if isinstance(v, dict):
            out += ["", f"[{prefix}.{_key(k)}]"]
            out += [f"{_key(kk)} = {_toml_value(vv)}" for kk, vv in v.items()]
    return out


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


def format_report(result: FitResult) -> str:
    """Human-readable table: free parameters (initial → fitted) and targets (target, achieved, residual)."""
    s = result.spec
    rows = [f"fit {s.material}.{s.parameter_set} (parent {s.parent_name}): ½χ² = {result.cost:.4g}, "
            f"{result.nfev} evaluations, {result.message}"]
    rows.append(f"{'parameter':>16s} {'start':>10s} {'fitted':>10s}  (eV)")
    for n in s.free:
        rows.append(f"{n:>16s} {result.initial[n]:10.4f} {result.fitted[n]:10.4f}")
    rows.append(f"{'target':>16s} {'value':>10s} {'achieved':>10s} {'residual':>10s} {'tol':>8s} met")
    for t in s.targets:
        tol = "" if t.tolerance is None else f"{t.tolerance:g}"
        met = {None: "-", True: "yes", False: "NO"}[result.met[t.name]]
        rows.append(f"{t.name:>16s} {t.value:10.4f} {result.achieved[t.name]:10.4f} "
                    f"{result.residuals[t.name]:+10.4f} {tol:>8s} {met}")
    return "\n".join(rows)


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
