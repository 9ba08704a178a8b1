"""Slow pure-Python twins of the numba kernels — used only by the parity tests."""

from __future__ import annotations

import numpy as np

from perovskite_tb.model.geometry import Structure


def dense_hamiltonian(structure: Structure, onsite: np.ndarray, hop: np.ndarray, B=None, coef=0.0) -> np.ndarray:
    """Dense H (eV) by explicit loops over sites and bonds; exact Peierls phase if ``B`` is given.

    Parameters
    ----------
    structure : Structure
    onsite : ndarray of complex128, shape (2, n_orb, n_orb)
        On-site blocks of Pb (0) and X (1).
    hop : ndarray of complex128, shape (6, n_orb, n_orb)
        Pb→X blocks per bond direction.
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
    for b in range(len(structure.bond_dir)):
        i, j, d = structure.bond_pb[b], structure.bond_x[b], structure.bond_dir[b]
        ph = 1.0
        if B is not None:
            c = np.cross(structure.positions[i], structure.positions[j])
            ph = np.exp(1j * coef * float(np.dot(B, c)))
        si = slice(i * n_orb, (i + 1) * n_orb)
        sj = slice(j * n_orb, (j + 1) * n_orb)
        H[si, sj] = hop[d] * ph
        H[sj, si] = (hop[d] * ph).conj().T
    return H
