"""Symmetry blocks of nanocrystal Hamiltonians (used by :mod:`perovskite_tb.eigen.band_edges`).

The operations are detected from the structure (:func:`detect_operations`): which of inversion P and
the rotations C4 and C2 about x, y, z map every site onto a site of the same species. The largest
abelian set is used — C4z × P for cubes, spheres and spheroids with their unique axis along z, C4 about
x or y (× P) for spheroids along x or y, C2 × P for cuboids, P alone, or nothing. (In the double group
rotations about different axes do not commute, so one rotation axis at most.)

P, C4z and C2z act on the spin-orbital basis as *monomial* matrices (each basis state goes to a phase
times one other state); :func:`blocks_from_actions` builds the sparse isometries onto their joint
eigenspaces for any such basis — ETB spin-orbitals on atoms (:func:`symmetry_blocks`,
:func:`inversion_blocks`) or k·p envelope × Bloch functions (:func:`kp.solver.symmetry_actions`). A
rotation about x or y is handled in a frame rotated so that its axis is z (the blocks are then
multiplied by the frame rotation, which is block-diagonal per atom). Time reversal maps a rotation's
character λ to λ*, so only half of the rotation blocks are returned (weight 2).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.model.basis import rotation_d
from perovskite_tb.model.materials import BASES

__all__ = ["ParityBlock", "inversion_blocks", "symmetry_blocks", "blocks_from_actions", "detect_operations",
           "invariant_operations", "monomial_operator", "OPERATIONS"]

#: The candidate point operations about the origin: inversion and C4, C2 about x, y, z.
OPERATIONS = ("P", "C4x", "C4y", "C4z", "C2x", "C2y", "C2z")
_AXES = {"x": 0, "y": 1, "z": 2}


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
    real : bool
        The columns of Q span the block over the reals for an antiunitary symmetry A = Θ·C2 with
        A² = 1 (:mod:`perovskite_tb.eigen.real_blocks`): a Hamiltonian commuting with A restricts to a
        real symmetric matrix.
    """

    parity: int
    Q: sp.csr_array | None
    groups: np.ndarray
    weight: int = 1
    label: str = ""
    real: bool = False

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
    for names in BASES.values():
        if 2 * len(names) == n_orb:
            return np.repeat([(-1 if o.startswith("p") else 1) for o in names], 2).astype(np.int64)
    raise InputError(f"no orbital basis with {n_orb} spin-orbitals per atom")


