"""Direct CSR assembly from per-site neighbour lists and small block tables (internal to the assembler).

Split out of :mod:`perovskite_tb.model.hamiltonian`. A site's on-site slot is its *site class*: its species,
or a further class when a surface termination (:mod:`perovskite_tb.model.termination`) adds an on-site term
to it; hopping slots follow the on-site ones (bond kind k: i → j, then j → i).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from perovskite_tb.constants import E_OVER_HBAR
from perovskite_tb.errors import InputError
from perovskite_tb.model import _kernels
from perovskite_tb.model.structure import Structure

__all__ = ["tables", "stack", "Neighbours", "PEIERLS_COEF"]

#: e/(2ħ) in 1/(T·nm²): the Peierls phase per unit B·(R_i × R_j).
PEIERLS_COEF = 0.5 * E_OVER_HBAR


def tables(blocks: np.ndarray):
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


def stack(onsite: np.ndarray, hop: np.ndarray) -> np.ndarray:
    """Block-table slots of one component: on-site per site class, bond kinds i → j, then j → i (conj. transpose)."""
    return np.concatenate([onsite, hop, np.conj(np.swapaxes(hop, -1, -2))], axis=-3)


@dataclass(frozen=True)
class Neighbours:
    """Per-site neighbour lists (ascending site index, itself included) with their block-table slot.

    Slots: site class c → c (on-site; the species unless a termination adds classes); bond kind k →
    n_classes + k (i → j), n_classes + n_kinds + k (j → i).
    """

    ptr: np.ndarray
    site: np.ndarray
    tab: np.ndarray
    hop: np.ndarray
    positions: np.ndarray
    n_orb: int

    @classmethod
    def of(cls, structure: Structure, n_orb: int, kind: np.ndarray | None = None,
           site_class: np.ndarray | None = None, n_classes: int | None = None) -> "Neighbours":
        """Neighbour lists of sites and bonds (``kind`` per bond); on-site terms only if ``kind`` is None.

        ``site_class`` (int64 (n_sites,), default the species) picks each site's on-site slot out of
        ``n_classes`` (default the number of species)."""
        n = structure.n_sites
        n_sp = len(structure.species_names) if n_classes is None else int(n_classes)
        s = np.arange(n, dtype=np.int64)
        cls_ = structure.species if site_class is None else site_class
        rows, cols, tabs = [s], [s], [np.asarray(cls_, dtype=np.int64)]
        if kind is not None and kind.size:
            n_k = int(kind.max()) + 1
            b = structure.bonds
            rows += [b.i, b.j]
            cols += [b.j, b.i]
            tabs += [n_sp + kind, n_sp + n_k + kind]
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        t = np.concatenate(tabs)
        o = np.lexsort((c, r))
        r, c, t = r[o], c[o], t[o]
        if np.any((r[1:] == r[:-1]) & (c[1:] == c[:-1])):
            raise InputError("two bonds (or a bond and a site) join the same pair of sites")
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=ptr[1:])
        return cls(ptr=ptr, site=np.ascontiguousarray(c), tab=np.ascontiguousarray(t),
                   hop=(t >= n_sp).astype(np.int64),
                   positions=np.ascontiguousarray(structure.positions, dtype=float), n_orb=n_orb)

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
