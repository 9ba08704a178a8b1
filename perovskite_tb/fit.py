r"""Least-squares fit of ETB parameters to bulk band-edge targets (the tool behind ``*-fit`` sets).

A *fit spec* (TOML, see ``parameters/fits/*.toml``) names a parent parameter set, optional changed
starting values (e.g. a lattice constant or the Nano Lett. 2023 Table S1 values), the free parameters
and the bulk targets with weights. :func:`fit_parameters` minimises

.. math:: \chi^2 = \sum_t \Big(w_t\,\frac{y_t(\mathbf p) - y_t^{\rm target}}{s_t}\Big)^2

over the free parameters :math:`\mathbf p` with ``scipy.optimize.least_squares`` (trust-region
reflective, forward-difference Jacobian, fixed options → deterministic), where :math:`y_t` are the
bulk properties of :func:`perovskite_tb.bulk.bulk_properties` and :math:`s_t` a per-target scale
(the target's ``tolerance`` if given, else :data:`DEFAULT_SCALES`). :func:`write_parameter_file`
writes the result as a parameter TOML of the shipped schema plus a ``[fit]`` table recording the
parent, the spec, targets, achieved values, residuals and citations.

Fit spec schema
---------------
``[fit]``
    ``material`` (str), ``parameter_set`` (str, name of the new set), ``parent`` (``"<material>.<set>"``
    of a shipped set, or a path to a ``.toml`` relative to the spec), ``source`` (citation key given to
    every fitted value; must exist in ``references.toml``), optional ``description``, ``status``,
    ``orbital_zeeman`` (bool, default false), ``citations`` (list of keys), ``max_nfev`` (int, default
    400), ``strict`` (bool: raise if a target misses its tolerance; default false).
``[start]``
    Optional ``name = { value, unit, source }`` overrides of the parent before fitting (``a`` or any
    ETB parameter); fixed if not free, starting values if free.
``[free]``
    ``names`` (list of parameter names) and optional ``bounds = { name = [lo, hi] }`` (eV).
``[targets]``
    ``name = { value, weight = 1, tolerance = optional, source }`` with name in :data:`TARGET_NAMES`;
    units: eV for energies, m0 for masses, 1 for g.

References
----------
nestoklon2023 (targets: Nano Lett. 23, 8218 (2023) SI Table S2); physics brief §3.2–3.3.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DegeneracyError, InputError, ParameterError, SolverError
from .materials import (
    ONSITE_NAMES,
    SPIN_ORBIT_NAMES,
    TWO_CENTRE_NAMES,
    _SP3_UNUSED,
    EtbParameters,
    _references,
    load_parameter_file,
    load_parameters,
    parameters_dir,
)

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

#: Bulk targets that can be fitted, with their units (attributes of :class:`~perovskite_tb.bulk.BulkProperties`).
TARGET_NAMES = {
    "Eg": "eV", "gap_M": "eV", "gap_X": "eV", "Delta_so": "eV",
    "m_e": "m0", "m_h": "m0", "g_e": "1", "g_h": "1",
}
#: Residual scale s_t used when a target has no tolerance (choice of this module: 1 meV for
#: energies, 0.001 m0 for masses, 0.01 for g-factors, i.e. roughly the precision of Table S2).
DEFAULT_SCALES = {
    "Eg": 1e-3, "gap_M": 1e-3, "gap_X": 1e-3, "Delta_so": 1e-3,
    "m_e": 1e-3, "m_h": 1e-3, "g_e": 1e-2, "g_h": 1e-2,
}
#: Parameters that may be freed (eV).
FITTABLE_NAMES = ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES
_UNITS = {"eV": 1.0, "meV": 1e-3, "angstrom": 0.1, "Å": 0.1, "nm": 1.0}
#: Residual returned for parameter points where the band-edge structure at R is lost.
_PENALTY = 1e3


@dataclass(frozen=True)
class Target:
    """One bulk target.

    Attributes
    ----------
    name : str
        One of :data:`TARGET_NAMES`.
    value : float
        Target value (eV, m0 or 1; see :data:`TARGET_NAMES`).
    weight : float
        Weight w_t ≥ 0 (dimensionless).
    tolerance : float or None
        Acceptable |achieved − target| (same unit as ``value``); also the residual scale.
    source : str
        Citation key of the target value.
    """

    name: str
    value: float
    weight: float = 1.0
    tolerance: float | None = None
    source: str = ""

    @property
    def scale(self) -> float:
        """Residual scale s_t: the tolerance if given, else :data:`DEFAULT_SCALES`."""
        return self.tolerance if self.tolerance is not None else DEFAULT_SCALES[self.name]


@dataclass(frozen=True)
class FitSpec:
    """A validated fit specification (see the module docstring for the TOML schema).

    Attributes
    ----------
    material, parameter_set : str
        Identity of the set to produce.
    parent : EtbParameters
        Parent set (before ``start`` overrides).
    parent_name : str
        ``"<material>.<set>"`` or the path of the parent.
    start : dict of str → (float, str)
        Overrides applied to the parent: internal value (eV or nm) and citation key.
    free : tuple of str
        Free parameter names (subset of :data:`FITTABLE_NAMES`).
    bounds : dict of str → (float, float)
        Bounds per free parameter (eV); missing → unbounded.
    targets : tuple of Target
    source : str
        Citation key for fitted values.
    orbital_zeeman : bool
    max_nfev : int
    strict : bool
    description, status : str
    citations : tuple of str
    raw : dict
        The spec as read (recorded in the output file).
    """

    material: str
    parameter_set: str
    parent: EtbParameters
    parent_name: str
    start: dict
    free: tuple
    bounds: dict
    targets: tuple
    source: str
    orbital_zeeman: bool = False
    max_nfev: int = 400
    strict: bool = False
    description: str = ""
    status: str = ""
    citations: tuple = ()
    raw: dict = field(default_factory=dict, compare=False)

    def start_parameters(self) -> EtbParameters:
        """Parent with the ``[start]`` overrides applied (material and set name of the new set)."""
        ch = {k: v for k, (v, _) in self.start.items()}
        return self.parent.replace(material=self.material, parameter_set=self.parameter_set, path="", **ch)


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
# spec parsing


def _num(x, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise InputError(f"fit spec: {what} must be a finite number, got {x!r}")
    return float(x)


def _resolve_parent(parent: str, base: Path) -> tuple[EtbParameters, str]:
    if not isinstance(parent, str) or not parent:
        raise InputError(f"fit spec: [fit] parent must be '<material>.<set>' or a .toml path, got {parent!r}")
    if parent.endswith(".toml"):
        p = Path(parent)
        if not p.is_absolute():
            cand = [base / p, parameters_dir() / p, Path.cwd() / p]
            p = next((c for c in cand if c.is_file()), cand[0])
        return load_parameter_file(p), parent
    if "." not in parent:
        raise InputError(f"fit spec: [fit] parent must be '<material>.<set>', got {parent!r}")
    mat, name = parent.split(".", 1)
    return load_parameters(mat, name), parent


def read_fit_spec(spec: str | Path | dict, *, base_dir: str | Path | None = None) -> FitSpec:
    """Read and validate a fit spec.

    Parameters
    ----------
    spec : str, pathlib.Path or dict
        Path to a TOML file, or the already-parsed document.
    base_dir : str or pathlib.Path, optional
        Directory against which a relative ``parent`` path is resolved (default: the spec's directory).

    Returns
    -------
    FitSpec

    Raises
    ------
    InputError
        Malformed spec: missing tables/keys, non-numeric values, unknown target names, empty free set,
        bad weights, tolerances or bounds.
    ParameterError
        Unknown parameter names, unknown parent set, unknown citation keys.
    """
    if isinstance(spec, dict):
        doc = copy.deepcopy(spec)
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(spec)
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read fit spec {str(path)!r}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"malformed fit spec {path.name}: {exc}") from None
        base = Path(base_dir) if base_dir is not None else path.parent
    unknown = set(doc) - {"fit", "start", "free", "targets"}
    if unknown:
        raise InputError(f"fit spec: unknown table(s) {', '.join(sorted(unknown))} (known: fit, start, free, targets)")
    fit = doc.get("fit")
    if not isinstance(fit, dict):
        raise InputError("fit spec: missing [fit] table")
    for key in ("material", "parameter_set", "parent", "source"):
        if not isinstance(fit.get(key), str) or not fit.get(key):
            raise InputError(f"fit spec: [fit] {key} must be a non-empty string, got {fit.get(key)!r}")
    known_fit = {"material", "parameter_set", "parent", "source", "description", "status", "orbital_zeeman",
                 "citations", "max_nfev", "strict"}
    if set(fit) - known_fit:
        raise InputError(f"fit spec: unknown key(s) in [fit]: {', '.join(sorted(set(fit) - known_fit))}")
    if "." in fit["parameter_set"] or "/" in fit["parameter_set"]:
        raise InputError(f"fit spec: [fit] parameter_set must not contain '.' or '/', got {fit['parameter_set']!r}")
    parent, parent_name = _resolve_parent(fit["parent"], base)

    refs = _references(parameters_dir())
    cites = fit.get("citations", [])
    if not isinstance(cites, list) or not all(isinstance(c, str) for c in cites):
        raise InputError(f"fit spec: [fit] citations must be a list of strings, got {cites!r}")

    def _check_ref(key: str, where: str) -> None:
        if refs is not None and key not in refs:
            raise ParameterError(f"fit spec: {where} cites unknown reference key {key!r}")

    _check_ref(fit["source"], "[fit] source")
    for c in cites:
        _check_ref(c, "[fit] citations")

    start: dict = {}
    for name, entry in (doc.get("start") or {}).items():
        if name != "a" and name not in FITTABLE_NAMES:
            raise ParameterError(f"fit spec: [start] unknown parameter {name!r}")
        if not isinstance(entry, dict) or not {"value", "unit", "source"} <= set(entry):
            raise InputError(f"fit spec: [start] {name} must be a table {{ value, unit, source }}, got {entry!r}")
        unit = entry["unit"]
        if unit not in _UNITS or (name == "a") != (unit in ("angstrom", "Å", "nm")):
            raise InputError(f"fit spec: [start] {name} has unit {unit!r} (energies: eV/meV, a: angstrom/nm)")
        _check_ref(str(entry["source"]), f"[start] {name}")
        start[name] = (_num(entry["value"], f"[start] {name} value") * _UNITS[unit], str(entry["source"]))

    free_tab = doc.get("free")
    if not isinstance(free_tab, dict) or "names" not in free_tab:
        raise InputError("fit spec: missing [free] names")
    names = free_tab["names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError(f"fit spec: [free] names must be a list of strings, got {names!r}")
    if not names:
        raise InputError("fit spec: the free parameter set is empty")
    bad = [n for n in names if n not in FITTABLE_NAMES]
    if bad:
        raise ParameterError(
            f"fit spec: unknown or non-fittable parameter(s) {', '.join(bad)} (fittable: {', '.join(FITTABLE_NAMES)})"
        )
    if len(set(names)) != len(names):
        raise InputError(f"fit spec: duplicate names in [free] names: {names}")
    bounds = {}
    for name, b in (free_tab.get("bounds") or {}).items():
        if name not in names:
            raise InputError(f"fit spec: bounds given for {name!r}, which is not free")
        if not isinstance(b, list) or len(b) != 2:
            raise InputError(f"fit spec: bounds of {name} must be [lo, hi] in eV, got {b!r}")
        lo, hi = _num(b[0], f"lower bound of {name}"), _num(b[1], f"upper bound of {name}")
        if not lo < hi:
            raise InputError(f"fit spec: bounds of {name} must satisfy lo < hi, got [{lo}, {hi}] eV")
        bounds[name] = (lo, hi)
    if set(free_tab) - {"names", "bounds"}:
        raise InputError(f"fit spec: unknown key(s) in [free]: {', '.join(sorted(set(free_tab) - {'names', 'bounds'}))}")

    ttab = doc.get("targets")
    if not isinstance(ttab, dict) or not ttab:
        raise InputError("fit spec: missing or empty [targets]")
    targets = []
    for name, entry in ttab.items():
        if name not in TARGET_NAMES:
            raise InputError(f"fit spec: unknown target {name!r} (known: {', '.join(TARGET_NAMES)})")
        if not isinstance(entry, dict) or "value" not in entry:
            raise InputError(f"fit spec: target {name} must be a table {{ value, weight, tolerance, source }}")
        extra = set(entry) - {"value", "weight", "tolerance", "source", "unit"}
        if extra:
            raise InputError(f"fit spec: target {name} has unknown key(s) {', '.join(sorted(extra))}")
        w = _num(entry.get("weight", 1.0), f"target {name} weight")
        if w < 0:
            raise InputError(f"fit spec: target {name} weight must be ≥ 0, got {w}")
        tol = entry.get("tolerance")
        if tol is not None:
            tol = _num(tol, f"target {name} tolerance")
            if tol <= 0:
                raise InputError(f"fit spec: target {name} tolerance must be > 0 {TARGET_NAMES[name]}, got {tol}")
        src = str(entry.get("source", ""))
        if src:
            _check_ref(src, f"target {name}")
        targets.append(Target(name, _num(entry["value"], f"target {name} value"), w, tol, src))
    if not any(t.weight > 0 for t in targets):
        raise InputError("fit spec: all target weights are zero")

    max_nfev = fit.get("max_nfev", 400)
    if isinstance(max_nfev, bool) or not isinstance(max_nfev, int) or max_nfev < 1:
        raise InputError(f"fit spec: [fit] max_nfev must be a positive integer, got {max_nfev!r}")
    for key in ("orbital_zeeman", "strict"):
        if not isinstance(fit.get(key, False), bool):
            raise InputError(f"fit spec: [fit] {key} must be true or false, got {fit.get(key)!r}")
    return FitSpec(
        material=fit["material"], parameter_set=fit["parameter_set"], parent=parent, parent_name=parent_name,
        start=start, free=tuple(names), bounds=bounds, targets=tuple(targets), source=fit["source"],
        orbital_zeeman=fit.get("orbital_zeeman", False), max_nfev=max_nfev, strict=fit.get("strict", False),
        description=str(fit.get("description", "")), status=str(fit.get("status", "")),
        citations=tuple(cites), raw=doc,
    )


# --------------------------------------------------------------------------------------------
# fitting


@contextlib.contextmanager
def _single_thread_blas():
    """Limit BLAS to one thread: the 80×80 bulk matrices are far too small to profit from threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


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
    from .bulk import N_FILLED, _mass, bloch_hamiltonian, bulk_g, high_symmetry_point

    names = list(names)
    bad = [n for n in names if n not in TARGET_NAMES]
    if bad:
        raise InputError(f"unknown target(s) {', '.join(bad)} (known: {', '.join(TARGET_NAMES)})")
    # Same quantities and checks as perovskite_tb.bulk.bulk_properties, computing only what is asked.
    a = params.a
    kR = high_symmetry_point("R", a)
    ER = np.linalg.eigvalsh(bloch_hamiltonian(params, kR))
    v, c = N_FILLED - 1, N_FILLED
    if not (abs(ER[v] - ER[v - 1]) < 1e-8 and abs(ER[c + 1] - ER[c]) < 1e-8 and np.ptp(ER[c + 2 : c + 6]) < 1e-6):
        raise DegeneracyError(f"unexpected level structure at R for {params.parameter_set}: {ER[v - 1 : c + 6]} eV")
    out: dict[str, float] = {}
    for n in names:
        if n == "Eg":
            out[n] = float(ER[c] - ER[v])
        elif n == "Delta_so":
            out[n] = float(np.mean(ER[c + 2 : c + 6]) - ER[c])
        elif n in ("gap_M", "gap_X"):
            Ek = np.linalg.eigvalsh(bloch_hamiltonian(params, high_symmetry_point(n[-1], a)))
            out[n] = float(Ek[c] - Ek[v])
        elif n == "m_e":
            out[n] = _mass(params, c, kR)
        elif n == "m_h":
            out[n] = _mass(params, v - 1, kR)
        elif n == "g_e":
            out[n] = float(bulk_g(params, c, k=kR, orbital_zeeman=orbital_zeeman).g)
        elif n == "g_h":
            out[n] = float(bulk_g(params, v - 1, k=kR, orbital_zeeman=orbital_zeeman).g)
    return out


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
    from scipy.optimize import least_squares

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

    with _single_thread_blas():
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
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InputError(f"cannot write non-finite value {v} to TOML")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise InputError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else _toml_value(k)


def _round(x: float, nd: int = 6) -> float:
    return float(f"{x:.{nd}g}") if x != 0 else 0.0


def write_parameter_file(result: FitResult, path: str | Path) -> Path:
    """Write a fitted set as a parameter TOML (shipped schema + ``[fit]`` table).

    Fitted values are written with 7 significant digits; the file reloads with
    :func:`perovskite_tb.materials.load_parameter_file` to the same bulk properties within
    1e-6 (eV, m0, 1).

    Parameters
    ----------
    result : FitResult
    path : str or pathlib.Path
        Output file; its name should be ``<material>.<set>.etb.toml`` to be found by
        :func:`perovskite_tb.materials.load_parameters` when placed in ``parameters/``.

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
        f"# ETB parameters of cubic {spec.material}, set '{spec.parameter_set}'. Written by perovskite_tb.fit",
        "# from the fit spec recorded in [fit]; regenerate with `perovskite-tb fit <spec> -o <this file>`.",
        "# Units are stated per value and converted by the loader; energies relative to the bulk VBM (≈ 0 eV).",
        "",
        "[meta]",
        f"material = {_toml_value(spec.material)}",
        f"parameter_set = {_toml_value(spec.parameter_set)}",
        'model = "etb"',
        f"basis = {_toml_value(p.basis)}",
        f"description = {_toml_value(spec.description or f'least-squares fit of {spec.parent_name}')}",
        f"status = {_toml_value(spec.status or 'REC (fitted by perovskite_tb.fit)')}",
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
    f.add_argument("spec", help="fit spec TOML (see parameters/fits/*.toml)")
    f.add_argument("-o", "--output", default=None,
                   help="output parameter file (default ./<material>.<parameter_set>.etb.toml)")
    f.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    f.set_defaults(func=_cmd_fit)


def _cmd_fit(args) -> int:
    import json

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
