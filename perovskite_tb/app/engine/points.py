"""Sweep points: the expansion of a run file's axes into :class:`Point` s.

A point is one (model, material, parameter set, temperature, shape and size, Zeeman variant, k·p
basis); its ``key`` names its HDF5 row, so a resumed sweep recognises finished points. Points carry
their parameter set already taken to their temperature (ETB: :func:`parameters_at`; k·p: ``Eg(T)``
and, optionally, the Kane-energy scaling of the ETB rule), and a peak-memory estimate that feeds the
runner's memory guard (:func:`perovskite_tb.eigen.solver.estimate_memory_gb`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from perovskite_tb.app.engine.runfile import SIZE_AXES, RunSpec
from perovskite_tb.app.store.keys import point_key, row_key  # re-exported: the resume keys live with the files
from perovskite_tb.eigen.solver import estimate_memory_gb
from perovskite_tb.errors import ParameterError, PerovskiteTBError
from perovskite_tb.model.hamiltonian import nnz_per_row
from perovskite_tb.model.materials import available_sets, load_parameters
from perovskite_tb.model.slater_koster import second_neighbour_shells
from perovskite_tb.model.shapes import ShapeSpec, check_extent
from perovskite_tb.model.temperature import kane_energy_scale, lattice_scale, parameters_at
from perovskite_tb.model.termination import TerminationSpec
from kp.confinement import nc_default_set
from kp.envelope import default_n_basis
from kp.parameters import load_kp_parameters

__all__ = ["Point", "point_key", "row_key", "expand_points"]

_NAN3 = (math.nan, math.nan, math.nan)


@dataclass(frozen=True)
class Point:
    """One computation (picklable; sent to a worker).

    Attributes
    ----------
    model, material : str
    parameter_set : str
        ETB set name (etb) or k·p set name (kp).
    lattice_set : str
        ETB set fixing the edge of a k·p point (cells N·a(T), or a lattice-scaled explicit edge);
        "" for fixed explicit k·p edges.
    shape : ShapeSpec
        Shape and size (``n_cells`` for cubes and cuboids; (0, 0, 0) for explicit k·p edges).
    temperature_K : float
    orbital_zeeman : bool
        ETB only.
    kp_basis : str
        k·p envelope basis ("" for ETB).
    kp_resolution : int
        k·p functions per direction, 0 = kp's default.
    edges_nm : tuple of 3 float
        Box edges [nm] (ETB cuboids: N·a(T); k·p: the solved box); NaN for spheres and spheroids.
    key : str
        :func:`point_key`.
    memory_gb : float
        Estimated peak memory [GB].
    params : EtbParameters or KpParameters
        The model's parameter set at ``temperature_K``.
    termination : TerminationSpec or None
        Surface termination of an ETB point (None for k·p).
    solver : str
        ETB eigensolver back-end (``[execution].solver``; not part of the point's identity: every
        back-end gives the same levels and g to the solver tolerances).
    levels : int
        K: Kramers doublets per carrier in the row's spectrum (``[options].levels``; the options are
        checked on resume, so not part of the point's identity).
    thermal_average : bool
        ``[options].thermal_average``: the row's thermal g at ``temperature_K`` (levels ≥ 8).
    excitons : tuple or None
        (screening, CI doublets, trions and biexciton too) of ``[options].excitons`` (ETB and k·p boxes;
        checked on resume), or None.
    """

    model: str
    material: str
    parameter_set: str
    lattice_set: str
    shape: ShapeSpec
    temperature_K: float
    orbital_zeeman: bool = False
    kp_basis: str = ""
    kp_resolution: int = 0
    edges_nm: tuple = _NAN3
    key: str = ""
    memory_gb: float = 0.0
    params: object = field(default=None, repr=False, compare=False)
    termination: TerminationSpec | None = None
    solver: str = field(default="auto", compare=False)
    levels: int = field(default=1, compare=False)
    thermal_average: bool = field(default=False, compare=False)
    excitons: tuple | None = field(default=None, compare=False)

    @property
    def n_cells(self) -> tuple:
        """Pb sites per edge; (0, 0, 0) for shapes not given by cells."""
        return tuple(self.shape.n_cells) if self.shape.n_cells is not None else (0, 0, 0)

    @property
    def edge_nm(self) -> float:
        """Edge along x [nm] (NaN for spheres and spheroids)."""
        return float(self.edges_nm[0])

    def columns(self) -> dict:
        """Identity columns of the point's row (:data:`perovskite_tb.app.store.results.ID_COLUMNS`)."""
        s = self.shape
        return {
            "model": self.model, "material": self.material, "parameter_set": self.parameter_set,
            "lattice_set": self.lattice_set, "orbital_zeeman": self.orbital_zeeman,
            "temperature_K": self.temperature_K, "shape": s.kind, "n_cells": self.n_cells,
            "edge_nm": self.edge_nm,
            "diameter_nm": math.nan if s.diameter_nm is None else s.diameter_nm,
            "semi_axes_nm": _NAN3 if s.semi_axes_nm is None else s.semi_axes_nm,
            "kp_basis": self.kp_basis, "kp_resolution": self.kp_resolution,
            "termination": "" if self.termination is None else self.termination.kind,
        }


