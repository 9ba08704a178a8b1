r"""One assembler for the ETB model: sites and bonds of a :class:`~perovskite_tb.model.structure.Structure`
→ nanocrystal H(B) = H0 + Σ_γ B_γ M_γ (+ exact Peierls phases) or periodic-cell Bloch H(k).

Both paths take their blocks from :func:`bond_blocks` (on-site block per site class, a Slater–Koster block
per bond kind = species pair, shell and bond vector), so a further-neighbour shell is bonds in the
structure plus a :class:`~perovskite_tb.model.slater_koster.HoppingShell`; bulk and nanocrystal follow. The
second-neighbour shells of a parameter set (X–X at a/√2, Pb–Pb at a) are added by
:func:`with_parameter_shells` in both paths; a surface termination adds on-site terms
(:mod:`perovskite_tb.model.termination`).

Gauge and sign conventions
--------------------------
Stated once here (Graf & Vogl, PRB 51, 4940 (1995) for the Peierls substitution; Roth, Lax & Zwerdling,
Phys. Rev. 114, 90 (1959) for the linear term):

* Electron charge −e. Symmetric gauge A = ½ B × r with the origin at the NC centre (the origin of
  :class:`perovskite_tb.model.structure.Structure` positions). The straight-path Peierls substitution gives
  :math:`t_{ij}\to t_{ij}\exp[+i\frac{e}{2\hbar}\mathbf B\cdot(\mathbf R_i\times\mathbf R_j)]`.
* Spin Zeeman :math:`\mu_B g_0\,\mathbf S\cdot\mathbf B` (g0 = 2.0023193, CODATA) on every spin-orbital;
  optional intra-atomic orbital term :math:`\mu_B\mathbf L\cdot\mathbf B` on p and d shells
  (``orbital_zeeman``; off by default, as the model of Nestoklon et al., Nano Lett. 23, 8218 (2023)
  appears to be spin-only).
* Intra-atomic dipole matrix elements are neglected ("diagonal position" approximation).

Linear term: :math:`M_\gamma = \mu_B[g_0S_\gamma (+L_\gamma)] + \sum_{i\neq j}
i\frac{e}{2\hbar}(\mathbf R_i\times\mathbf R_j)_\gamma H_{ij}|i\rangle\langle j|` in eV/T.

Matrices are ``scipy.sparse.csr_array`` complex128 in the orbital order of :mod:`perovskite_tb.model.basis`
(every species carries the parameter set's basis: one n_orb for all sites), written directly as sorted
CSR by the threaded numba kernel :func:`perovskite_tb.model._kernels.csr_fill` (int32 indices while
nnz < 2³¹); the three M_γ share one index array.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from perovskite_tb.model import _kernels
from perovskite_tb.model._csr import PEIERLS_COEF, Neighbours, stack, tables
from perovskite_tb.model.basis import atom_J, atom_L, atom_S, onsite_block
from perovskite_tb.constants import G0, MU_B
from perovskite_tb.errors import InputError
from perovskite_tb.model.structure import Structure, with_shell
from perovskite_tb.model.materials import EtbParameters
from perovskite_tb.model.slater_koster import (AXIS_DIRECTIONS, HoppingShell, hopping_block, nearest_neighbour_shell,
                                               pair_block, second_neighbour_shells)
from perovskite_tb.model.termination import SurfaceTerm, TerminationSpec, surface_term

__all__ = ["HamiltonianTerms", "BondBlocks", "assemble", "bloch_matrix", "bond_blocks", "block_tables",
           "with_parameter_shells", "nnz_per_row", "NNZ_PER_ROW", "PEIERLS_COEF"]


def block_tables(params: EtbParameters) -> tuple[np.ndarray, np.ndarray]:
    """On-site blocks (2, n_orb, n_orb) [Pb, X] and Pb→X hopping blocks (6, n_orb, n_orb) along
    :data:`~perovskite_tb.model.slater_koster.AXIS_DIRECTIONS`, eV (for the slow twin and benchmarks)."""
    onsite = np.array([onsite_block(params, "Pb"), onsite_block(params, "X")])
    hop = np.array([hopping_block(params, d) for d in AXIS_DIRECTIONS])
    return onsite, hop


@dataclass(frozen=True, eq=False)
class BondBlocks:
    """The matrix blocks of a structure's sites and bonds.

    Attributes
    ----------
    onsite : ndarray of complex128, shape (n_classes, n_orb, n_orb)
        On-site block per site class (eV): the species' block plus the termination's addition.
    kind : ndarray of int64, shape (n_bonds,)
        Bond kind (species pair, shell, bond vector) of every bond.
    hop : ndarray of complex128, shape (n_kinds, n_orb, n_orb)
        Block ⟨site i|H|site j⟩ of each bond kind (eV); the reverse bond carries its conjugate transpose.
    surface : SurfaceTerm
        Site classes of the termination (:mod:`perovskite_tb.model.termination`; classes = species for pbx6).
    """

    onsite: np.ndarray
    kind: np.ndarray
    hop: np.ndarray
    surface: SurfaceTerm


def _shell_table(params: EtbParameters, shells) -> dict:
    table = {}
    for sh in (nearest_neighbour_shell(params), *shells):
        if not isinstance(sh, HoppingShell):
            raise InputError(f"hopping shells must be HoppingShell objects, got {type(sh).__name__}")
        key = (int(sh.shell), *sh.species)
        if key in table or (int(sh.shell), *sh.species[::-1]) in table:
            raise InputError(f"hopping shell {sh.shell} between {sh.species} is given twice")
        table[key] = sh
    return table


#: Stored entries per row of the NC Hamiltonian (memory estimates before assembly): ≈ 7.1–7.3 measured for the
#: nearest-neighbour sp3d5s* model (8–12 cells), plus ≈ 6.8 for a full X–X shell (ss, sp, pp) and ≈ 0.8 for a
#: Pb–Pb shell; rounded up.
NNZ_PER_ROW = {"nn": 7.5, "XX": 7.0, "PbPb": 1.0}


def nnz_per_row(params: EtbParameters) -> float:
    """Estimated stored entries per row of the NC Hamiltonian of ``params`` (:data:`NNZ_PER_ROW`)."""
    tags = {sh.species[0] + sh.species[1] for sh, _ in second_neighbour_shells(params)}
    return NNZ_PER_ROW["nn"] + sum(NNZ_PER_ROW[t] for t in tags)


def with_parameter_shells(structure: Structure, params: EtbParameters, shells=()) -> tuple[Structure, tuple]:
    """``structure`` with the bonds of the set's second-neighbour shells added (where not present yet), and
    ``shells`` extended by their integrals (:func:`perovskite_tb.model.slater_koster.second_neighbour_shells`).

    A set without second-neighbour integrals returns its arguments unchanged.
    """
    extra = second_neighbour_shells(params)
    if not extra:
        return structure, tuple(shells)
    present = set(structure.bonds.shell.tolist())
    for sh, dist in extra:
        if sh.shell not in present:
            structure = with_shell(structure, sh.shell, sh.species, dist)
    return structure, (*shells, *(sh for sh, _ in extra))


def bond_blocks(structure: Structure, params: EtbParameters, shells=(), *, termination=None) -> BondBlocks:
    """On-site and hopping blocks of ``structure`` (bond kinds deduplicated).

    Parameters
    ----------
    structure : Structure
    params : EtbParameters
        On-site energies and the nearest-neighbour (shell 1) Pb–X integrals.
    shells : sequence of HoppingShell, optional
        Integrals of further shells present in the bond list.
    termination : str or TerminationSpec, optional
        Surface termination (:mod:`perovskite_tb.model.termination`); None: pbx6 (nothing added).

    Raises
    ------
    InputError
        A bond's shell and species pair has no integrals, a shell is given twice, or a bad termination.
    """
    names = structure.species_names
    surf = surface_term(structure, params, termination)
    onsite = np.array([onsite_block(params, names[sp]) for sp in surf.class_species])
    if not surf.trivial:
        onsite = onsite + surf.extra
    table = _shell_table(params, shells)
    b = structure.bonds
    if len(b) == 0:
        return BondBlocks(onsite, np.zeros(0, dtype=np.int64), np.zeros((0,) + onsite.shape[1:], np.complex128),
                          surf)
    cols = [structure.species[b.i], structure.species[b.j], b.shell, np.round(b.vector / structure.a, 9)]
    scale = None
    if b.length0 is not None:  # displaced atoms: V(d) = V(d0)·(d0/d)^η (BondList.length0)
        scale = (b.length0 / np.linalg.norm(b.vector, axis=1)) ** params.hopping_exponent
        cols.append(np.round(b.length0 / structure.a, 9))
    key = np.column_stack(cols)
    _, first, kind = np.unique(key, axis=0, return_index=True, return_inverse=True)
    hop = []
    for q in first:
        si, sj = names[structure.species[b.i[q]]], names[structure.species[b.j[q]]]
        shell, v = int(b.shell[q]), b.vector[q]
        if (shell, si, sj) in table:
            blk = pair_block(params.basis, table[shell, si, sj].integrals, v)
        elif (shell, sj, si) in table:
            blk = pair_block(params.basis, table[shell, sj, si].integrals, -v).conj().T
        else:
            raise InputError(f"no hopping integrals for shell {shell} between {si} and {sj}")
        hop.append(blk if scale is None else blk * scale[q])
    return BondBlocks(onsite, kind.reshape(-1).astype(np.int64), np.array(hop), surf)


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
        Number of filled spin-orbitals (HOMO = n_fill − 1, LUMO = n_fill, 0-based): Pb 6s² + X s²p⁶ per atom,
        less the states a termination lifts above the gap (:attr:`SurfaceTerm.n_lifted`).
    structure : Structure
    params : EtbParameters
    orbital_zeeman : bool
    termination : TerminationSpec
    """

    H0: sp.csr_array
    M: tuple
    J: tuple
    n_fill: int
    structure: Structure
    params: EtbParameters
    orbital_zeeman: bool
    termination: TerminationSpec
    _nbr: Neighbours
    _blocks: BondBlocks
    _zeeman_atom: np.ndarray

    @property
    def n_states(self) -> int:
        """Matrix dimension n."""
        return int(self.H0.shape[0])

    @cached_property
    def M_stack(self):
        """The three M_γ as one pydata ``sparse.COO`` array of shape (3, n, n) (eV/T)."""
        import sparse  # optional dependency, only for this view

        return sparse.stack([sparse.COO.from_scipy_sparse(m) for m in self.M])

    @cached_property
    def _zeeman(self) -> tuple:
        """On-site Zeeman operators μB[g0 S_γ (+ L_γ)] (eV/T), block diagonal."""
        return _onsite_operator(self.structure, self._zeeman_atom)

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
        blocks = stack(self._blocks.onsite + Z[None], self._blocks.hop)[None]
        return self._nbr.build(tables(blocks), mode=_kernels.MODE_H, B=B)[0]

    @property
    def surface(self) -> SurfaceTerm:
        """Site classes and on-site additions of the termination."""
        return self._blocks.surface


