"""Fit specifications: the TOML spec of :mod:`perovskite_tb.app.jobs.fit` parsed into a :class:`FitSpec`
(split out of :mod:`perovskite_tb.app.jobs.fit`, which re-exports everything here).

Examples: ``parameters/fits/*.toml``. Every error is a :class:`~perovskite_tb.errors.InputError` or
:class:`~perovskite_tb.errors.ParameterError` naming the key and the offending value.

Fit spec schema
---------------
``[fit]``
    ``material`` (str), ``parameter_set`` (str, name of the new set), ``parent`` (``"<material>.<set>"``
    of a shipped set, or a path to a ``.toml`` relative to the spec), ``source`` (citation key given to
    every fitted value; must exist in ``references.toml``), optional ``description``, ``status``,
    ``orbital_zeeman`` (bool, default false), ``citations`` (list of keys), ``max_nfev`` (int, default
    400), ``strict`` (bool: raise if a target misses its tolerance; default false), ``align_vbm`` (bool:
    after the fit shift every on-site energy by −E_vbm so that the bulk VBM is the energy zero again, a
    uniform shift that changes no gap, mass or g; default false).
``[start]``
    Optional ``name = { value, unit, source }`` overrides of the parent before fitting (``a`` or any
    ETB parameter); fixed if not free, starting values if free.
``[free]``
    ``names`` (list of parameter names) and optional ``bounds = { name = [lo, hi] }`` (eV).
``[targets]``
    ``name = { value, weight = 1, tolerance = optional, source }`` with name in :data:`TARGET_NAMES`;
    units: eV for energies, m0 for masses, 1 for g. ``E_Xp_R`` is the top of the halide-p valence bands
    at R relative to the VBM (:class:`~perovskite_tb.model.bulk.BulkProperties`).

References
----------
Nestoklon et al., Nano Lett. 23, 8218 (2023), SI Tables S1 (start values) and S2 (targets).
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.materials import (
    ONSITE_NAMES,
    SECOND_NEIGHBOUR_NAMES,
    SPIN_ORBIT_NAMES,
    TWO_CENTRE_NAMES,
    EtbParameters,
    _references,
    load_parameter_file,
    load_parameters,
    parameters_dir,
)

__all__ = ["TARGET_NAMES", "FITTABLE_NAMES", "DEFAULT_SCALES", "RECORDED_TARGETS", "Target", "FitSpec",
           "FitResult", "read_fit_spec"]

#: Bulk targets that can be fitted, with their units (attributes of :class:`~perovskite_tb.model.bulk.BulkProperties`).
TARGET_NAMES = {
    "Eg": "eV", "gap_M": "eV", "gap_X": "eV", "Delta_so": "eV",
    "m_e": "m0", "m_h": "m0", "g_e": "1", "g_h": "1", "E_Xp_R": "eV",
}
#: Targets whose achieved values every fitted file records (others only when the spec targets them).
RECORDED_TARGETS = ("Eg", "gap_M", "gap_X", "Delta_so", "m_e", "m_h", "g_e", "g_h")
#: Residual scale s_t used when a target has no tolerance (choice of this module: 1 meV for
#: energies, 0.001 m0 for masses, 0.01 for g-factors, i.e. roughly the precision of Table S2).
DEFAULT_SCALES = {
    "Eg": 1e-3, "gap_M": 1e-3, "gap_X": 1e-3, "Delta_so": 1e-3,
    "m_e": 1e-3, "m_h": 1e-3, "g_e": 1e-2, "g_h": 1e-2, "E_Xp_R": 1e-3,
}
#: Parameters that may be freed (eV).
FITTABLE_NAMES = ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES + SECOND_NEIGHBOUR_NAMES
_UNITS = {"eV": 1.0, "meV": 1e-3, "angstrom": 0.1, "Å": 0.1, "nm": 1.0}
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
    align_vbm : bool
        Shift the on-site energies of the fitted set by −E_vbm (energy zero at the bulk VBM).
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
    align_vbm: bool = False
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
    """Outcome of :func:`perovskite_tb.app.jobs.fit.fit_parameters`.

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
    vbm_shift : float
        Shift added to every on-site energy after the fit (eV; 0 unless ``align_vbm``).
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
    vbm_shift: float = 0.0


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


def _load_doc(spec, base_dir) -> tuple[dict, Path]:
    """The spec document and the directory relative parent paths are resolved against."""
    if isinstance(spec, dict):
        return copy.deepcopy(spec), Path(base_dir) if base_dir is not None else Path.cwd()
    path = Path(spec)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read fit spec {str(path)!r}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed fit spec {path.name}: {exc}") from None
    return doc, Path(base_dir) if base_dir is not None else path.parent