def _with_key(p: Point) -> Point:
    return dataclasses.replace(p, key=row_key(p.columns()))


def _n_sites(n) -> int:
    nx, ny, nz = n
    return 4 * nx * ny * nz + nx * ny + ny * nz + nx * nz


def _box_cells(spec: ShapeSpec, a: float) -> tuple:
    """Cells of the smallest cuboid holding the shape (memory estimate of spheres and spheroids)."""
    if spec.n_cells is not None:
        return tuple(spec.n_cells)
    check_extent(spec, a)  # a sphere below one cell is refused before the sweep starts
    half = (spec.diameter_nm / 2,) * 3 if spec.diameter_nm is not None else spec.semi_axes_nm
    return tuple(2 * math.ceil(h / a) + 1 for h in half)


def _memory_etb(n_orb: int, spec: ShapeSpec, a: float, nnz_row: float = 7.4) -> float:
    n_states = n_orb * _n_sites(_box_cells(spec, a))
    return float(estimate_memory_gb(n_states, int(nnz_row * n_states)))


def _nnz_row(params) -> float:
    """Stored entries per row: 7.4 for nearest-neighbour sets (unchanged), more with second-neighbour shells."""
    return 7.4 if not second_neighbour_shells(params) else nnz_per_row(params)


def _memory_kp(resolution: int, edges) -> float:
    """Peak-memory estimate (GB) of one k·p point: 8·N³ states, ≈ 85 nnz per row (Legendre basis),
    two parity blocks, with the ETB shift-invert calibration (within 15 % of the measured 1.36 GB at
    N = 14, kp/README.md)."""
    N = resolution or default_n_basis(max(edges))
    n_states = 8 * N**3
    return float(estimate_memory_gb(n_states, 85 * n_states, n_blocks=2))


@dataclass(frozen=True)
class _Resolved:
    points: tuple
    etb_sets: dict  # (material, set) -> EtbParameters at the reference temperature
    kp_sets: dict  # material -> k·p set name
    invariants: dict


def _load_etb(material: str, pset: str, path: str):
    """``load_parameters`` with every failure turned into a ParameterError naming ``path``."""
    try:
        return load_parameters(material, None if pset == "default" else pset)
    except PerovskiteTBError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    except (TypeError, ValueError, KeyError, AttributeError, OSError) as exc:  # malformed file
        raise ParameterError(f"{path}: malformed parameter file ({type(exc).__name__}: {exc})") from None


def _etb_sets(spec: RunSpec) -> dict:
    src, ax = spec.source, spec.axes
    shipped = available_sets()
    sets = {}
    for i, mat in enumerate(ax.material):
        if mat not in shipped and not all(ps.endswith(".toml") for ps in ax.parameter_set):
            raise ParameterError(f"{src}: [axes].material[{i}]: unknown material {mat!r} "
                                 f"(known: {', '.join(sorted(shipped))})")
        for j, ps in enumerate(ax.parameter_set):
            p = _load_etb(mat, ps, f"{src}: [axes].parameter_set[{j}] ({mat})")
            if p.material != mat:
                raise ParameterError(f"{src}: [axes].parameter_set[{j}]: file {ps!r} is for "
                                     f"{p.material}, not [axes].material[{i}] = {mat!r}")
            sets[(mat, ps)] = p
    return sets


def _kp_sets(spec: RunSpec) -> dict:
    sets = {}
    if "kp" in spec.axes.model:
        for mat in spec.axes.material:
            try:
                sets[mat] = spec.options.kp_parameter_set or nc_default_set(mat)
                load_kp_parameters(mat, sets[mat])
            except PerovskiteTBError as exc:
                raise ParameterError(f"{spec.source}: [options].kp_parameter_set: {exc}") from None
    return sets


def _shape_specs(spec: RunSpec) -> list[ShapeSpec]:
    """The ShapeSpecs of the shape axis (cubes and cuboids from n_cells, spheres, spheroids)."""
    ax, out = spec.axes, []
    for kind in ax.shape:
        sizes = getattr(ax, SIZE_AXES[kind])
        if kind in ("cube", "cuboid"):
            out += [ShapeSpec.from_n_cells(n) for n in sizes
                    if ShapeSpec.from_n_cells(n).kind == kind]
        elif kind == "sphere":
            out += [ShapeSpec("sphere", diameter_nm=d) for d in sizes]
        else:
            out += [ShapeSpec("spheroid", semi_axes_nm=tuple(s)) for s in sizes]
    return out