def _onsite_operator(structure: Structure, atom_op: np.ndarray) -> tuple:
    """Block-diagonal CSR operators from a per-atom operator (3, n_orb, n_orb), the same on every species."""
    n_sp = len(structure.species_names)
    blocks = np.repeat(atom_op[:, None], n_sp, axis=1).astype(np.complex128)
    return tuple(Neighbours.of(structure, atom_op.shape[-1]).build(tables(blocks), mode=_kernels.MODE_M))


def assemble(structure: Structure, params: EtbParameters, *, orbital_zeeman: bool = False,
             shells=(), termination=None) -> HamiltonianTerms:
    """Assemble H0, M_γ and J_γ of a nanocrystal from its bond list with the threaded numba CSR kernel.

    Parameters
    ----------
    structure : Structure
        Finite structure (:mod:`perovskite_tb.model.shapes`); positions in nm about the gauge origin.
    params : EtbParameters
    orbital_zeeman : bool, optional
        Include μB L·B on-site (default False).
    shells : sequence of HoppingShell, optional
        Integrals of hopping shells beyond the nearest-neighbour Pb–X shell of ``params``; the set's own
        second-neighbour shells (:func:`with_parameter_shells`) are added to the bond list and to these.
    termination : str or TerminationSpec, optional
        Surface termination (:data:`perovskite_tb.model.termination.TERMINATIONS`); None: pbx6.

    Returns
    -------
    HamiltonianTerms

    Raises
    ------
    InputError
        Periodic structure, lattice constant different from the parameter set's, a bond without
        hopping integrals, or an unknown termination or termination parameter.
    """
    if structure.periodic:
        raise InputError("assemble needs a finite structure; use bloch_matrix for a periodic cell")
    if not np.isclose(structure.a, params.a, rtol=1e-12):
        raise InputError(f"structure lattice constant {structure.a} nm differs from parameter set a = {params.a} nm")
    spec = TerminationSpec.of(termination)
    structure, shells = with_parameter_shells(structure, params, shells)
    bb = bond_blocks(structure, params, shells, termination=spec)
    n_orb = params.n_orb
    surf = bb.surface
    nbr = Neighbours.of(structure, n_orb, bb.kind, surf.site_class, surf.n_classes)
    (H0,) = nbr.build(tables(stack(bb.onsite, bb.hop)[None]), mode=_kernels.MODE_H)
    zat = _zeeman_blocks(params, orbital_zeeman)
    mblocks = stack(np.repeat(zat[:, None], surf.n_classes, axis=1), np.broadcast_to(bb.hop, (3,) + bb.hop.shape))
    M = tuple(nbr.build(tables(mblocks), mode=_kernels.MODE_M))
    J = _onsite_operator(structure, atom_J(params.basis))
    n_fill = 2 * (structure.n_pb + 4 * structure.n_x) - surf.n_lifted
    return HamiltonianTerms(
        H0=H0, M=M, J=J, n_fill=n_fill, structure=structure, params=params, orbital_zeeman=orbital_zeeman,
        termination=spec, _nbr=nbr, _blocks=bb, _zeeman_atom=zat,
    )


