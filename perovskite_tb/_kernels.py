"""Numba kernels (internal). Only plain contiguous arrays in, no Python objects, no I/O.

Each kernel has a slow pure-Python twin in :mod:`perovskite_tb._reference`; parity is tested.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["count_entries", "fill_entries", "peierls_values"]


@njit(cache=True)
def count_entries(species, bond_dir, site_ptr, blk_ptr):
    """Number of COO entries: on-site block entries of every site + 2 × hopping-block entries per bond."""
    total = 0
    for s in range(species.shape[0]):
        sp = species[s]
        total += site_ptr[sp + 1] - site_ptr[sp]
    for b in range(bond_dir.shape[0]):
        d = bond_dir[b]
        total += 2 * (blk_ptr[d + 1] - blk_ptr[d])
    return total


@njit(cache=True)
def fill_entries(species, bond_pb, bond_x, bond_dir, positions, n_orb,
                 site_ptr, site_r, site_c, site_v, blk_ptr, blk_r, blk_c, blk_v,
                 rows, cols, vals, cross):
    """Fill preallocated COO arrays of H0.

    On-site entries come first (``cross`` = 0), then for each bond the Pb→X entry followed by its
    Hermitian partner. ``cross[k]`` = R_row × R_col (nm²) of the two atoms of entry k, the quantity
    that enters the symmetric-gauge Peierls phase. Returns the number of on-site entries.
    """
    k = 0
    for s in range(species.shape[0]):
        sp = species[s]
        for e in range(site_ptr[sp], site_ptr[sp + 1]):
            rows[k] = s * n_orb + site_r[e]
            cols[k] = s * n_orb + site_c[e]
            vals[k] = site_v[e]
            cross[k, 0] = 0.0
            cross[k, 1] = 0.0
            cross[k, 2] = 0.0
            k += 1
    n_onsite = k
    for b in range(bond_dir.shape[0]):
        i = bond_pb[b]
        j = bond_x[b]
        d = bond_dir[b]
        xi = positions[i, 0]
        yi = positions[i, 1]
        zi = positions[i, 2]
        xj = positions[j, 0]
        yj = positions[j, 1]
        zj = positions[j, 2]
        cx = yi * zj - zi * yj
        cy = zi * xj - xi * zj
        cz = xi * yj - yi * xj
        for e in range(blk_ptr[d], blk_ptr[d + 1]):
            r = i * n_orb + blk_r[e]
            c = j * n_orb + blk_c[e]
            v = blk_v[e]
            rows[k] = r
            cols[k] = c
            vals[k] = v
            cross[k, 0] = cx
            cross[k, 1] = cy
            cross[k, 2] = cz
            k += 1
            rows[k] = c
            cols[k] = r
            vals[k] = np.conj(v)
            cross[k, 0] = -cx
            cross[k, 1] = -cy
            cross[k, 2] = -cz
            k += 1
    return n_onsite


@njit(cache=True)
def peierls_values(vals, cross, coef, bx, by, bz):
    """Exact symmetric-gauge Peierls values: vals · exp(i coef B·(R_i × R_j)) (coef = e/2ħ in 1/(T nm²))."""
    out = np.empty_like(vals)
    for k in range(vals.shape[0]):
        ph = coef * (bx * cross[k, 0] + by * cross[k, 1] + bz * cross[k, 2])
        out[k] = vals[k] * (np.cos(ph) + 1j * np.sin(ph))
    return out
