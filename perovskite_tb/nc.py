"""The pipeline: a model's Terms → level spectrum → band-edge g tensors → a :class:`SolvedNanocrystal`.

:func:`solve` takes the :class:`~perovskite_tb.model.terms.Terms` of any model (ETB from
:func:`perovskite_tb.model.terms.etb_terms`, k·p from :func:`kp.confinement.kp_terms`) and returns one
:class:`SolvedNanocrystal` for both. Per-NC quantities (Coulomb energy, optical transition energy,
hyperfine fields, g_X, …) are observables (:mod:`perovskite_tb.observables`) evaluated from it on
request: the pipeline computes none of them itself. :func:`nc_gfactors` is the ETB shortcut from
parameters and a shape; :func:`perovskite_tb.api.solve` the entry point from a material name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from perovskite_tb.eigen.band_edges import BandEdges, solve_terms
from perovskite_tb.eigen.levels import levels_near
from perovskite_tb.errors import InputError
from perovskite_tb.gfactor import GFactor, g_from_splitting, g_tensor, zeeman_values
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
from perovskite_tb.observables.dielectric import dielectric_constants
from perovskite_tb.observables.hyperfine_observables import hyperfine_result
from perovskite_tb.observables.optical import coulomb_result

__all__ = ["SolvedNanocrystal", "NcResult", "solve", "nc_gfactors", "midgap", "edge_shifts", "finite_field_g",
           "levels_near"]


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


@dataclass(frozen=True, eq=False)
class SolvedNanocrystal:
    """A solved nanocrystal of any model: its Terms, level spectrum, band-edge g tensors; observables on request.

    Produced by :func:`solve` (and :func:`nc_gfactors`, :func:`perovskite_tb.api.solve`). A per-NC
    quantity is a registered :class:`perovskite_tb.observables.Observable` whose ``compute(solved)``
    reads this object; :attr:`observables` evaluates them all on first access, :meth:`observable` one.

    Attributes
    ----------
    terms : perovskite_tb.model.terms.Terms
        H₀, M_γ (eV/T), J_γ (ħ), overlap S, n_fill and the structure (ETB :class:`~perovskite_tb.model.geometry.Structure`
        or the k·p envelope basis).
    band_edges : perovskite_tb.eigen.band_edges.BandEdges
        The solve: band-edge doublets, solver statistics and :attr:`spectrum`.
    spectrum : perovskite_tb.eigen.spectrum.Spectrum
        The K lowest electron and highest hole multiplets with their eigenvectors
        (``spectrum.electron[0]`` is the band-edge doublet).
    g_e, g_h : perovskite_tb.gfactor.GFactor
        Signed g tensors of the band-edge doublets (J convention).
    seconds : float
        Wall time of assembly + solve + g (s); observables add their own ``stats[<name>_s]``.
    stats : dict
        Solver statistics; ``stats["solver"]`` is the back-end used.
    context : dict
        The model choices the observables read and the output names: ``material``, ``dielectric``
        ((ε_in, ε_out) or None: no Coulomb step), ``termination``, ``shape_info`` (:func:`size_json`), …
    n_cells : tuple of int or None
        Pb sites per edge (ETB cuboids; None for other structures).
    edge_nm : tuple of float or None
        Edge lengths (nm).
    n_states : int
        Basis dimension.
    E_e, E_h : float
        Band-edge electron / hole level (eV; bulk VBM of the set ≈ 0).
    transition_energy : float
        E_e − E_h (eV), single particle.
    residual_e, residual_h : float
        ‖H₀v − ESv‖ of the band-edge doublets (eV).
    model : str
        ``"etb"`` or ``"kp"``.
    """

    terms: Terms
    band_edges: BandEdges
    g_e: GFactor
    g_h: GFactor
    seconds: float
    stats: dict
    context: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ band-edge view of the spectrum
    @property
    def spectrum(self):
        return self.band_edges.spectrum

    @property
    def model(self) -> str:
        return self.terms.model

    @property
    def structure(self):
        return self.terms.structure

    @property
    def n_cells(self):
        n = getattr(self.terms.structure, "n_cells", None)
        return None if n is None else tuple(n)

    @property
    def edge_nm(self):
        e = getattr(self.terms.structure, "edge_nm", None)
        return None if e is None else tuple(e)

    @property
    def n_states(self) -> int:
        return int(self.terms.n_states)

    @property
    def E_e(self) -> float:
        return float(self.spectrum.electron[0].energy)

    @property
    def E_h(self) -> float:
        return float(self.spectrum.hole[0].energy)

    @property
    def transition_energy(self) -> float:
        return self.E_e - self.E_h

    @property
    def residual_e(self) -> float:
        return float(self.spectrum.electron[0].residual)

    @property
    def residual_h(self) -> float:
        return float(self.spectrum.hole[0].residual)

    @property
    def electron(self):
        """Band-edge electron doublet (:class:`~perovskite_tb.eigen.doublets.Doublet`)."""
        return self.band_edges.electron

    @property
    def hole(self):
        """Band-edge hole doublet (:class:`~perovskite_tb.eigen.doublets.Doublet`)."""
        return self.band_edges.hole

    @property
    def shape_info(self) -> dict | None:
        return self.context.get("shape_info")

    # ------------------------------------------------------------------ observables on request
    def cached(self, key: str, compute):
        """``compute(self)`` once per key (an intermediate several observables share, e.g. the Coulomb
        result); its wall time is added to ``stats[key + "_s"]``."""
        if key not in self._cache:
            t0 = time.perf_counter()
            self._cache[key] = compute(self)
            self.stats[f"{key}_s"] = self.stats.get(f"{key}_s", 0.0) + time.perf_counter() - t0
        return self._cache[key]

    def observable(self, name: str) -> float:
        """Value of the registered observable ``name`` in its unit (:data:`perovskite_tb.observables.REGISTRY`).

        Raises
        ------
        KeyError
            Unknown name.
        """
        return evaluate(self, [name])[name]

    @property
    def observables(self) -> dict:
        """Every registered observable, evaluated on first access (name → float in its unit)."""
        return self.cached("observables", evaluate)

    @property
    def coulomb(self):
        """:class:`~perovskite_tb.observables.coulomb.CoulombResult` of the band-edge pair, or None
        without dielectric constants (``context["dielectric"]`` None)."""
        return coulomb_result(self)

    @property
    def hyperfine(self) -> dict | None:
        """:func:`perovskite_tb.observables.hyperfine.hyperfine_fields` of the band edges (ETB), else None."""
        return hyperfine_result(self)

    # ------------------------------------------------------------------ level spectra
    def zeeman(self, carrier: str, index: int = 0) -> np.ndarray:
        """First-order Zeeman values (μB) of multiplet ``index`` of ``carrier`` ("e"/"h") along x, y, z:
        array (3, degeneracy), float64 (:func:`perovskite_tb.gfactor.zeeman_values`)."""
        key = f"zeeman_{carrier[0]}_{index}"
        m = self.spectrum.carrier(carrier)[index]
        return self.cached(key, lambda s: zeeman_values(m.vectors, s.terms.M, s.terms.J, overlap=s.terms.S))

    def levels_json(self) -> dict:
        """``{"e": [{"E_eV", "degeneracy", "zeeman_x_muB", "zeeman_y_muB", "zeeman_z_muB"}, …], "h": […]}``,
        electrons ascending and holes descending from the gap; Zeeman values ordered by decreasing ⟨J⟩."""
        out = {}
        for c in ("e", "h"):
            rows = []
            for i, m in enumerate(self.spectrum.carrier(c)):
                z = self.zeeman(c, i)
                rows.append({"E_eV": float(m.energy), "degeneracy": int(m.degeneracy),
                             **{f"zeeman_{ax}_muB": z[j].tolist() for j, ax in enumerate("xyz")}})
            out[c] = rows
        return out

    def as_json(self, levels: bool = False) -> dict:
        """CLI contract keys (n_cells, edge_nm, n_states, E_e_eV, E_h_eV, transition_energy_eV, g_e, g_h,
        g_e_tensor, g_h_tensor, residual_e_eV, residual_h_eV, seconds) plus the shape keys, the
        observables and ``solver``; ``levels=True`` adds ``levels`` (:meth:`levels_json`)."""
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
        if levels:
            out["levels"] = self.levels_json()
        return out


#: The name the app and earlier versions use for a solved nanocrystal.
NcResult = SolvedNanocrystal


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
        Not a pair of finite numbers ≥ 1.
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
    if len(eps) != 2 or not all(np.isfinite(e) and e >= 1 for e in eps):
        raise InputError(f"dielectric constants must be two finite relative permittivities >= 1 "
                         f"(dimensionless), got {dielectric!r}")
    return eps


def _solved(terms: Terms, edges: BandEdges, t0: float, stats: dict, context: dict) -> SolvedNanocrystal:
    """g tensors of the band-edge doublets (with the overlap of the Terms) and the solved object."""
    ge = g_tensor(edges.electron.vectors, terms.M, terms.J, overlap=terms.S)
    gh = g_tensor(edges.hole.vectors, terms.M, terms.J, overlap=terms.S)
    return SolvedNanocrystal(terms=terms, band_edges=edges, g_e=ge, g_h=gh,
                             seconds=time.perf_counter() - t0, stats=stats, context=dict(context))


def solve(terms: Terms, *, solver: str = "auto", sigma: float | None = None, symmetry: str = "auto",
          warm_start: BandEdges | None = None, levels: int = 1, context: dict | None = None,
          _t0: float | None = None, **options) -> SolvedNanocrystal:
    """Level spectrum and band-edge g tensors of a model's Terms (ETB or k·p alike); observables on request.

    Parameters
    ----------
    terms : Terms
        :func:`perovskite_tb.model.terms.etb_terms` / :func:`~perovskite_tb.model.terms.terms_from_hamiltonian`
        (ETB) or :func:`kp.confinement.kp_terms` (k·p).
    solver : str, optional
        ``"auto"`` or a back-end name (:func:`perovskite_tb.eigen.registry.available_backends`).
    sigma : float, optional
        Single shift (eV); default: the Terms' edge shifts with its mid-gap as fallback.
    symmetry : {"auto", "inversion", "none"}, optional
    warm_start : BandEdges, optional
        Previous solve of the same structure (iterative back-ends).
    levels : int, optional
        K: Kramers doublets per side in the spectrum (1 … 64; default 1, the band edges), proved
        complete by the inertia (:mod:`perovskite_tb.eigen.spectrum`).
    context : dict, optional
        Model choices the observables read: ``material`` (str), ``dielectric`` ((ε_in, ε_out) or None
        to skip the Coulomb step; default None), ``termination``, ``shape_info``.
    **options
        :class:`~perovskite_tb.eigen.backends.SolveOptions` fields (``max_memory_gb``, ``ldl``, …).

    Returns
    -------
    SolvedNanocrystal

    Raises
    ------
    InputError, SolverError, DegeneracyError
    """
    t0 = time.perf_counter() if _t0 is None else _t0
    edges = solve_terms(terms, method=solver, sigma=sigma, symmetry=symmetry, warm_start=warm_start,
                        levels=levels, **options)
    return _solved(terms, edges, t0, dict(edges.stats), {"dielectric": None, **(context or {})})


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
    levels: int = 1,
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
    levels : int, optional
        K: Kramers doublets per side in the spectrum (default 1, the band edges).

    Returns
    -------
    SolvedNanocrystal, or (SolvedNanocrystal, HamiltonianTerms, BandEdges) if ``return_terms``.

    Raises
    ------
    GeometryError, SolverError, DegeneracyError
    InputError
        Unknown termination or a termination parameter out of range.
    """
    t0 = time.perf_counter()
    term = TerminationSpec.of(termination)
    spec = n_cells if isinstance(n_cells, ShapeSpec) else ShapeSpec.from_n_cells(n_cells)
    eps = dielectric_pair(params.material, dielectric)
    check_memory(spec, params, method)
    structure = build(spec, params.a)
    ht = assemble(structure, params, orbital_zeeman=orbital_zeeman, termination=term)
    terms = terms_from_hamiltonian(ht)
    context = {"material": params.material, "dielectric": eps, "termination": term.kind,
               "shape_info": {**size_json(spec, structure), "termination": term.kind}}
    assembly_s = time.perf_counter() - t0
    res = solve(terms, solver=method, sigma=sigma, levels=levels, context=context, _t0=t0,
                **dict(solver_options or {}))
    res.stats["assembly_s"] = assembly_s
    return (res, ht, res.band_edges) if return_terms else res


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