def bloch_matrix(structure: Structure, params: EtbParameters, k, *, derivatives: bool = False, shells=()):
    r"""Bloch Hamiltonian H(k) of a periodic cell from its bond list, and optionally ∂H/∂k.

    :math:`H_{ij}(\mathbf k) = \delta_{ij}E_i + \sum_{b:(i,j)} T_b e^{i\mathbf k\cdot\mathbf d_b}
    + \sum_{b:(j,i)} T_b^\dagger e^{-i\mathbf k\cdot\mathbf d_b}` over the bonds b with vectors
    d_b (atomic-position convention, so ∂H/∂k is the velocity of the "diagonal position" model that
    matches the Peierls phases of the nanocrystal; Graf & Vogl, PRB 51, 4940 (1995)).

    Parameters
    ----------
    structure : Structure
        Periodic cell (``lattice`` set), e.g. :func:`perovskite_tb.model.structure.bulk_cell`.
    params : EtbParameters
    k : ndarray of float64, shape (3,)
        Wave vector (nm⁻¹).
    derivatives : bool, optional
        Also return ∂H/∂k_α (eV·nm), shape (3, n, n).
    shells : sequence of HoppingShell, optional
        As in :func:`assemble` (the set's second-neighbour shells are added the same way).

    Returns
    -------
    (ndarray of complex128 (n, n), ndarray (3, n, n) or None)
        n = n_sites · n_orb, site-major as in the nanocrystal.

    Raises
    ------
    InputError
        Finite structure, or a bond without hopping integrals.
    """
    if not structure.periodic:
        raise InputError("bloch_matrix needs a periodic cell (Structure.lattice)")
    k = np.asarray(k, dtype=float)
    structure, shells = with_parameter_shells(structure, params, shells)
    bb = bond_blocks(structure, params, shells)
    n = params.n_orb
    N = structure.n_sites * n
    H = np.zeros((N, N), dtype=np.complex128)
    dH = np.zeros((3, N, N), dtype=np.complex128) if derivatives else None
    for s, sp_ in enumerate(structure.species):
        H[s * n:(s + 1) * n, s * n:(s + 1) * n] = bb.onsite[sp_]
    b = structure.bonds
    for q in range(len(b)):
        si = slice(b.i[q] * n, (b.i[q] + 1) * n)
        sj = slice(b.j[q] * n, (b.j[q] + 1) * n)
        d = b.vector[q]
        T = bb.hop[bb.kind[q]]
        ph = np.exp(1j * (k @ d))
        blk = T * ph
        H[si, sj] += blk
        H[sj, si] += blk.conj().T
        if derivatives:
            for al in range(3):
                dblk = 1j * d[al] * T * ph
                dH[al, si, sj] += dblk
                dH[al, sj, si] += dblk.conj().T
    return H, dH
