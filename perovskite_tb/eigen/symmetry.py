"""Symmetry blocks of nanocrystal Hamiltonians (split out of :mod:`perovskite_tb.eigen.solver`, which
re-exports everything here).

Inversion P and the rotation C4z act on a cuboid's basis as *monomial* matrices (each basis state goes
to a phase times one other state); :func:`blocks_from_actions` builds the sparse isometries onto their
joint eigenspaces for any such basis — ETB spin-orbitals on atoms (:func:`symmetry_blocks`,
:func:`inversion_blocks`) or k·p envelope × Bloch functions (:func:`kp.solver.symmetry_actions`).
Time reversal maps the C4z character λ to λ*, so only half of the C4z blocks are returned (weight 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from perovskite_tb.errors import InputError, SolverError

__all__ = ["ParityBlock", "inversion_blocks", "symmetry_blocks", "blocks_from_actions"]


@dataclass(frozen=True, eq=False)
class ParityBlock:
    """One symmetry block: columns of a real isometry Q (n × m) spanning an invariant subspace.

    Attributes
    ----------
    parity : int
        +1 or −1 (0: the whole space, no symmetry used).
    Q : scipy.sparse.csr_array or None
        Real isometry, :math:`Q^TQ = 1`; None means the identity.
    groups : ndarray of int64, shape (m,)
        Group (site orbit) of every block index; groups are the vertices of the ordering graph.
    weight : int
        How many blocks with this spectrum exist (2 when the Kramers-partner block is not solved).
    label : str
        Characters of the block (diagnostic).
    """

    parity: int
    Q: sp.csr_array | None
    groups: np.ndarray
    weight: int = 1
    label: str = ""

    @property
    def size(self) -> int:
        """Block dimension m."""
        return int(self.groups.shape[0])

    def restrict(self, H: sp.csr_array) -> sp.csr_array:
        """:math:`Q^T H Q` as CSR (H itself for the identity block)."""
        if self.Q is None:
            return sp.csr_array(H)
        return sp.csr_array(self.Q.conj().T @ (H @ self.Q)).tocsr()

    def lift(self, V: np.ndarray) -> np.ndarray:
        """Block coordinates → full coordinates (Q V)."""
        return V if self.Q is None else self.Q @ V


def _orbital_parities(n_orb: int) -> np.ndarray:
    """Inversion parity (±1) of each spin-orbital of one atom: s, d, s* even, p odd."""
    from perovskite_tb.model.materials import BASES

    for names in BASES.values():
        if 2 * len(names) == n_orb:
            return np.repeat([(-1 if o.startswith("p") else 1) for o in names], 2).astype(np.int64)
    raise InputError(f"no orbital basis with {n_orb} spin-orbitals per atom")


def inversion_blocks(positions: np.ndarray, n_orb: int, *, tol: float = 1e-6) -> tuple[ParityBlock, ParityBlock]:
    """Even and odd inversion blocks of a structure symmetric under r → −r about the origin.

    Parameters
    ----------
    positions : ndarray of float64, shape (n_sites, 3)
        Atom positions (nm) relative to the inversion centre (as in :class:`~perovskite_tb.model.geometry.Structure`).
    n_orb : int
        Spin-orbitals per atom (8: sp3, 20: sp3d5s*), orbital-major, spin-minor.
    tol : float, optional
        Matching tolerance for −r (nm).

    Returns
    -------
    (ParityBlock, ParityBlock)
        Parity +1 and −1. Block index order: site pairs (s < P(s)) × spin-orbitals, then the
        orbitals of the fixed site (if any) with that parity, so spin stays the fastest index.

    Raises
    ------
    InputError
        If some atom has no partner at −r (the structure is not inversion-symmetric).
    """
    from scipy.spatial import cKDTree

    pos = np.asarray(positions, dtype=float)
    dist, partner = cKDTree(pos).query(-pos)
    if pos.shape[0] == 0 or dist.max() > tol:
        raise InputError("structure is not inversion-symmetric about the origin")
    orbpar = _orbital_parities(n_orb)
    n_sites = pos.shape[0]
    s = np.arange(n_sites)
    pair = s[s < partner]
    fixed = s[s == partner]
    o = np.arange(n_orb)
    npair = pair.size
    out = []
    for par in (+1, -1):
        col = np.arange(npair * n_orb).reshape(npair, n_orb)
        r1 = pair[:, None] * n_orb + o[None, :]
        r2 = partner[pair][:, None] * n_orb + o[None, :]
        v2 = np.broadcast_to(par * orbpar[None, :] / np.sqrt(2.0), r2.shape)
        rows = [r1.ravel(), r2.ravel()]
        cols = [col.ravel(), col.ravel()]
        vals = [np.full(r1.size, 1.0 / np.sqrt(2.0)), v2.ravel()]
        groups = [np.repeat(np.arange(npair, dtype=np.int64), n_orb)]
        m = npair * n_orb
        keep = np.nonzero(orbpar == par)[0]
        for gi, f in enumerate(fixed):
            rows.append(f * n_orb + keep)
            cols.append(m + np.arange(keep.size))
            vals.append(np.ones(keep.size))
            groups.append(np.full(keep.size, npair + gi, dtype=np.int64))
            m += keep.size
        Q = sp.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_sites * n_orb, m))
        out.append(ParityBlock(parity=par, Q=Q, groups=np.concatenate(groups)))
    return out[0], out[1]


def _atom_operator(op: str, n_orb: int) -> np.ndarray:
    """Per-atom spin-orbital matrix of a point operation, index 2·orbital + spin.

    ``"P"``: inversion (orbital parities, spin untouched). ``"C4z"``: active rotation by +π/2 about z,
    orbitals by their real-orbital rotation matrices and spin by exp(−iπσ_z/4) (double group,
    C4z⁴ = −1).
    """
    from perovskite_tb.model.basis import rotation_d
    from perovskite_tb.model.materials import BASES

    names = next(b for b in BASES.values() if 2 * len(b) == n_orb)
    if op == "P":
        return np.diag(_orbital_parities(n_orb)).astype(np.complex128)
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    norb = len(names)
    D = np.zeros((norb, norb))
    D[0, 0] = 1.0
    D[1:4, 1:4] = R
    if norb == 10:
        D[4:9, 4:9] = rotation_d(R)
        D[9, 9] = 1.0
    U = np.diag(np.exp(-1j * np.pi / 4 * np.array([1.0, -1.0])))
    return np.kron(D, U)


def _site_map(pos: np.ndarray, R: np.ndarray, tol: float) -> np.ndarray | None:
    from scipy.spatial import cKDTree

    dist, idx = cKDTree(pos).query(pos @ R.T)
    return None if dist.max() > tol else idx.astype(np.int64)


def symmetry_blocks(positions: np.ndarray, n_orb: int, *, ops=("C4z", "P"), tol: float = 1e-6):
    """Symmetry-adapted blocks of the abelian group generated by ``ops`` (C4z and/or inversion P).

    Each block is the joint eigenspace of the generators for one character, spanned by the columns
    of a sparse isometry Q (projections of single spin-orbitals onto the character, normalised).
    Time reversal maps the C4z eigenvalue λ to λ*; only the blocks with λ ∈ {e^{−iπ/4}, e^{−3iπ/4}}
    are returned, each with ``weight = 2`` (its Kramers-partner block has the same spectrum), so
    that Σ weight·size = n. Generators under which the structure is not invariant are dropped.

    Parameters
    ----------
    positions : ndarray (n_sites, 3)
        Atom positions (nm) about the symmetry centre.
    n_orb : int
        Spin-orbitals per atom.
    ops : sequence of {"C4z", "P"}
    tol : float
        Position matching tolerance (nm).

    Returns
    -------
    tuple of ParityBlock
        ``parity`` is ±1 (0 without P); ``label`` gives the characters.
    """
    pos = np.asarray(positions, dtype=float)
    mats = {"C4z": np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), "P": -np.eye(3)}
    gens = []
    for op in ops:
        smap = _site_map(pos, mats[op], tol)
        if smap is not None:
            gens.append((op, smap, _atom_operator(op, n_orb)))
    n_sites = pos.shape[0]
    n = n_sites * n_orb
    if not gens:
        return (ParityBlock(0, None, np.arange(n, dtype=np.int64) // n_orb),)
    # Monomial action on states: g e_i = phase_i e_{target_i}.
    acts = []
    for op, smap, A in gens:
        tgt_o = np.argmax(np.abs(A), axis=0)
        ph_o = A[tgt_o, np.arange(n_orb)]
        if not np.allclose(np.abs(ph_o), 1.0) or np.count_nonzero(np.abs(A) > 1e-12) != n_orb:
            raise SolverError(f"operation {op} is not monomial in this orbital basis")
        target = (smap[:, None] * n_orb + tgt_o[None, :]).ravel()
        phase = np.tile(ph_o, n_sites)
        acts.append((op, target, phase, 4 if op == "C4z" else 2))
    return blocks_from_actions(acts, np.arange(n, dtype=np.int64) // n_orb)


def blocks_from_actions(acts, groups: np.ndarray):
    """Symmetry blocks of an abelian group given by monomial generators (C4z and/or P).

    Parameters
    ----------
    acts : list of (name, target, phase, order)
        One entry per generator: ``name`` is ``"C4z"`` or ``"P"``; the generator maps basis state i
        to ``phase[i]`` × state ``target[i]`` (``target`` int64 (n,), ``phase`` complex128 (n,));
        ``order`` is 4 for C4z (U⁴ = −1 on spin-½ states) and 2 for P.
    groups : ndarray of int64, shape (n,)
        Group (atom, envelope function) of every state; block ``groups`` are those of the orbit
        representatives (used for the nested-dissection ordering).

    Returns
    -------
    tuple of ParityBlock
        As :func:`symmetry_blocks`: for C4z only the characters e^{−iπ/4}, e^{−3iπ/4} (weight 2, their
        time-reversed partners have the same spectrum).
    """
    n = groups.shape[0]
    # All group elements as (power tuple, target, phase) by composing generator powers.
    elems = [((), np.arange(n, dtype=np.int64), np.ones(n, dtype=np.complex128))]
    for op, target, phase, order in acts:
        new = []
        for powers, t, ph in elems:
            tt, pp = t, ph
            for a in range(order):
                new.append((powers + (a,), tt, pp))
                pp = pp * phase[tt]
                tt = target[tt]
        elems = new
    # Orbit representative of every state: smallest index reached by any element.
    rep = np.min(np.stack([t for _, t, _ in elems]), axis=0)
    is_rep = np.nonzero(rep == np.arange(n))[0]
    site_rep = np.min(np.stack([groups[t] for _, t, _ in elems]), axis=0)[is_rep]
    # Characters: C4z eigenvalue λ with λ⁴ = −1 (keep λ = e^{−iπ/4}, e^{−3iπ/4}); P eigenvalue ±1.
    char_sets = []
    for op, *_ in acts:
        char_sets.append([np.exp(-1j * np.pi / 4), np.exp(-3j * np.pi / 4)] if op == "C4z" else [1.0, -1.0])
    import itertools

    blocks = []
    for chars in itertools.product(*char_sets):
        rows, cols, vals = [], [], []
        for powers, t, ph in elems:
            coef = np.prod([np.conj(c) ** a for c, a in zip(chars, powers)])
            rows.append(t[is_rep])
            cols.append(np.arange(is_rep.size))
            vals.append(coef * ph[is_rep])
        W = sp.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, is_rep.size))
        W.sum_duplicates()
        norms = np.sqrt(np.asarray(abs(W).power(2).sum(axis=0)).ravel())
        keep = np.nonzero(norms > 1e-8)[0]
        W = W[:, keep] @ sp.diags_array(1.0 / norms[keep])
        par = 0
        c4 = False
        for (op, *_), c in zip(acts, chars):
            if op == "P":
                par = int(np.real(c))
            else:
                c4 = True
        blk = ParityBlock(parity=par, Q=sp.csr_array(W), groups=site_rep[keep], weight=2 if c4 else 1,
                          label=",".join(f"{op}={np.round(c, 3)}" for (op, *_), c in zip(acts, chars)))
        blocks.append(blk)
    return tuple(blocks)