def inversion_blocks(positions: np.ndarray, n_orb: int, *, tol: float = 1e-6) -> tuple[ParityBlock, ParityBlock]:
    """Even and odd inversion blocks of a structure symmetric under r → −r about the origin.

    Parameters
    ----------
    positions : ndarray of float64, shape (n_sites, 3)
        Atom positions (nm) relative to the inversion centre (as in
        :class:`~perovskite_tb.model.structure.Structure`).
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


def _rotation(axis: int, quarter_turns: int) -> np.ndarray:
    """Active rotation (3×3, exact integers) by quarter_turns × 90° about coordinate axis 0, 1 or 2."""
    c, sn = [(1, 0), (0, 1), (-1, 0), (0, -1)][quarter_turns % 4]
    i, j = (axis + 1) % 3, (axis + 2) % 3
    R = np.eye(3)
    R[i, i], R[j, j], R[j, i], R[i, j] = c, c, sn, -sn
    return R


def _op_matrix(op: str) -> np.ndarray:
    """Position matrix of an operation name of :data:`OPERATIONS`."""
    if op == "P":
        return -np.eye(3)
    if op not in OPERATIONS:
        raise InputError(f"unknown symmetry operation {op!r} (known: {', '.join(OPERATIONS)})")
    return _rotation(_AXES[op[2]], 1 if op[1] == "4" else 2)


def _atom_rotation(axis: int, quarter_turns: int, n_orb: int) -> np.ndarray:
    """Per-atom spin-orbital matrix (index 2·orbital + spin) of the active rotation by quarter_turns × 90°
    about ``axis``: orbitals by their real-orbital rotation matrices, spin by exp(−iθσ_axis/2)
    (double group)."""
    names = next(b for b in BASES.values() if 2 * len(b) == n_orb)
    R = _rotation(axis, quarter_turns)
    norb = len(names)
    D = np.zeros((norb, norb))
    D[0, 0] = 1.0
    D[1:4, 1:4] = R
    if norb == 10:
        D[4:9, 4:9] = rotation_d(R)
        D[9, 9] = 1.0
    sigma = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])][axis]
    th = 0.5 * np.pi * quarter_turns
    U = np.cos(th / 2) * np.eye(2) - 1j * np.sin(th / 2) * sigma
    return np.kron(D, U)


def _atom_operator(op: str, n_orb: int) -> np.ndarray:
    """Per-atom spin-orbital matrix of a point operation of :data:`OPERATIONS`, index 2·orbital + spin.

    ``"P"``: inversion (orbital parities, spin untouched). ``"C4a"`` / ``"C2a"``: active rotation by +π/2
    / π about axis a (C4⁴ = C2² = −1 on spin ½).
    """
    if op == "P":
        return np.diag(_orbital_parities(n_orb)).astype(np.complex128)
    _op_matrix(op)  # validates the name
    return _atom_rotation(_AXES[op[2]], 1 if op[1] == "4" else 2, n_orb)


#: The last few site maps (key: digest of positions, species, operation, tolerance): a solve asks for
#: the same maps several times (detection, blocks, real structure).
_SITE_MAPS: dict = {}


def _site_map(pos: np.ndarray, R: np.ndarray, tol: float,
              species: np.ndarray | None = None) -> np.ndarray | None:
    """Site index of R·r for every site, or None if some R·r is no site (of the same species)."""
    if pos.shape[0] == 0:
        return None
    h = hashlib.sha1(np.ascontiguousarray(pos).tobytes())
    h.update(np.ascontiguousarray(R).tobytes() + repr(tol).encode())
    if species is not None:
        h.update(np.ascontiguousarray(species).tobytes())
    key = h.hexdigest()
    if key not in _SITE_MAPS:
        dist, idx = cKDTree(pos).query(pos @ R.T)
        ok = dist.max() <= tol and (species is None or not np.any(species[idx] != species))
        if len(_SITE_MAPS) >= 32:
            _SITE_MAPS.pop(next(iter(_SITE_MAPS)))
        _SITE_MAPS[key] = idx.astype(np.int64) if ok else None
    return _SITE_MAPS[key]


def invariant_operations(positions: np.ndarray, species: np.ndarray | None = None, *,
                         tol: float = 1e-6) -> tuple[str, ...]:
    """The operations of :data:`OPERATIONS` (about the origin) that map every site onto a site of its species.

    Parameters
    ----------
    positions : ndarray of float64, shape (n_sites, 3)
        Atom positions (nm) about the symmetry centre.
    species : ndarray of int, shape (n_sites,), optional
        Species of every site (None: positions only).
    tol : float, optional
        Position matching tolerance (nm).
    """
    pos = np.asarray(positions, dtype=float)
    spc = None if species is None else np.asarray(species)
    return tuple(op for op in OPERATIONS if _site_map(pos, _op_matrix(op), tol, spc) is not None)


def monomial_operator(op: str, positions: np.ndarray, n_orb: int, species: np.ndarray | None = None,
                      tol: float = 1e-6) -> sp.csr_array:
    """Sparse matrix of a point operation on the spin-orbital basis of a structure (spin-minor).

    Parameters
    ----------
    op : str
        An operation of :data:`OPERATIONS` that leaves the structure invariant.
    positions, species, tol
        As :func:`invariant_operations`.
    n_orb : int
        Spin-orbitals per site.

    Returns
    -------
    scipy.sparse.csr_array of complex128, shape (n, n), n = n_sites · n_orb
        Unitary, one non-zero per column.

    Raises
    ------
    InputError
        Unknown operation, or the structure is not invariant under it.
    SolverError
        The operation is not monomial in the orbital basis.
    """
    pos = np.asarray(positions, dtype=float)
    A = _atom_operator(op, n_orb)
    smap = _site_map(pos, _op_matrix(op), tol, None if species is None else np.asarray(species))
    if smap is None:
        raise InputError(f"the structure is not invariant under {op}")
    tgt_o = np.argmax(np.abs(A), axis=0)
    ph_o = A[tgt_o, np.arange(n_orb)]
    if not np.allclose(np.abs(ph_o), 1.0) or np.count_nonzero(np.abs(A) > 1e-12) != n_orb:
        raise SolverError(f"operation {op} is not monomial in this orbital basis")
    n = pos.shape[0] * n_orb
    target = (smap[:, None] * n_orb + tgt_o[None, :]).ravel()
    return sp.csr_array((np.tile(ph_o, pos.shape[0]), (target, np.arange(n))), shape=(n, n))


def detect_operations(positions: np.ndarray, species: np.ndarray | None = None,
                      tol: float = 1e-6) -> tuple[str, ...]:
    """The largest abelian set of symmetry generators of a structure.

    Preference (largest group first; among equals z before x before y, inversion included where it can
    be): (C4a, P), (C2a, P), (C4a,), (P,), (C2a,), ().

    Parameters
    ----------
    positions, species, tol
        As :func:`invariant_operations`.

    Returns
    -------
    tuple of str
        E.g. ``("C4z", "P")`` for a cube or sphere, ``("C4x", "P")`` for a spheroid elongated along x,
        ``("C2z", "P")`` for a cuboid with three different edges.
    """
    found = set(invariant_operations(positions, species, tol=tol))
    axes = "zxy"
    choices = ([(f"C4{a}", "P") for a in axes] + [(f"C2{a}", "P") for a in axes] + [(f"C4{a}",) for a in axes]
               + [("P",)] + [(f"C2{a}",) for a in axes])
    return next((c for c in choices if set(c) <= found), ())


def _frame(rot: str | None, n_sites: int, n_orb: int):
    """(3×3 R0, sparse W†) of the frame rotation taking axis ``rot[2]`` to z (identity for z or None)."""
    if rot is None or rot[2] == "z":
        return np.eye(3), None
    axis, turns = (1, 3) if rot[2] == "x" else (0, 1)  # x → z: −90° about y; y → z: +90° about x
    A0 = _atom_rotation(axis, turns, n_orb)
    W = sp.kron(sp.eye_array(n_sites), sp.csr_array(A0.conj().T), format="csr")
    return _rotation(axis, turns), W


def symmetry_blocks(positions: np.ndarray, n_orb: int, *, ops=None, species: np.ndarray | None = None,
                    tol: float = 1e-6):
    """Symmetry-adapted blocks of the abelian group generated by ``ops`` (detected if None).

    Each block is the joint eigenspace of the generators for one character, spanned by the columns
    of a sparse isometry Q (projections of single spin-orbitals onto the character, normalised).
    Time reversal maps a rotation eigenvalue λ to λ*; only the blocks with λ ∈ {e^{−iπ/4}, e^{−3iπ/4}}
    (C4) or λ = −i (C2) are returned, each with ``weight = 2`` (its Kramers-partner block has the same
    spectrum), so that Σ weight·size = n. Given generators under which the structure is not invariant
    are dropped.

    Parameters
    ----------
    positions : ndarray (n_sites, 3)
        Atom positions (nm) about the symmetry centre.
    n_orb : int
        Spin-orbitals per atom.
    ops : sequence of str, optional
        Generators from :data:`OPERATIONS`, e.g. ``("C4z", "P")``; at most one rotation axis. Default:
        :func:`detect_operations`.
    species : ndarray of int (n_sites,), optional
        Species per site, so that only species-preserving operations are used.
    tol : float
        Position matching tolerance (nm).

    Returns
    -------
    tuple of ParityBlock
        ``parity`` is ±1 (0 without P); ``label`` gives the characters.

    Raises
    ------
    InputError
        Unknown operation, or rotations about two different axes.
    """
    pos = np.asarray(positions, dtype=float)
    spc = None if species is None else np.asarray(species)
    if ops is None:
        ops = detect_operations(pos, spc, tol)
    ops = [op for op in ops if _site_map(pos, _op_matrix(op), tol, spc) is not None]
    rots = [op for op in ops if op != "P"]
    if len({op[2] for op in rots}) > 1:
        raise InputError(f"rotations {', '.join(rots)} about different axes do not commute (double group)")
    if len(rots) > 1:  # C4a generates C2a
        ops = [op for op in ops if op == "P" or op == max(rots, key=lambda o: o[1] == "4")]
    rot = next((op for op in ops if op != "P"), None)
    n_sites = pos.shape[0]
    n = n_sites * n_orb
    if not ops:
        return (ParityBlock(0, None, np.arange(n, dtype=np.int64) // n_orb),)
    R0, W = _frame(rot, n_sites, n_orb)
    pos0 = pos @ R0.T  # rotation axis along z in this frame
    # Monomial action on states: g e_i = phase_i e_{target_i}.
    acts = []
    for op in ops:
        op0 = op if op == "P" else op[:2] + "z"
        U = sp.csc_array(monomial_operator(op0, pos0, n_orb, spc, tol))  # column i: phase_i at row target_i
        order = 4 if op0.startswith("C4") else 2
        acts.append((op0, U.indices.astype(np.int64), U.data.astype(np.complex128), order))
    blocks = blocks_from_actions(acts, np.arange(n, dtype=np.int64) // n_orb)
    if W is None:
        return blocks
    return tuple(ParityBlock(parity=b.parity, Q=sp.csr_array(W @ b.Q), groups=b.groups, weight=b.weight,
                             label=b.label.replace(rot[:2] + "z", rot)) for b in blocks)


def blocks_from_actions(acts, groups: np.ndarray):
    """Symmetry blocks of an abelian group given by monomial generators (one rotation and/or P).

    Parameters
    ----------
    acts : list of (name, target, phase, order)
        One entry per generator: ``name`` is ``"P"`` or a rotation ``"C4a"`` / ``"C2a"``; the generator
        maps basis state i to ``phase[i]`` × state ``target[i]`` (``target`` int64 (n,), ``phase``
        complex128 (n,)); ``order`` is 4 for C4 (U⁴ = −1 on spin-½ states), 2 for C2 (U² = −1) and P.
    groups : ndarray of int64, shape (n,)
        Group (atom, envelope function) of every state; block ``groups`` are those of the orbit
        representatives (used for the nested-dissection ordering).

    Returns
    -------
    tuple of ParityBlock
        As :func:`symmetry_blocks`: for C4 only the characters e^{−iπ/4}, e^{−3iπ/4}, for C2 only −i
        (weight 2, their time-reversed partners have the same spectrum).
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
    # Characters: C4 eigenvalue λ with λ⁴ = −1 (keep e^{−iπ/4}, e^{−3iπ/4}); C2: λ² = −1 (keep −i); P: ±1.
    chars_of = {"C4": [np.exp(-1j * np.pi / 4), np.exp(-3j * np.pi / 4)], "C2": [-1j], "P": [1.0, -1.0]}
    char_sets = [chars_of[op[:2]] for op, *_ in acts]
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
        rotation = False
        for (op, *_), c in zip(acts, chars):
            if op == "P":
                par = int(np.real(c))
            else:
                rotation = True
        blk = ParityBlock(parity=par, Q=sp.csr_array(W), groups=site_rep[keep], weight=2 if rotation else 1,
                          label=",".join(f"{op}={np.round(c, 3)}" for (op, *_), c in zip(acts, chars)))
        blocks.append(blk)
    return tuple(blocks)
