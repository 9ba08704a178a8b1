r"""Level spectra: the lowest K electron and highest K hole levels, grouped into degenerate multiplets.

A solve (:func:`perovskite_tb.eigen.band_edges.band_edges` with ``levels=K``) finds, in every
symmetry block, the levels next to the electron shift σ_e (above) and the hole shift σ_h (below).
This module groups them into multiplets and states what was proved about them.

Multiplets
    Levels closer than :data:`MULTIPLET_TOL_EV` (1 µeV) to the first level of a group are one
    multiplet. A level of a weight-2 block stands for itself and its Kramers partner Θψ (the block
    of Θψ is not solved), so it contributes two states; a weight-1 block holds both partners. The
    multiplet's basis is the lifted block vectors plus their Θ partners, orthonormalised (in the S
    inner product of a non-orthogonal basis) and diagonalised in that span (Rayleigh–Ritz).
    Degeneracies across blocks are those of the point group, e.g. a cube's Γ8-like quartets (the
    double-group irreducible representations of O_h have dimension 2 or 4: Koster, Dimmock, Wheeler &
    Statz, *Properties of the Thirty-Two Point Groups* (MIT Press, 1963)).
K counts Kramers doublets
    K = 1 is the band edge; the multiplets are taken in energy order until they hold at least 2K
    states (a quartet counts as two doublets, and a multiplet is never cut).
Inertia proof (no level skipped)
    In each block the back-end places a further shift σ_b between its last two distinct levels found
    on each side and counts the eigenvalues between the gap shift and σ_b with an LDLᵀ (Sylvester's
    law of inertia); that count must equal the number of levels the eigensolver returned there.
    Then every level of the block below σ_b (electrons) was found. The multiplets reported lie
    below min_b σ_b: the lowest 2K states of the whole NC are then proved complete, since a block
    with fewer than its share of the lowest levels cannot hide one below its own σ_b. Back-ends without
    inertia (PRIMME) give an unproved spectrum (``Spectrum.proven`` False).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from perovskite_tb.eigen.doublets import Doublet, make_doublet, rayleigh_ritz, time_reverse
from perovskite_tb.errors import SolverError

__all__ = ["Multiplet", "Spectrum", "MULTIPLET_TOL_EV", "group_levels", "multiplet_from_doublet"]

#: Levels closer than this (eV) to the first level of a group form one multiplet. ARPACK resolves the
#: levels to ≈ 1e-12 eV; symmetry-split levels of the NCs of this package lie ≥ 1e-5 eV apart.
MULTIPLET_TOL_EV = 1e-6


@dataclass(frozen=True)
class Multiplet:
    """One degenerate level of a nanocrystal (a Kramers doublet, a quartet, …).

    Attributes
    ----------
    energy : float
        Mean of the Ritz values (eV, bulk energy scale of the set).
    degeneracy : int
        Number of states (2 for a Kramers doublet, 4 for a quartet).
    vectors : ndarray of complex128, shape (n_states, degeneracy)
        Orthonormal basis (V†SV = 1 with the overlap S of a non-orthogonal basis), eigenvectors of V†H₀V.
    blocks : tuple of str
        Labels of the symmetry blocks its levels came from (e.g. ``"C4z:-1/2,P:+1"``).
    residual : float
        max ‖H₀v − ESv‖ over the basis vectors (eV).
    spread : float
        max − min of the Ritz values (eV): 0 up to round-off for a symmetry degeneracy.
    """

    energy: float
    degeneracy: int
    vectors: np.ndarray
    blocks: tuple
    residual: float
    spread: float

    def as_doublet(self) -> Doublet:
        """The multiplet as a :class:`~perovskite_tb.eigen.doublets.Doublet` (degeneracy 2 only).

        Raises
        ------
        SolverError
            If the degeneracy is not 2.
        """
        if self.degeneracy != 2:
            raise SolverError(f"a {self.degeneracy}-fold level at {self.energy:.6f} eV is not a doublet")
        return Doublet(energy=self.energy, vectors=self.vectors, residual=self.residual, splitting=self.spread)


@dataclass(frozen=True)
class Spectrum:
    """Electron and hole multiplets of one solve.

    Attributes
    ----------
    electron : tuple of Multiplet
        Levels above the gap, ascending in energy; the first is the band-edge (LUMO) level.
    hole : tuple of Multiplet
        Levels below the gap, descending; the first is the band-edge (HOMO) level.
    n_doublets : int
        K requested: each side holds the multiplets of the lowest ≥ 2K states.
    tolerance_eV : float
        Grouping tolerance (:data:`MULTIPLET_TOL_EV`).
    proven : bool
        True if the inertia proof of the module docstring held in every block (for K = 1 the band
        edges are proved by the gap count and the isolation check of
        :func:`perovskite_tb.eigen.band_edges.band_edges` alone).
    proof : dict
        ``cut_e_eV`` / ``cut_h_eV``: energies below / above which every state was proved found;
        ``states_e`` / ``states_h``: states the inertia counted between the gap shifts and the cuts
        (weighted by Kramers block weight), ``reported_e`` / ``reported_h``: states in the multiplets.
    """

    electron: tuple
    hole: tuple
    n_doublets: int
    tolerance_eV: float = MULTIPLET_TOL_EV
    proven: bool = False
    proof: dict = field(default_factory=dict)

    def carrier(self, name: str) -> tuple:
        """``"e"`` / ``"electron"`` → :attr:`electron`, ``"h"`` / ``"hole"`` → :attr:`hole`."""
        if name in ("e", "electron"):
            return self.electron
        if name in ("h", "hole"):
            return self.hole
        raise KeyError(f"carrier must be 'e' or 'h', got {name!r}")


def multiplet_from_doublet(d: Doublet, label: str) -> Multiplet:
    """A :class:`~perovskite_tb.eigen.doublets.Doublet` (e.g. a band edge) as a 2-fold :class:`Multiplet`."""
    return Multiplet(energy=d.energy, degeneracy=2, vectors=d.vectors, blocks=(label,), residual=d.residual,
                     spread=d.splitting)


def _multiplet(H0, S, blocks, group, theta, levels) -> Multiplet:
    """Basis of one group of candidates (energy, block index, block vector) and its Ritz values."""
    labels = tuple(dict.fromkeys(blocks[c[1]].label for c in group))
    if len(group) == 1 and blocks[group[0][1]].weight == 2:  # one Kramers doublet: the band-edge route
        d = make_doublet(H0, S, blocks[group[0][1]], group[0][2], theta, levels)
        return Multiplet(d.energy, 2, d.vectors, labels, d.residual, d.splitting)
    cols = []
    for _, bi, vec in group:
        v = np.asarray(blocks[bi].lift(vec[:, None]))[:, 0]
        cols.append(v)
        if blocks[bi].weight == 2:
            cols.append(time_reverse(v, theta))
    ev, V, res = rayleigh_ritz(H0, S, np.column_stack(cols))
    return Multiplet(float(ev.mean()), V.shape[1], V, labels, res, float(ev.max() - ev.min()))


def group_levels(H0, S, blocks, cands, theta, n_doublets: int, *, cut: float | None = None,
                 descending: bool = False, tol: float = MULTIPLET_TOL_EV) -> tuple:
    """The multiplets of the lowest ``n_doublets`` Kramers doublets on one side.

    Parameters
    ----------
    H0, S : sparse matrices, shape (n, n)
        Hamiltonian (eV) and overlap (None: orthonormal basis).
    blocks : sequence of ParityBlock
        The symmetry blocks of the solve (``weight``, ``lift``, ``label``).
    cands : list of (float, int, ndarray)
        (energy in eV, block index, block eigenvector) of every level found on this side.
    theta : (ndarray, ndarray) or None
        Time reversal of the basis (:func:`perovskite_tb.eigen.doublets.time_reverse`).
    n_doublets : int
        K ≥ 1.
    cut : float, optional
        Energy beyond which the inertia proof does not reach (eV); a multiplet beyond it is not reported.
    descending : bool, optional
        Hole side: levels ordered from the gap downwards.
    tol : float, optional
        Grouping tolerance (eV).

    Returns
    -------
    tuple of Multiplet

    Raises
    ------
    SolverError
        Fewer than ``n_doublets`` doublets found inside the proved range (raise ``k``), or a multiplet
        whose basis is linearly dependent.
    """
    sign = -1.0 if descending else 1.0
    cs = sorted(cands, key=lambda c: sign * c[0])
    energies = np.array([c[0] for c in cs])
    groups, cur = [], []
    for c in cs:
        if cur and abs(c[0] - cur[0][0]) > tol:
            groups.append(cur)
            cur = []
        cur.append(c)
    if cur:
        groups.append(cur)
    out, states = [], 0
    for g in groups[:-1] if len(groups) > 1 else groups:  # the last group may be cut by the k found
        if states >= 2 * n_doublets:
            break
        if cut is not None and sign * (g[-1][0] - cut) >= 0:
            break
        m = _multiplet(H0, S, blocks, g, theta, energies)
        out.append(m)
        states += m.degeneracy
    if states < 2 * n_doublets:
        raise SolverError(f"only {states // 2} of {n_doublets} Kramers doublets were found and proved on the "
                          f"{'hole' if descending else 'electron'} side: raise the solver's k")
    return tuple(out)
