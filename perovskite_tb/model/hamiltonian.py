r"""Sparse nanocrystal Hamiltonian H(B) = H0 + Σ_γ B_γ M_γ (+ exact Peierls phases).

Gauge and sign conventions (stated once here; physics brief §6.1–6.2)
--------------------------------------------------------------------
* Electron charge −e. Symmetric gauge A = ½ B × r with the origin at the NC centre (the origin of
  :class:`perovskite_tb.model.geometry.Structure` positions). The straight-path Peierls substitution gives
  :math:`t_{ij}\to t_{ij}\exp[+i\frac{e}{2\hbar}\mathbf B\cdot(\mathbf R_i\times\mathbf R_j)]`.
* Spin Zeeman :math:`\mu_B g_0\,\mathbf S\cdot\mathbf B` (g0 = 2.0023193, CODATA) on every spin-orbital;
  optional intra-atomic orbital term :math:`\mu_B\mathbf L\cdot\mathbf B` on p and d shells
  (``orbital_zeeman``; off by default, as the Nano Lett. 2023 model appears to be spin-only, brief §3.1).
* Intra-atomic dipole matrix elements are neglected ("diagonal position" approximation).

Linear term (brief §6.2): :math:`M_\gamma = \mu_B[g_0S_\gamma (+L_\gamma)] + \sum_{i\neq j}
i\frac{e}{2\hbar}(\mathbf R_i\times\mathbf R_j)_\gamma H_{ij}|i\rangle\langle j|` in eV/T.

Matrices are ``scipy.sparse.csr_array`` complex128 in the orbital order of :mod:`perovskite_tb.model.basis`,
written directly as sorted CSR by the threaded numba kernel :func:`perovskite_tb.model._kernels.csr_fill`
(int32 indices while nnz < 2³¹); the three M_γ share one index array.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from perovskite_tb.model import _kernels
from perovskite_tb.model.basis import atom_J, atom_L, atom_S, onsite_block
from perovskite_tb.constants import E_OVER_HBAR, G0, MU_B
from perovskite_tb.errors import InputError
from perovskite_tb.model.geometry import Structure
from perovskite_tb.model.materials import EtbParameters
from perovskite_tb.model.slater_koster import AXIS_DIRECTIONS, hopping_block

__all__ = ["HamiltonianTerms", "assemble", "block_tables"]

#: e/(2ħ) in 1/(T·nm²): the Peierls phase per unit B·(R_i × R_j).
PEIERLS_COEF = 0.5 * E_OVER_HBAR


def block_tables(params: EtbParameters) -> tuple[np.ndarray, np.ndarray]:
    """On-site blocks (2, n_orb, n_orb) [Pb, X] and Pb→X hopping blocks (6, n_orb, n_orb), eV."""
    onsite = np.array([onsite_block(params, "Pb"), onsite_block(params, "X")])
    hop = np.array([hopping_block(params, d) for d in AXIS_DIRECTIONS])
    return onsite, hop


#: Block-table slots: on-site Pb, on-site X, Pb→X hopping along direction d (2 + d), X→Pb (8 + d).
_T_ONSITE = 0
_T_HOP = 2
_T_HOP_H = 8
_N_TAB = 14


def _tables(blocks: np.ndarray):
    """Padded per-row CSR tables of a stack of blocks (n_comp, n_tab, n_orb, n_orb); pattern = union over comps."""
    n_comp, n_tab, n_orb, _ = blocks.shape
    mask = np.any(np.abs(blocks) > 0.0, axis=0)  # (n_tab, n_orb, n_orb)
    counts = mask.sum(axis=2)  # (n_tab, n_orb)
    ptr = np.zeros((n_tab, n_orb + 1), dtype=np.int64)
    ptr[:, 1:] = np.cumsum(counts, axis=1)
    w = max(int(ptr[:, -1].max()), 1)
    col = np.zeros((n_tab, w), dtype=np.int64)
    val = np.zeros((n_comp, n_tab, w), dtype=np.complex128)
    for t in range(n_tab):
        r, c = np.nonzero(mask[t])  # row-major: rows ascending, columns ascending within a row
        col[t, : r.size] = c
        val[:, t, : r.size] = blocks[:, t, r, c]
    return ptr, col, val


@dataclass(frozen=True)
class _Neighbours:
    """Per-site neighbour lists (ascending site index, itself included) with their block-table slot."""

    ptr: np.ndarray
    site: np.ndarray
    tab: np.ndarray
    hop: np.ndarray
    positions: np.ndarray
    n_orb: int

    @classmethod
    def of(cls, structure: Structure, n_orb: int, *, onsite_only: bool = False) -> "_Neighbours":
        n = structure.n_sites
        s = np.arange(n, dtype=np.int64)
        rows = [s]
        cols = [s]
        tabs = [np.where(structure.species == 0, _T_ONSITE, _T_ONSITE + 1).astype(np.int64)]
        if not onsite_only:
            rows += [structure.bond_pb, structure.bond_x]
            cols += [structure.bond_x, structure.bond_pb]
            tabs += [_T_HOP + structure.bond_dir, _T_HOP_H + structure.bond_dir]
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        t = np.concatenate(tabs)
        o = np.lexsort((c, r))
        r, c, t = r[o], c[o], t[o]
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=ptr[1:])
        return cls(ptr=ptr, site=np.ascontiguousarray(c), tab=np.ascontiguousarray(t),
                   hop=(t >= _T_HOP).astype(np.int64), positions=np.ascontiguousarray(structure.positions, dtype=float),
                   n_orb=n_orb)

    def build(self, tables, *, mode: int = _kernels.MODE_H, B=(0.0, 0.0, 0.0)) -> list:
        """CSR matrices (one per table component) sharing indptr/indices."""
        ptr, col, val = tables
        n = (self.ptr.shape[0] - 1) * self.n_orb
        counts = np.empty(n, dtype=np.int64)
        _kernels.csr_row_counts(self.ptr, self.tab, ptr, self.n_orb, counts)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        idx_t = np.int32 if nnz < 2**31 - 1 and n < 2**31 - 1 else np.int64
        indices = np.empty(nnz, dtype=idx_t)
        data = np.empty((val.shape[0], nnz), dtype=np.complex128)
        _kernels.csr_fill(self.ptr, self.site, self.tab, self.hop, self.positions, self.n_orb, ptr, col, val,
                          indptr, indices, data, mode, np.asarray(B, dtype=float), PEIERLS_COEF)
        indptr = indptr.astype(idx_t)
        out = []
        for g in range(val.shape[0]):
            m = sp.csr_array((n, n), dtype=np.complex128)
            m.data, m.indices, m.indptr = data[g], indices, indptr  # no validation/copy; sorted by construction
            m.has_sorted_indices = True
            out.append(m)
        return out


def _zeeman_blocks(params: EtbParameters, orbital_zeeman: bool) -> np.ndarray:
    """μB[g0 S_γ (+ L_γ)] per atom, shape (3, n_orb, n_orb), eV/T."""
    S = atom_S(params.basis)
    L = atom_L(params.basis)
    return np.array([MU_B * (G0 * S[g] + (L[g] if orbital_zeeman else 0.0)) for g in range(3)])


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
    _nbr: _Neighbours
    _onsite_blocks: np.ndarray
    _hop_blocks: np.ndarray
    _zeeman_atom: np.ndarray

    @property
    def n_states(self) -> int:
        """Matrix dimension n."""
        return int(self.H0.shape[0])

    @cached_property
    def M_stack(self):
        """The three M_γ as one pydata ``sparse.COO`` array of shape (3, n, n) (eV/T)."""
        import sparse

        return sparse.stack([sparse.COO.from_scipy_sparse(m) for m in self.M])

    @cached_property
    def _zeeman(self) -> tuple:
        """On-site Zeeman operators μB[g0 S_γ (+ L_γ)] (eV/T), block diagonal."""
        nb = _Neighbours.of(self.structure, self.params.n_orb, onsite_only=True)
        blocks = np.zeros((3, _N_TAB) + self._zeeman_atom.shape[1:], dtype=np.complex128)
        blocks[:, _T_ONSITE] = self._zeeman_atom
        blocks[:, _T_ONSITE + 1] = self._zeeman_atom
        return tuple(nb.build(_tables(blocks), mode=_kernels.MODE_M))

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
        Z = np.einsum("g,gij->ij", B, self._zeeman_atom)
        blocks = np.concatenate([self._onsite_blocks + Z[None], self._hop_blocks,
                                 np.conj(np.swapaxes(self._hop_blocks, 1, 2))])[None]
        return self._nbr.build(_tables(blocks), mode=_kernels.MODE_H, B=B)[0]


def assemble(structure: Structure, params: EtbParameters, *, orbital_zeeman: bool = False) -> HamiltonianTerms:
    """Assemble H0, M_γ and J_γ of a nanocrystal with the threaded numba CSR kernel.

    Parameters
    ----------
    structure : Structure
        From :func:`perovskite_tb.model.geometry.cuboid`; positions in nm.
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
    nbr = _Neighbours.of(structure, n_orb)
    hop_h = np.conj(np.swapaxes(hop, 1, 2))
    (H0,) = nbr.build(_tables(np.concatenate([onsite, hop, hop_h])[None]), mode=_kernels.MODE_H)
    zat = _zeeman_blocks(params, orbital_zeeman)
    mblocks = np.empty((3, _N_TAB, n_orb, n_orb), dtype=np.complex128)
    mblocks[:, _T_ONSITE] = zat
    mblocks[:, _T_ONSITE + 1] = zat
    mblocks[:, _T_HOP:_T_HOP_H] = hop[None]
    mblocks[:, _T_HOP_H:] = hop_h[None]
    M = tuple(nbr.build(_tables(mblocks), mode=_kernels.MODE_M))
    jb = np.zeros((3, _N_TAB, n_orb, n_orb), dtype=np.complex128)
    Jat = atom_J(params.basis)
    jb[:, _T_ONSITE] = Jat
    jb[:, _T_ONSITE + 1] = Jat
    J = tuple(_Neighbours.of(structure, n_orb, onsite_only=True).build(_tables(jb), mode=_kernels.MODE_M))
    n_fill = 2 * (structure.n_pb + 4 * structure.n_x)
    return HamiltonianTerms(
        H0=H0, M=M, J=J, n_fill=n_fill, structure=structure, params=params, orbital_zeeman=orbital_zeeman,
        _nbr=nbr, _onsite_blocks=onsite, _hop_blocks=hop, _zeeman_atom=zat,
    )
