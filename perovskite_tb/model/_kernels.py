"""Numba kernels (internal). Only plain contiguous arrays in, no Python objects, no I/O.

The Hamiltonian is written straight into CSR arrays (no COO intermediate, no sort): every row of
site ``s`` is the concatenation, over the site's neighbour list sorted by site index (itself
included), of the corresponding row of a small per-pair block table. Block tables are padded
per-row CSR arrays ``tab_ptr (n_tab, n_orb + 1)``, ``tab_col (n_tab, w)``, ``tab_val (n_comp,
n_tab, w)``; columns inside a block row are ascending, so the CSR rows come out sorted.

Each kernel has a slow pure-Python twin (:func:`perovskite_tb.model._reference.dense_hamiltonian`);
parity is tested.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["csr_row_counts", "csr_fill"]

#: Fill modes of :func:`csr_fill`.
MODE_H = 0  # values · exp(i coef B·(R_s × R_t)) (B = 0: plain values)
MODE_M = 1  # hopping: i coef (R_s × R_t)_γ · value; on-site: table value of component γ


@njit(cache=True, parallel=True)
def csr_row_counts(nbr_ptr, nbr_tab, tab_ptr, n_orb, counts):
    """counts[s·n_orb + r] = number of stored entries in row r of site s."""
    n_sites = nbr_ptr.shape[0] - 1
    for s in prange(n_sites):
        for r in range(n_orb):
            c = 0
            for q in range(nbr_ptr[s], nbr_ptr[s + 1]):
                t = nbr_tab[q]
                c += tab_ptr[t, r + 1] - tab_ptr[t, r]
            counts[s * n_orb + r] = c


@njit(cache=True, parallel=True)
def csr_fill(nbr_ptr, nbr_site, nbr_tab, nbr_hop, positions, n_orb, tab_ptr, tab_col, tab_val,
             indptr, indices, data, mode, bfield, coef):
    """Fill CSR ``indices`` and ``data`` (shape (n_comp, nnz)) given ``indptr``.

    Parameters
    ----------
    nbr_ptr, nbr_site, nbr_tab, nbr_hop : int64 arrays
        Neighbour lists per site (ascending site index, the site itself included), the block table
        of each pair and 1 if the pair is a hopping (0: on-site).
    positions : float64 (n_sites, 3)
        Positions (nm) about the gauge origin.
    mode : int
        :data:`MODE_H` (values with the exact symmetric-gauge Peierls phase for ``bfield`` (T)) or
        :data:`MODE_M` (∂H/∂B_γ: component γ of the output from component γ of the tables).
    coef : float
        e/(2ħ) in 1/(T·nm²).
    """
    n_sites = nbr_ptr.shape[0] - 1
    n_comp = data.shape[0]
    bx = bfield[0]
    by = bfield[1]
    bz = bfield[2]
    use_phase = bx != 0.0 or by != 0.0 or bz != 0.0
    for s in prange(n_sites):
        xs = positions[s, 0]
        ys = positions[s, 1]
        zs = positions[s, 2]
        for r in range(n_orb):
            k = indptr[s * n_orb + r]
            for q in range(nbr_ptr[s], nbr_ptr[s + 1]):
                t = nbr_site[q]
                b = nbr_tab[q]
                hop = nbr_hop[q] == 1
                xt = positions[t, 0]
                yt = positions[t, 1]
                zt = positions[t, 2]
                cx = ys * zt - zs * yt
                cy = zs * xt - xs * zt
                cz = xs * yt - ys * xt
                ph = 1.0 + 0.0j
                if mode == 0 and hop and use_phase:
                    a = coef * (bx * cx + by * cy + bz * cz)
                    ph = np.cos(a) + 1j * np.sin(a)
                for e in range(tab_ptr[b, r], tab_ptr[b, r + 1]):
                    indices[k] = t * n_orb + tab_col[b, e]
                    if mode == 0:
                        for g in range(n_comp):
                            data[g, k] = tab_val[g, b, e] * ph
                    else:
                        if hop:
                            data[0, k] = 1j * coef * cx * tab_val[0, b, e]
                            data[1, k] = 1j * coef * cy * tab_val[1, b, e]
                            data[2, k] = 1j * coef * cz * tab_val[2, b, e]
                        else:
                            for g in range(n_comp):
                                data[g, k] = tab_val[g, b, e]
                    k += 1
