"""The pipeline: a model's Terms → band-edge doublets → signed g tensors → observables → one NcResult.

:func:`solve` takes the :class:`~perovskite_tb.model.terms.Terms` of any model (ETB from
:func:`perovskite_tb.model.terms.etb_terms`, k·p from :func:`kp.confinement.assemble`) and returns an
:class:`NcResult` with the same fields for both. :func:`nc_gfactors` is the ETB cuboid shortcut used
by the CLI.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from perovskite_tb.eigen.band_edges import BandEdges, solve_terms
from perovskite_tb.eigen.levels import levels_near
from perovskite_tb.errors import InputError
from perovskite_tb.gfactor import GFactor, g_from_splitting, g_tensor
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.hamiltonian import HamiltonianTerms, assemble, nnz_per_row
from perovskite_tb.model.slater_koster import second_neighbour_shells
from perovskite_tb.model.materials import EtbParameters
from perovskite_tb._system import memory_budget_gb
from perovskite_tb.eigen.registry import choose_backend
from perovskite_tb.model.shapes import ShapeSpec, build, max_sites, size_json
from perovskite_tb.model.termination import TerminationSpec
from perovskite_tb.model.terms import ETB_EDGE_MARGIN_EV, Terms, terms_from_hamiltonian
from perovskite_tb.observables import evaluate
from perovskite_tb.observables.coulomb import coulomb_of_solution
from perovskite_tb.observables.hyperfine import halide_of, hyperfine_fields
from perovskite_tb.observables.dielectric import dielectric_constants

__all__ = ["NcResult", "solve", "nc_gfactors", "midgap", "edge_shifts", "finite_field_g", "levels_near"]


@lru_cache(maxsize=32)
def midgap(params: EtbParameters) -> float:
    """Middle of the bulk gap at R (eV): a shift that lies inside every NC gap (confinement only widens it)."""
    b = bulk_properties(params)
    return b.E_vbm + 0.5 * b.Eg


@lru_cache(maxsize=32)
def edge_shifts(params: EtbParameters, margin: float = ETB_EDGE_MARGIN_EV) -> tuple[float, float]:
    """Solver shifts (σ_h, σ_e) = (bulk VBM + margin, bulk CBM − margin) in eV.

    Confinement pushes NC levels outward, so these lie in every NC gap; the solver's inertia check
    verifies it and falls back to :func:`midgap` if not.
    """
    b = bulk_properties(params)
    return (b.E_vbm + margin, b.E_vbm + b.Eg - margin)


@dataclass(frozen=True)
class NcResult:
    """Band edges, g tensors and observables of one nanocrystal (any model).

    Attributes
    ----------
    n_cells : tuple of int or None
        Pb sites per edge (ETB cuboids; None for structures without cells, e.g. a k·p box).
    edge_nm : tuple of float or None
        Edge lengths (nm): N·a per axis (ETB), box edges (k·p).
    n_states : int
    E_e, E_h : float
        Lowest electron / highest hole level (eV, bulk energy scale of the set, bulk VBM ≈ 0).
    transition_energy : float
        E_e − E_h (eV), single-particle (no Coulomb term; Nestoklon et al., Nano Lett. 23, 8218 (2023)).
    g_e, g_h : GFactor
    residual_e, residual_h : float
        ‖Hv − ESv‖ (eV).
    seconds : float
        Wall time of assembly + solve + g (s).
    stats : dict
        Solver statistics; ``stats["solver"]`` is the back-end used.
    model : str
        ``"etb"`` or ``"kp"``.
    observables : dict
        :func:`perovskite_tb.observables.evaluate` of this result (e.g. ``g_X``).
    """

    n_cells: tuple | None
    edge_nm: tuple | None
    n_states: int
    E_e: float
    E_h: float
    transition_energy: float
    g_e: GFactor
    g_h: GFactor
    residual_e: float
    residual_h: float
    seconds: float
    stats: dict
    model: str = "etb"
    observables: dict = field(default_factory=dict)
    shape_info: dict | None = None  # size_json(): shape, n_atoms, diameter_nm / semi_axes_nm
    coulomb: object = None  # CoulombResult of perovskite_tb.observables.coulomb, if computed
    hyperfine: dict | None = None  # perovskite_tb.observables.hyperfine.hyperfine_fields (ETB)

    def as_json(self) -> dict:
        """CLI contract keys (n_cells, edge_nm, n_states, E_e_eV, E_h_eV, transition_energy_eV, g_e, g_h,
        g_e_tensor, g_h_tensor, residual_e_eV, residual_h_eV, seconds) plus the observables and ``solver``."""
        out = {} if self.n_cells is None else {"n_cells": list(self.n_cells)}
        out.update({
            "edge_nm": None if self.edge_nm is None else list(self.edge_nm),
            "n_states": self.n_states,
            "E_e_eV": self.E_e,
            "E_h_eV": self.E_h,
            "transition_energy_eV": self.transition_energy,
            "g_e": self.g_e.g,
            "g_h": self.g_h.g,
            "g_e_tensor": self.g_e.tensor.tolist(),
            "g_h_tensor": self.g_h.tensor.tolist(),
            "residual_e_eV": self.residual_e,
            "residual_h_eV": self.residual_h,
            "seconds": self.seconds,
        })
        out.update(self.shape_info or {})
        out.update(self.observables)
        out["solver"] = self.stats.get("solver")
        return out


#: Non-zeros per row of the sp3d5s* / sp3 NC Hamiltonians (≈ 7.4; benchmarks/README.md), for the
#: memory check before assembly.
NNZ_PER_ROW = 7.5


def check_memory(spec: ShapeSpec, params: EtbParameters, method: str = "auto",
                 max_memory_gb: float | None = None) -> float:
    """Refuse a nanocrystal whose solve cannot fit in memory, before any array is allocated.

    The bound uses the bounding cuboid's atom count (:func:`perovskite_tb.model.shapes.max_sites`), ≈ 7.5
    non-zeros per row and the solver's calibrated estimate
    (:func:`perovskite_tb.eigen.registry.choose_backend`) with the symmetry blocks every shape of this
    package has (C4 × P: 8 blocks for cubes, spheres and spheroids of revolution; C2 × P: 4 otherwise).

    Returns
    -------
    float
        The estimate (GB).

    Raises
    ------
    GeometryError
        Bad size.
    SolverError
        One line naming the states, the estimate and the budget (GB).
    """
    n = params.n_orb * max_sites(spec, params.a)
    sizes = spec.n_cells or spec.semi_axes_nm or (spec.diameter_nm,) * 3
    n_blocks = 8 if len(set(sizes)) == 1 or (spec.semi_axes_nm is not None and len(set(sizes)) == 2) else 4
    nnz = NNZ_PER_ROW if not second_neighbour_shells(params) else nnz_per_row(params)
    _, est = choose_backend(method, n, int(nnz * n), n_blocks, memory_budget_gb(max_memory_gb))
    return est


def dielectric_pair(material: str, dielectric) -> tuple[float, float] | None:
    """(ε_in, ε_out) for ``dielectric``: ``"default"`` → the cited constants of ``material`` and the glass
    (:func:`perovskite_tb.observables.dielectric.dielectric_constants`), a pair of floats as given, None → None.

    Raises
    ------
    InputError
        A pair of non-positive or non-finite numbers.
    ParameterError
        No cited ε for ``material``.
    """
    if dielectric is None:
        return None
    if isinstance(dielectric, str):
        if dielectric != "default":
            raise InputError(f"dielectric must be 'default', None or (eps_in, eps_out), got {dielectric!r}")
        d = dielectric_constants(material)
        return float(d.eps_in.value), float(d.eps_out.value)
    eps = tuple(float(x) for x in dielectric)
    if len(eps) != 2 or not all(np.isfinite(e) and e > 0 for e in eps):
        raise InputError(f"dielectric constants must be two positive finite numbers, got {dielectric!r}")
    return eps


def _result(terms: Terms, edges: BandEdges, t0: float, stats: dict, eps=None) -> NcResult:
    """g tensors (with the overlap of the Terms), observables and the NcResult of a solve started at t0.

    ``eps`` = (ε_in, ε_out) adds the e–h Coulomb energy (:func:`coulomb_of_solution`)."""
    ge = g_tensor(edges.electron.vectors, terms.M, terms.J, overlap=terms.S)
    gh = g_tensor(edges.hole.vectors, terms.M, terms.J, overlap=terms.S)
    st = terms.structure
    edge = getattr(st, "edge_nm", None)
    res = NcResult(
        n_cells=getattr(st, "n_cells", None), edge_nm=None if edge is None else tuple(edge),
        n_states=terms.n_states, E_e=edges.electron.energy, E_h=edges.hole.energy,
        transition_energy=edges.electron.energy - edges.hole.energy, g_e=ge, g_h=gh,
        residual_e=edges.electron.residual, residual_h=edges.hole.residual,
        seconds=time.perf_counter() - t0, stats=stats, model=terms.model,
    )
    if terms.model == "etb":  # per-atom weights of the doublets → Overhauser fields, halide weights
        t1 = time.perf_counter()
        hf = hyperfine_fields(terms.structure, edges.electron.vectors, edges.hole.vectors, ge.g, gh.g,
                              terms.params.basis, halide=halide_of(terms.params.material))
        res = dataclasses.replace(res, hyperfine=hf)
        res.stats["hyperfine_s"] = time.perf_counter() - t1
    if eps is not None:
        t1 = time.perf_counter()
        res = dataclasses.replace(res, coulomb=coulomb_of_solution(terms, edges, *eps))
        res.stats["coulomb_s"] = time.perf_counter() - t1
    return dataclasses.replace(res, observables=evaluate(res))


def _solve(terms: Terms, t0: float, extra_stats: dict, *, solver: str, sigma, symmetry: str, warm_start,
           options: dict, eps=None) -> tuple[NcResult, BandEdges]:
    edges = solve_terms(terms, method=solver, sigma=sigma, symmetry=symmetry, warm_start=warm_start, **options)
    return _result(terms, edges, t0, dict(edges.stats, **extra_stats), eps), edges


def solve(terms: Terms, *, solver: str = "auto", sigma: float | None = None, symmetry: str = "auto",
          warm_start: BandEdges | None = None, **options) -> NcResult:
    """Band edges, signed g tensors and observables of a model's Terms (ETB or k·p alike).

    Parameters
    ----------
    terms : Terms
    solver : str, optional
        ``"auto"`` or a back-end name (:func:`perovskite_tb.eigen.registry.available_backends`).
    sigma : float, optional
        Single shift (eV); default: the Terms' edge shifts with its mid-gap as fallback.
    symmetry : {"auto", "inversion", "none"}, optional
    warm_start : BandEdges, optional
        Previous solve of the same structure (iterative back-ends).
    **options
        :class:`~perovskite_tb.eigen.backends.SolveOptions` fields (``max_memory_gb``, ``ldl``, …).

    Returns
    -------
    NcResult

    Raises
    ------
    InputError, SolverError, DegeneracyError
    """
    return _solve(terms, time.perf_counter(), {}, solver=solver, sigma=sigma, symmetry=symmetry,
                  warm_start=warm_start, options=options)[0]


def nc_gfactors(
    params: EtbParameters,
    n_cells,
    *,
    orbital_zeeman: bool = False,
    sigma: float | None = None,
    return_terms: bool = False,
    method: str = "auto",
    dielectric="default",
    termination=None,
    solver_options: dict | None = None,
):
    """Signed g tensors of the lowest electron and highest hole doublet of an ETB nanocrystal of any registered shape.

    Parameters
    ----------
    params : EtbParameters
    n_cells : int, sequence of 3 int, or ShapeSpec
        Pb sites per edge (Nx, Ny, Nz) of a cube/cuboid, or any shape of :mod:`perovskite_tb.model.shapes`.
    orbital_zeeman : bool, optional
        Include the on-site μB L·B term (default False).
    sigma : float, optional
        Single shift for the eigensolver (eV); default: bulk edge shifts, :func:`midgap` as fallback.
    return_terms : bool, optional
        Also return the :class:`HamiltonianTerms` and :class:`BandEdges`.
    method : str, optional
        Solver back-end (:data:`perovskite_tb.eigen.registry.METHODS`); ``"auto"`` picks by size and memory.
    dielectric : "default", (float, float) or None, optional
        (ε_in, ε_out) for the e–h Coulomb energy and the optical transition energy
        (:func:`dielectric_pair`; ``"default"``: the cited constants of the material and the glass);
        None skips the Coulomb step.
    termination : str or TerminationSpec, optional
        Surface termination (:data:`perovskite_tb.model.termination.TERMINATIONS`: ``"pbx6"`` (default),
        ``"passivated"``, ``"csx"``); a :class:`~perovskite_tb.model.termination.TerminationSpec` sets its
        parameter (δ_sb, U_Cs).
    solver_options : dict, optional
        :class:`~perovskite_tb.eigen.backends.SolveOptions` fields (``ldl``, ``workers``, ``max_memory_gb``, …).

    Returns
    -------
    NcResult, or (NcResult, HamiltonianTerms, BandEdges) if ``return_terms``.

    Raises
    ------
    GeometryError, SolverError, DegeneracyError
    InputError
        Unknown termination or a termination parameter out of range.
    """
    t0 = time.perf_counter()
    term = TerminationSpec.of(termination)
    spec = n_cells if isinstance(n_cells, ShapeSpec) else ShapeSpec.from_n_cells(n_cells)
    check_memory(spec, params, method)
    structure = build(spec, params.a)
    ht = assemble(structure, params, orbital_zeeman=orbital_zeeman, termination=term)
    terms = terms_from_hamiltonian(ht)
    res, edges = _solve(terms, t0, {"assembly_s": time.perf_counter() - t0}, solver=method, sigma=sigma,
                        symmetry="auto", warm_start=None, options=dict(solver_options or {}),
                        eps=dielectric_pair(params.material, dielectric))
    res = dataclasses.replace(res, shape_info={**size_json(spec, structure), "termination": term.kind})
    return (res, ht, edges) if return_terms else res


def finite_field_g(terms: HamiltonianTerms, energy: float, direction, *, B_T: float = 0.05) -> float:
    """Signed g along ``direction`` from exact-Peierls spectra at ±B (independent of :attr:`HamiltonianTerms.M`).

    Parameters
    ----------
    terms : HamiltonianTerms
    energy : float
        Energy of the doublet at B = 0 (eV).
    direction : sequence of 3 float
        Field direction.
    B_T : float, optional
        Field magnitude (T), default 0.05.

    Returns
    -------
    float

    Raises
    ------
    InputError
        Zero direction or non-positive field.
    """
    if not B_T > 0:
        raise InputError(f"field must be > 0 T, got {B_T} T")
    shift = 2e-4  # eV: keeps the shift off the doublet's exact energies, far below level spacings

    def levels(Bvec):
        return levels_near(terms.hamiltonian(Bvec, exact=True), energy + shift, 2, terms.params.n_orb)

    return g_from_splitting(levels, terms.J, np.asarray(direction, dtype=float), B_T=B_T)
