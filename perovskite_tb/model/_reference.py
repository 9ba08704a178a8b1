"""Slow pure-Python twins of the numba kernels — used only by the parity tests."""

from __future__ import annotations

import numpy as np

from perovskite_tb.model.structure import Structure


def _axis_index(v: np.ndarray) -> int:
    """Index into AXIS_DIRECTIONS (+x, −x, +y, −y, +z, −z) of an axial bond vector."""
    mu = int(np.argmax(np.abs(v)))
    return 2 * mu + (1 if v[mu] < 0 else 0)


def dense_hamiltonian(structure: Structure, onsite: np.ndarray, hop, B=None, coef=0.0) -> np.ndarray:
    """Dense H (eV) by explicit loops over sites and the bond list; exact Peierls phase if ``B`` is given.

    Parameters
    ----------
    structure : Structure
        Finite structure.
    onsite : ndarray of complex128, shape (n_species, n_orb, n_orb)
        On-site block per species (Pb, X).
    hop : ndarray of complex128, shape (6, n_orb, n_orb), or callable
        Pb→X blocks per axial bond direction (nearest-neighbour bonds only), or ``hop(q)`` → the
        block ⟨i|H|j⟩ of bond q of ``structure.bonds``.
    B : sequence of 3 float, optional
        Field (T) for the Peierls phases (no Zeeman term here).
    coef : float
        e/(2ħ) in 1/(T·nm²).
    """
    n_orb = onsite.shape[1]
    n = structure.n_sites * n_orb
    H = np.zeros((n, n), dtype=np.complex128)
    for s in range(structure.n_sites):
        sl = slice(s * n_orb, (s + 1) * n_orb)
        H[sl, sl] = onsite[structure.species[s]]
    bonds = structure.bonds
    for q in range(len(bonds)):
        i, j = bonds.i[q], bonds.j[q]
        T = hop(q) if callable(hop) else hop[_axis_index(bonds.vector[q])]
        ph = 1.0
        if B is not None:
            c = np.cross(structure.positions[i], structure.positions[j])
            ph = np.exp(1j * coef * float(np.dot(B, c)))
        si = slice(i * n_orb, (i + 1) * n_orb)
        sj = slice(j * n_orb, (j + 1) * n_orb)
        H[si, sj] += T * ph
        H[sj, si] += (T * ph).conj().T
    return H
