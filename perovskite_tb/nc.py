"""Nanocrystal g-factors: geometry → Hamiltonian → band edges → signed g tensors (public pipeline)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.errors import InputError
from perovskite_tb.model.shapes import ShapeSpec, build, size_json
from perovskite_tb.observables import evaluate
from perovskite_tb.gfactor import GFactor, g_from_splitting, g_tensor
from perovskite_tb.model.hamiltonian import HamiltonianTerms, assemble
from perovskite_tb.model.materials import EtbParameters
from perovskite_tb.eigen.solver import band_edges, nd_ordering

__all__ = ["NcResult", "nc_gfactors", "midgap", "finite_field_g", "levels_near"]


@lru_cache(maxsize=32)
def midgap(params: EtbParameters) -> float:
    """Middle of the bulk gap at R (eV): a shift that lies inside every NC gap (confinement only widens it)."""
    b = bulk_properties(params)
    return b.E_vbm + 0.5 * b.Eg


@lru_cache(maxsize=32)
def edge_shifts(params: EtbParameters, margin: float = 0.05) -> tuple[float, float]:
    """Solver shifts (σ_h, σ_e) = (bulk VBM + margin, bulk CBM − margin) in eV.

    Confinement pushes NC levels outward, so these lie in every NC gap; the solver's inertia check
    verifies it and falls back to :func:`midgap` if not.
    """
    b = bulk_properties(params)
    return (b.E_vbm + margin, b.E_vbm + b.Eg - margin)


@dataclass(frozen=True)
class NcResult:
    """g-factors and band edges of one nanocrystal.

    Attributes
    ----------
    n_cells : tuple of int
    edge_nm : tuple of float
        N·a per axis (nm).
    n_states : int
    E_e, E_h : float
        Lowest electron / highest hole level (eV, bulk energy scale of the set, bulk VBM ≈ 0).
    transition_energy : float
        E_e − E_h (eV), single-particle (brief §3.4).
    g_e, g_h : GFactor
    residual_e, residual_h : float
        ‖Hv − Ev‖ (eV).
    seconds : float
        Wall time of assembly + solve + g (s).
    stats : dict
        Solver statistics.
    """

    n_cells: tuple
    edge_nm: tuple
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
    shape_info: dict | None = None  # size_json(): shape, n_atoms, diameter_nm / semi_axes_nm

    def as_json(self) -> dict:
        """CLI contract keys: n_states, E_e_eV, E_h_eV, transition_energy_eV, g_e, g_h, g_e_tensor, g_h_tensor, seconds."""
        return {
            "n_cells": list(self.n_cells),
            "edge_nm": list(self.edge_nm),
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
            **(self.shape_info or {}), "g_X": evaluate(self, ["g_X"])["g_X"],
        }


def nc_gfactors(
    params: EtbParameters,
    n_cells,
    *,
    orbital_zeeman: bool = False,
    sigma: float | None = None,
    return_terms: bool = False,
    method: str = "auto",
):
    """Signed g tensors of the lowest electron and highest hole doublet of a cuboid NC.

    Parameters
    ----------
    params : EtbParameters
    n_cells : int, sequence of 3 int, or ShapeSpec
        Pb sites per edge (Nx, Ny, Nz) of a cube/cuboid, or any shape of :mod:`perovskite_tb.model.shapes`.
    orbital_zeeman : bool, optional
        Include the on-site μB L·B term (default False).
    sigma : float, optional
        Shift for the eigensolver (eV); default :func:`midgap`.
    return_terms : bool, optional
        Also return the :class:`HamiltonianTerms` and :class:`BandEdges`.
    method : str, optional
        Eigensolver (:data:`perovskite_tb.eigen.solver.METHODS`); ``"auto"`` picks by size and memory.

    Returns
    -------
    NcResult, or (NcResult, HamiltonianTerms, BandEdges) if ``return_terms``.

    Raises
    ------
    GeometryError, SolverError, DegeneracyError
    """
    t0 = time.perf_counter()
    spec = n_cells if isinstance(n_cells, ShapeSpec) else ShapeSpec.from_n_cells(n_cells)
    structure = build(spec, params.a)
    terms = assemble(structure, params, orbital_zeeman=orbital_zeeman)
    t1 = time.perf_counter()
    edges = band_edges(terms.H0, sigma=midgap(params) if sigma is None else sigma,
                       n_orb=params.n_orb, n_fill=terms.n_fill, positions=structure.positions,
                       method=method, edge_shifts=None if sigma is not None else edge_shifts(params))
    ge = g_tensor(edges.electron.vectors, terms.M, terms.J)
    gh = g_tensor(edges.hole.vectors, terms.M, terms.J)
    t2 = time.perf_counter()
    stats = dict(edges.stats, assembly_s=t1 - t0)
    res = NcResult(
        n_cells=structure.n_cells, edge_nm=structure.edge_nm, n_states=terms.n_states,
        E_e=edges.electron.energy, E_h=edges.hole.energy,
        transition_energy=edges.electron.energy - edges.hole.energy,
        g_e=ge, g_h=gh, residual_e=edges.electron.residual, residual_h=edges.hole.residual,
        seconds=t2 - t0, stats=stats, shape_info=size_json(spec, structure),
    )
    return (res, terms, edges) if return_terms else res


def levels_near(H: sp.csr_array, energy: float, k: int, n_orb: int, *, seed: int = 7):
    """The ``k`` eigenpairs of H nearest ``energy`` (eV): dense for n ≤ 800, else ND shift-invert.

    Returns
    -------
    (ndarray of float64 (k,), ndarray of complex128 (n, k)), sorted by energy.
    """
    n = H.shape[0]
    if n <= 800:
        E, V = np.linalg.eigh(H.toarray())
        idx = np.argsort(np.abs(E - energy))[:k]
    else:
        perm = nd_ordering(H, n_orb)
        iperm = np.empty_like(perm)
        iperm[perm] = np.arange(n)
        A = (H - energy * sp.eye_array(n, format="csr")).tocsc()[perm][:, perm].tocsc()
        lu = spla.splu(A, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        op = spla.LinearOperator((n, n), matvec=lambda x: lu.solve(np.ascontiguousarray(x.reshape(-1)[perm]))[iperm],
                                 dtype=np.complex128)
        rng = np.random.default_rng(seed)
        mu, V = spla.eigsh(op, k=k, which="LM", v0=rng.standard_normal(n) + 0j, tol=1e-13)
        E = energy + 1.0 / mu
        idx = np.arange(k)
    o = idx[np.argsort(E[idx])]
    return E[o], V[:, o]


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

    def solve(Bvec):
        return levels_near(terms.hamiltonian(Bvec, exact=True), energy + shift, 2, terms.params.n_orb)

    return g_from_splitting(solve, terms.J, np.asarray(direction, dtype=float), B_T=B_T)
