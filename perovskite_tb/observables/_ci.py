r"""Configuration interaction of electrons and holes in a fixed single-particle basis (X, X±, XX).

Hamiltonian (particle–hole form, number-conserving; electron operators a_c on the conduction states
C, hole operators b_v = a†_v on the valence states V; Franceschetti, Wang, Fu & Zunger, PRB 58,
R13367 (1998); the same normal-ordered form as Leung & Whaley, PRB 56, 7455 (1997))

.. math::
    H = \sum_c \varepsilon_c a^\dagger_c a_c + \sum_v \varepsilon^h_v b^\dagger_v b_v
      + \tfrac12\sum W^{e}_{c_1c_2c_3c_4} a^\dagger_{c_1}a^\dagger_{c_2}a_{c_4}a_{c_3}
      + \tfrac12\sum W^{h}_{v_1v_2v_3v_4} b^\dagger_{v_1}b^\dagger_{v_2}b_{v_4}b_{v_3}
      + \sum U_{c v c' v'}\, a^\dagger_c a_{c'}\, b^\dagger_v b_{v'}

with W^e = ⟨c1c2|v|c3c4⟩, W^h_{v1v2v3v4} = ⟨v3v4|v|v1v2⟩ (hole–hole repulsion of the valence
states), and the e–h block U_{cvc'v'} = −⟨c v'|v|c' v⟩ + ⟨c v'|v|v c'⟩ (direct attraction +
exchange), ⟨ab|v|cd⟩ = ∬ψ_a*(1)ψ_c(1) v ψ_b*(2)ψ_d(2). ε_c = E_c + Σ_e, ε^h_v = −E_v + Σ_h: the
single-particle energies are taken as quasiparticle energies of the neutral NC (the mean field of
the filled valence band is in the ETB parameters), plus the image self-energies. Terms that create
or destroy e–h pairs are dropped (Tamm–Dancoff).

Sectors (k_e, k_h): X (1, 1), X⁻ (2, 1), X⁺ (1, 2), XX (2, 2); the space is the product of the
antisymmetrised k_e-electron and k_h-hole spaces, H = H_e ⊗ 1 + 1 ⊗ H_h + Σ_{cc'} E_{cc'} ⊗ G_{cc'}
with E_{cc'} the matrix of a†_c a_{c'} and G_{cc'} = Σ_{vv'} U_{cvc'v'} (b†_v b_{v'}).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

__all__ = ["FermionSpace", "Sector", "lowest"]

#: Sectors up to this dimension are diagonalised densely.
DENSE_MAX = 1000


class FermionSpace:
    """Antisymmetrised k-particle space of n modes (k = 0, 1, 2), one-body transitions and two-body matrix.

    Attributes
    ----------
    n, k : int
    states : list of tuple of int
        Occupied modes, ascending.
    dim : int
    transitions : dict
        (p, q) → (rows, cols, signs): ⟨row|a†_p a_q|col⟩ = sign.
    """

    def __init__(self, n: int, k: int):
        if k not in (0, 1, 2):
            raise ValueError("k must be 0, 1 or 2")
        self.n, self.k = int(n), int(k)
        self.states = list(combinations(range(self.n), self.k))
        self.index = {s: i for i, s in enumerate(self.states)}
        self.dim = len(self.states)
        tr: dict = {}
        for col, s in enumerate(self.states):
            for q in s:
                rest = [m for m in s if m != q]
                sign_q = (-1) ** s.index(q)  # a_q moves past the modes before it
                for p in range(self.n):
                    if p in rest:
                        continue
                    new = tuple(sorted(rest + [p]))
                    sign_p = (-1) ** new.index(p)
                    tr.setdefault((p, q), ([], [], []))
                    r, c, g = tr[(p, q)]
                    r.append(self.index[new]), c.append(col), g.append(sign_q * sign_p)
        self.transitions = {key: tuple(np.asarray(a) for a in v) for key, v in tr.items()}

    def one_body(self, O: np.ndarray) -> np.ndarray:
        """Dense matrix of Σ_pq O_pq a†_p a_q, shape (dim, dim), complex128."""
        M = np.zeros((self.dim, self.dim), dtype=complex)
        for (p, q), (r, c, g) in self.transitions.items():
            np.add.at(M, (r, c), O[p, q] * g)
        return M

    def two_body(self, W: np.ndarray) -> np.ndarray:
        """Dense matrix of ½Σ W_pqrs a†_p a†_q a_s a_r (k = 2: ⟨ij|V|kl⟩ = W_ijkl − W_ijlk)."""
        if self.k < 2:
            return np.zeros((self.dim, self.dim), dtype=complex)
        s = np.asarray(self.states)
        i, j = s[:, 0][:, None], s[:, 1][:, None]
        k, l = s[:, 0][None, :], s[:, 1][None, :]
        return W[i, j, k, l] - W[i, j, l, k]


class Sector:
    """H of one (k_e, k_h) sector as a linear operator on (dim_e, dim_h) arrays.

    Parameters
    ----------
    eps_e, eps_h : ndarray of float64, shape (nC,), (nV,)
        Electron and hole energies (eV).
    We, Wh : ndarray of complex128, shape (nC,)*4, (nV,)*4
        W^e and W^h of the module docstring (eV).
    U : ndarray of complex128, shape (nC, nV, nC, nV)
        e–h block (eV).
    k_e, k_h : int
        Particles of each kind (0, 1, 2).
    extra_e, extra_h : ndarray, optional
        Additional one-body matrices (e.g. Zeeman) for electrons / holes, (nC, nC) / (nV, nV).
    """

    def __init__(self, eps_e, eps_h, We, Wh, U, k_e, k_h, extra_e=None, extra_h=None):
        nC, nV = len(eps_e), len(eps_h)
        self.E = FermionSpace(nC, k_e)
        self.H = FermionSpace(nV, k_h)
        Oe = np.diag(np.asarray(eps_e, dtype=complex))
        Oh = np.diag(np.asarray(eps_h, dtype=complex))
        if extra_e is not None:
            Oe = Oe + extra_e
        if extra_h is not None:
            Oh = Oh + extra_h
        self.He = self.E.one_body(Oe) + self.E.two_body(We) if k_e else np.zeros((1, 1))
        self.Hh = self.H.one_body(Oh) + self.H.two_body(Wh) if k_h else np.zeros((1, 1))
        self.G = {}
        if k_e and k_h:
            for (c, cp) in self.E.transitions:
                G = np.zeros((self.H.dim, self.H.dim), dtype=complex)
                for (v, vp), (r, col, g) in self.H.transitions.items():
                    np.add.at(G, (r, col), U[c, v, cp, vp] * g)
                self.G[(c, cp)] = G
        self.shape2 = (self.E.dim, self.H.dim)
        self.dim = self.E.dim * self.H.dim

    def apply(self, x: np.ndarray) -> np.ndarray:
        """H x for x of shape (dim,) or (dim, m)."""
        m = 1 if x.ndim == 1 else x.shape[1]
        X = x.reshape(self.shape2 + (m,))
        Y = np.einsum("ab,bqm->aqm", self.He, X) + np.einsum("qr,arm->aqm", self.Hh, X)
        for (c, cp), G in self.G.items():
            r, col, g = self.E.transitions[(c, cp)]
            Y[r] += g[:, None, None] * np.einsum("qr,prm->pqm", G, X[col])
        return Y.reshape(x.shape)

    def dense(self) -> np.ndarray:
        """The full Hermitian matrix (dim, dim), complex128."""
        return self.apply(np.eye(self.dim, dtype=complex))


def lowest(sector: Sector, k: int = 1):
    """Lowest ``k`` eigenpairs (eV; vectors (dim, k)) of a sector, ascending.

    Dense ``eigh`` up to :data:`DENSE_MAX` states, else ARPACK (``eigsh``, which="SA").
    """
    if sector.dim <= DENSE_MAX:
        Hm = sector.dense()
        Hm = 0.5 * (Hm + Hm.conj().T)
        w, V = sla.eigh(Hm, subset_by_index=[0, min(k, sector.dim) - 1], driver="evr")
        return w[:k], V[:, :k]
    op = spla.LinearOperator((sector.dim, sector.dim), matvec=sector.apply, dtype=complex)
    w, V = spla.eigsh(op, k=max(k, 1), which="SA", tol=1e-10)
    o = np.argsort(w)
    return w[o][:k], V[:, o][:, :k]