_KNOWN_FIT = {"material", "parameter_set", "parent", "source", "description", "status",
              "orbital_zeeman", "citations", "max_nfev", "strict", "align_vbm"}


def _read_fit_table(doc: dict) -> dict:
    unknown = set(doc) - {"fit", "start", "free", "targets"}
    if unknown:
        raise InputError(f"fit spec: unknown table(s) {', '.join(sorted(unknown))} (known: fit, start, free, targets)")
    fit = doc.get("fit")
    if not isinstance(fit, dict):
        raise InputError("fit spec: missing [fit] table")
    for key in ("material", "parameter_set", "parent", "source"):
        if not isinstance(fit.get(key), str) or not fit.get(key):
            raise InputError(f"fit spec: [fit] {key} must be a non-empty string, got {fit.get(key)!r}")
    if set(fit) - _KNOWN_FIT:
        raise InputError(f"fit spec: unknown key(s) in [fit]: {', '.join(sorted(set(fit) - _KNOWN_FIT))}")
    if "." in fit["parameter_set"] or "/" in fit["parameter_set"]:
        raise InputError(f"fit spec: [fit] parameter_set must not contain '.' or '/', got {fit['parameter_set']!r}")
    cites = fit.get("citations", [])
    if not isinstance(cites, list) or not all(isinstance(c, str) for c in cites):
        raise InputError(f"fit spec: [fit] citations must be a list of strings, got {cites!r}")
    max_nfev = fit.get("max_nfev", 400)
    if isinstance(max_nfev, bool) or not isinstance(max_nfev, int) or max_nfev < 1:
        raise InputError(f"fit spec: [fit] max_nfev must be a positive integer, got {max_nfev!r}")
    for key in ("orbital_zeeman", "strict", "align_vbm"):
        if not isinstance(fit.get(key, False), bool):
            raise InputError(f"fit spec: [fit] {key} must be true or false, got {fit.get(key)!r}")
    return fit


class _Refs:
    """Citation-key check against parameters/references.toml (no check if the file is absent)."""

    def __init__(self):
        self.keys = _references(parameters_dir())

    def check(self, key: str, where: str) -> None:
        if self.keys is not None and key not in self.keys:
            raise ParameterError(f"fit spec: {where} cites unknown reference key {key!r}")


def _read_start(doc: dict, refs: _Refs) -> dict:
    start: dict = {}
    for name, entry in (doc.get("start") or {}).items():
        if name != "a" and name not in FITTABLE_NAMES:
            raise ParameterError(f"fit spec: [start] unknown parameter {name!r}")
        if not isinstance(entry, dict) or not {"value", "unit", "source"} <= set(entry):
            raise InputError(f"fit spec: [start] {name} must be a table {{ value, unit, source }}, got {entry!r}")
        unit = entry["unit"]
        if unit not in _UNITS or (name == "a") != (unit in ("angstrom", "Å", "nm")):
            raise InputError(f"fit spec: [start] {name} has unit {unit!r} (energies: eV/meV, a: angstrom/nm)")
        refs.check(str(entry["source"]), f"[start] {name}")
        start[name] = (_num(entry["value"], f"[start] {name} value") * _UNITS[unit], str(entry["source"]))
    return start


def _read_free(doc: dict) -> tuple[list, dict]:
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
    return names, bounds


def _read_target(name: str, entry, refs: _Refs) -> Target:
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
        refs.check(src, f"target {name}")
    return Target(name, _num(entry["value"], f"target {name} value"), w, tol, src)


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
    doc, base = _load_doc(spec, base_dir)
    fit = _read_fit_table(doc)
    parent, parent_name = _resolve_parent(fit["parent"], base)
    refs = _Refs()
    refs.check(fit["source"], "[fit] source")
    for c in fit.get("citations", []):
        refs.check(c, "[fit] citations")
    start = _read_start(doc, refs)
    names, bounds = _read_free(doc)
    ttab = doc.get("targets")
    if not isinstance(ttab, dict) or not ttab:
        raise InputError("fit spec: missing or empty [targets]")
    targets = [_read_target(name, entry, refs) for name, entry in ttab.items()]
    if not any(t.weight > 0 for t in targets):
        raise InputError("fit spec: all target weights are zero")
    return FitSpec(
        material=fit["material"], parameter_set=fit["parameter_set"], parent=parent, parent_name=parent_name,
        start=start, free=tuple(names), bounds=bounds, targets=tuple(targets), source=fit["source"],
        orbital_zeeman=fit.get("orbital_zeeman", False), max_nfev=fit.get("max_nfev", 400),
        strict=fit.get("strict", False), align_vbm=fit.get("align_vbm", False),
        description=str(fit.get("description", "")),
        status=str(fit.get("status", "")), citations=tuple(fit.get("citations", [])), raw=doc,
    )