class _Expander:
    """Point construction for one run spec (parameter sets at T are cached)."""

    def __init__(self, spec: RunSpec, etb_sets: dict, kp_sets: dict):
        self.spec, self.etb_sets, self.kp_sets = spec, etb_sets, kp_sets
        self.shapes = _shape_specs(spec)
        self._at = {}

    def etb_at(self, mat: str, ps: str, T: float):
        if (mat, ps, T) not in self._at:
            try:
                self._at[(mat, ps, T)] = parameters_at(self.etb_sets[(mat, ps)], T,
                                                       rule=self.spec.options.temperature_rule)
            except PerovskiteTBError as exc:
                raise type(exc)(f"{self.spec.source}: [axes].temperature_K = {T:g} K with set "
                                f"{ps!r} ({mat}): {exc}") from None
        return self._at[(mat, ps, T)]

    def kp_at(self, mat: str, ps: str, T: float):
        """k·p set at T: Eg(T) (the set's T → 0 value at 0 K) and optionally the rule's E_p(T)."""
        kpp = load_kp_parameters(mat, self.kp_sets[mat])
        if T != 0.0:
            try:
                kpp = kpp.at_temperature(T)
            except PerovskiteTBError as exc:
                raise type(exc)(f"{self.spec.source}: [axes].temperature_K = {T:g} K: {exc}") from None
        if self.spec.options.kp_kane_scaling:
            base = self.etb_sets[(mat, ps)]
            rule = self.spec.options.temperature_rule
            kpp = dataclasses.replace(kpp, P=kpp.P * math.sqrt(kane_energy_scale(base, T, rule=rule)))
        return kpp

    def etb(self, mat: str, ps: str, set_name: str, T: float) -> list[Point]:
        pT = self.etb_at(mat, ps, T)
        out = []
        for s in self.shapes:
            edges = _NAN3 if s.n_cells is None else tuple(n * pT.a for n in s.n_cells)
            for term in self.spec.axes.termination:
                for oz in self.spec.axes.orbital_zeeman:
                    out.append(Point("etb", mat, set_name, set_name, s, T, oz, edges_nm=edges,
                                     memory_gb=_memory_etb(pT.n_orb, s, pT.a, _nnz_row(pT)), params=pT,
                                     termination=self.spec.options.termination_spec(term),
                                     solver=self.spec.execution.solver, levels=self.spec.options.levels,
                                     thermal_average=self.spec.options.thermal_average,
                                     excitons=self.spec.options.exciton_request))
        return out

    def kp(self, mat: str, ps: str, set_name: str, T: float) -> list[Point]:
        ax, op = self.spec.axes, self.spec.options
        pT = self.etb_at(mat, ps, T)
        boxes = [(s, tuple(n * pT.a for n in s.n_cells), set_name) for s in self.shapes]
        scaled = op.kp_edge_temperature_K is not None
        for L in ax.edge_nm:
            if scaled and T != op.kp_edge_temperature_K:
                base = self.etb_sets[(mat, ps)]
                L = L * lattice_scale(base, T) / lattice_scale(base, op.kp_edge_temperature_K)
            lattice = set_name if scaled or op.kp_kane_scaling else ""
            boxes.append((ShapeSpec("cube"), (L, L, L), lattice))
        kpp = self.kp_at(mat, ps, T)
        out = []
        for s, edges, lattice in boxes:
            for basis in ax.kp_basis:
                for res in ax.kp_resolution or (0,):
                    out.append(Point("kp", mat, self.kp_sets[mat], lattice, s, T, False, basis, res,
                                     edges_nm=edges, memory_gb=_memory_kp(res, edges), params=kpp,
                                     levels=op.levels, thermal_average=op.thermal_average,
                                     excitons=op.exciton_request))
        return out


def expand_points(spec: RunSpec) -> _Resolved:
    """Resolve parameter sets and expand the axes into :class:`Point` s (canonical order).

    Order: model, material, parameter_set, temperature, shape and size, termination (ETB), Zeeman
    variant / k·p basis.

    Raises
    ------
    PerovskiteTBError
        Unknown material or set (message with the key path), malformed parameter file, bad
        temperature for a set without temperature model.
    """
    ax = spec.axes
    etb_sets, kp_sets = _etb_sets(spec), _kp_sets(spec)
    ex = _Expander(spec, etb_sets, kp_sets)
    pts = []
    for model in ax.model:
        for mat in ax.material:
            for ps in ax.parameter_set:
                base = etb_sets[(mat, ps)]
                set_name = base.parameter_set if not ps.endswith(".toml") else ps
                for T in ax.temperature_K:
                    pts += getattr(ex, model)(mat, ps, set_name, T)
    unique = {}
    for p in map(_with_key, pts):  # e.g. "default" and the default set's name; fixed k·p edges
        unique.setdefault(p.key, p)
    op = spec.options
    invariants = {"temperature_rule": op.temperature_rule, "kp_kane_scaling": op.kp_kane_scaling,
                  "kp_edge_temperature_K": op.kp_edge_temperature_K}
    if op.excitons:  # recorded (and checked on resume) only when on: older files stay resumable
        invariants.update({"excitons": True, "screening": op.exciton_request[0],
                           "ci_levels": op.ci_levels})
    for key in ("passivation_eV", "cs_potential_eV"):  # recorded (and checked on resume) only when given
        if getattr(op, key) is not None:
            invariants[key] = getattr(op, key)
    return _Resolved(points=tuple(unique.values()), etb_sets=etb_sets, kp_sets=kp_sets,
                     invariants=invariants)

