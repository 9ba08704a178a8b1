r"""Sparse nanocrystal Hamiltonian H(B) = H0 + Σ_γ B_γ M_γ (+ exact Peierls phases).

Gauge and sign conventions (stated once here; physics brief §6.1–6.2)
--------------------------------------------------------------------
* Electron charge −e. Symmetric gauge A = ½ B × r with the origin at the NC centre (the origin of
  :class:`perovskite_tb.geometry.Structure` positions). The straight-path Peierls substitution gives
  :math:`t_{ij}\to t_{ij}\exp[+i\frac{e}{2\hbar}\mathbf B\cdot(\mathbf R_i\times\mathbf R_j)]`.
* Spin Zeeman :math:`\mu_B g_0\,\mathbf S\cdot\mathbf B` (g0 = 2.0023193, CODATA) on every spin-orbital;
  optional intra-atomic orbital term :math:`\mu_B\mathbf L\cdot\mathbf B` on p and d shells
  (``orbital_zeeman``; off by default, as the Nano Lett. 2023 model appears to be spin-only, brief §3.1).
* Intra-atomic dipole matrix elements are neglected ("diagonal position" approximation).

Linear term (brief §6.2): :math:`M_\gamma = \mu_B[g_0S_\gamma (+L_\gamma)] + \sum_{i\neq j}
i\frac{e}{2\hbar}(\mathbf R_i\times\mathbf R_j)_\gamma H_{ij}|i\rangle\langle j|` in eV/T.

Matrices are ``scipy.sparse.csr_array`` complex128 in the orbital order of :mod:`perovskite_tb.basis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from . import _kernels
from .basis import atom_J, atom_L, atom_S, onsite_block
from .constants import E_OVER_HBAR, G0, MU_B
from .errors import InputError
from .geometry import Structure
from .materials import EtbParameters
from .slater_koster import AXIS_DIRECTIONS, hopping_block

__all__ = ["HamiltonianTerms", "assemble", "block_tables"]

#: e/(2ħ) in 1/(T·nm²): the Peierls phase per unit B·(R_i × R_j).
PEIERLS_COEF = 0.5 * E_OVER_HBAR


def _flatten(blocks: np.ndarray, tol: float = 0.0):
    """Nonzero entries of a stack of blocks as CSR-like (ptr, r, c, v) arrays."""
    ptr = [0]
    rr, cc, vv = [], [], []
    for blk in blocks:
        r, c = np.nonzero(np.abs(blk) > tol)
        rr.append(r)
        cc.append(c)
        vv.append(blk[r, c])
        ptr.append(ptr[-1] + len(r))
    return (np.asarray(ptr, dtype=np.int64), np.concatenate(rr).astype(np.int64),
            np.concatenate(cc).astype(np.int64), np.concatenate(vv).astype(np.complex128))


def block_tables(params: EtbParameters) -> tuple[np.ndarray, np.ndarray]:
    """On-site blocks (2, n_orb, n_orb) [Pb, X] and Pb→X hopping blocks (6, n_orb, n_orb), eV."""
    onsite = np.array([onsite_block(params, "Pb"), onsite_block(params, "X")])
    hop = np.array([hopping_block(params, d) for d in AXIS_DIRECTIONS])
    return onsite, hop


@dataclass(frozen=True, eq=False)
class HamiltonianTerms:
    """Field-expanded nanocrystal Hamiltonian.

    Attributes
    ----------
    H0 : scipy.sparse.csr_array, complex128, shape (n, n)
        Zero-field Hamiltonian (eV).
    M : tuple of 3 scipy.sparse.csr_array, complex128, shape (n, n)
        ∂H/∂B_γ at B = 0 (eV/T), γ = x, y, z.
    J : tuple of 3 scipy.sparse.csr_array, complex128, shape (n, n)
        On-site total angular momentum L + S (units ħ), for the sign of g.
    n_fill : int
        Number of filled spin-orbitals (HOMO = n_fill − 1, LUMO = n_fill, 0-based; brief §3.4).
    structure : Structure
    params : EtbParameters
    orbital_zeeman : bool
    """

    H0: sp.csr_array
    M: tuple
    J: tuple
    n_fill: int
    structure: Structure
    params: EtbParameters
    orbital_zeeman: bool
    _hop_rows: np.ndarray
    _hop_cols: np.ndarray
    _hop_vals: np.ndarray
    _hop_cross: np.ndarray
    _onsite: sp.csr_array
    _zeeman: tuple

    @property
    def n_states(self) -> int:
        """Matrix dimension n."""
        return int(self.H0.shape[0])

    @cached_property
    def M_stack(self):
        """The three M_γ as one pydata ``sparse.COO`` array of shape (3, n, n) (eV/T)."""
        import sparse

        return sparse.stack([sparse.COO.from_scipy_sparse(m) for m in self.M])

    def hamiltonian(self, B, *, exact: bool = True) -> sp.csr_array:
        """H(B) in eV for a field vector ``B`` (T).

        Parameters
        ----------
        B : sequence of 3 float
            Magnetic field (T).
        exact : bool, optional
            If True (default) use the full Peierls phases; else the linearised H0 + B·M.

        Raises
        ------
        InputError
            If ``B`` is not 3 finite numbers.
        """
        B = np.asarray(B, dtype=float)
        if B.shape != (3,) or not np.all(np.isfinite(B)):
            raise InputError(f"field must be 3 finite values in T, got {B!r}")
        if not exact:
            return (self.H0 + B[0] * self.M[0] + B[1] * self.M[1] + B[2] * self.M[2]).tocsr()
        v = _kernels.peierls_values(self._hop_vals, self._hop_cross, PEIERLS_COEF, *B)
        n = self.n_states
        hop = sp.coo_array((v, (self._hop_rows, self._hop_cols)), shape=(n, n)).tocsr()
        Z = B[0] * self._zeeman[0] + B[1] * self._zeeman[1] + B[2] * self._zeeman[2]
        return (self._onsite + hop + Z).tocsr()


def _site_operator(structure: Structure, op_atom: np.ndarray) -> sp.csr_array:
    """Block-diagonal operator with the same (n_orb, n_orb) block on every atom."""
    return sp.csr_array(sp.kron(sp.eye_array(structure.n_sites, format="csr"), sp.csr_array(op_atom), format="csr"))


def assemble(structure: Structure, params: EtbParameters, *, orbital_zeeman: bool = False) -> HamiltonianTerms:
    """Assemble H0, M_γ and J_γ of a nanocrystal with the numba COO kernel.

    Parameters
    ----------
    structure : Structure
        From :func:`perovskite_tb.geometry.cuboid`; positions in nm.
    params : EtbParameters
    orbital_zeeman : bool, optional
        Include μB L·B on-site (default False).

    Returns
    -------
    HamiltonianTerms

    Raises
    ------
    InputError
        If the structure's lattice constant differs from the parameter set's.
    """
    if not np.isclose(structure.a, params.a, rtol=1e-12):
        raise InputError(f"structure lattice constant {structure.a} nm differs from parameter set a = {params.a} nm")
    onsite, hop = block_tables(params)
    n_orb = params.n_orb
    site_ptr, site_r, site_c, site_v = _flatten(onsite)
    blk_ptr, blk_r, blk_c, blk_v = _flatten(hop)
    nnz = _kernels.count_entries(structure.species, structure.bond_dir, site_ptr, blk_ptr)
    rows = np.empty(nnz, dtype=np.int64)
    cols = np.empty(nnz, dtype=np.int64)
    vals = np.empty(nnz, dtype=np.complex128)
    cross = np.empty((nnz, 3), dtype=np.float64)
    n_on = _kernels.fill_entries(
        structure.species, structure.bond_pb, structure.bond_x, structure.bond_dir,
        np.ascontiguousarray(structure.positions), n_orb,
        site_ptr, site_r, site_c, site_v, blk_ptr, blk_r, blk_c, blk_v, rows, cols, vals, cross,
    )
    n = structure.n_sites * n_orb
    H0 = sp.coo_array((vals, (rows, cols)), shape=(n, n)).tocsr()
    onsite_mat = sp.coo_array((vals[:n_on], (rows[:n_on], cols[:n_on])), shape=(n, n)).tocsr()
    hr, hc, hv, hx = rows[n_on:], cols[n_on:], vals[n_on:], cross[n_on:]
    S = atom_S(params.basis)
    L = atom_L(params.basis)
    zeeman = tuple(
        _site_operator(structure, MU_B * (G0 * S[g] + (L[g] if orbital_zeeman else 0.0))) for g in range(3)
    )
    M = tuple(
        (sp.coo_array((1j * PEIERLS_COEF * hx[:, g] * hv, (hr, hc)), shape=(n, n)).tocsr() + zeeman[g]).tocsr()
        for g in range(3)
    )
    Jat = atom_J(params.basis)
    J = tuple(_site_operator(structure, Jat[g]) for g in range(3))
    n_fill = 2 * (structure.n_pb + 4 * structure.n_x)
    return HamiltonianTerms(
        H0=H0, M=M, J=J, n_fill=n_fill, structure=structure, params=params,
        orbital_zeeman=orbital_zeeman, _hop_rows=hr, _hop_cols=hc, _hop_vals=hv, _hop_cross=hx,
        _onsite=onsite_mat, _zeeman=zeeman,
    )
