r"""Two-centre Slater–Koster hopping blocks for Pb–X bonds.

The matrix element between orbital α on the atom at the origin and β on the atom at
:math:`d\,\hat{\mathbf d}` is :math:`E_{\alpha\beta}(\hat{\mathbf d}) = [D_{l_\alpha}(R)\,B_{l_\alpha l_\beta}
\,D_{l_\beta}(R)^T]_{\alpha\beta}` with :math:`R\hat z = \hat{\mathbf d}`, where B is the bond-frame matrix
(bond along +z: σ, π, δ on the diagonal in m) and D the real-orbital rotation matrices of
:mod:`perovskite_tb.model.basis`. This reproduces the Slater–Koster table (Slater & Koster, Phys. Rev. 94,
1498 (1954), Table I) — tested in ``tests/test_slater_koster.py``.

Sign convention for the cation (Pb, c) – anion (X, a) pair (physics brief §1.1, [VER]): for a cation
orbital α and anion orbital β with bond vector d̂ (cation → anion), if l_α ≤ l_β the element is
:math:`E_{\alpha\beta}(\hat d)` with :math:`V(\alpha_c\beta_a)`, otherwise
:math:`E_{\beta\alpha}(-\hat d)` with :math:`V(\beta_a\alpha_c)`.
"""

from __future__ import annotations

import numpy as np

from perovskite_tb.model.basis import rotation_d, rotation_p
from perovskite_tb.model.materials import BASES, EtbParameters

__all__ = ["sk_block", "rotation_to", "hopping_block", "AXIS_DIRECTIONS"]

#: The six Pb→X bond directions of the cubic perovskite: +x, −x, +y, −y, +z, −z (shape (6, 3)).
AXIS_DIRECTIONS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float
)

_L = {"s": 0, "p": 1, "d": 2, "sstar": 0}
_SHELL_OF = {"s": "s", "px": "p", "py": "p", "pz": "p", "dxy": "d", "dyz": "d", "dzx": "d",
             "dx2y2": "d", "dz2": "d", "sstar": "sstar"}


def rotation_to(d_hat: np.ndarray) -> np.ndarray:
    """A proper rotation R (3×3, float64) with R ẑ = d̂ (Rodrigues; any choice about d̂ is equivalent)."""
    d = np.asarray(d_hat, dtype=float)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    c = float(d @ z)
    v = np.cross(z, d)
    s = float(np.linalg.norm(v))
    if s < 1e-15:  # exactly (anti-)parallel to z
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])  # identity / π about x
    V = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    if c > 0:  # I + [v]x + [v]x^2 / (1 + c): no cancellation for nearly axial bonds
        return np.eye(3) + V + (V @ V) / (1.0 + c)
    K = V / s
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def _bond_frame(l1: int, l2: int, V: dict) -> np.ndarray:
    """Bond-frame matrix B (2l1+1, 2l2+1) for a bond along +z, l1 ≤ l2."""
    sig, pi, de = V.get("sigma", 0.0), V.get("pi", 0.0), V.get("delta", 0.0)
    if (l1, l2) == (0, 0):
        return np.array([[sig]])
    if (l1, l2) == (0, 1):
        return np.array([[0.0, 0.0, sig]])
    if (l1, l2) == (0, 2):
        return np.array([[0.0, 0.0, 0.0, 0.0, sig]])
    if (l1, l2) == (1, 1):
        return np.diag([pi, pi, sig])
    if (l1, l2) == (1, 2):
        B = np.zeros((3, 5))
        B[0, 2] = pi   # x – zx
        B[1, 1] = pi   # y – yz
        B[2, 4] = sig  # z – z²
        return B
    if (l1, l2) == (2, 2):
        return np.diag([de, pi, pi, de, sig])
    raise ValueError(f"shell pair {(l1, l2)} needs l1 <= l2")


def _D(l: int, R: np.ndarray) -> np.ndarray:
    if l == 0:
        return np.ones((1, 1))
    return rotation_p(R) if l == 1 else rotation_d(R)


def sk_block(l1: int, l2: int, V: dict, d_hat: np.ndarray) -> np.ndarray:
    r"""Slater–Koster matrix E_{αβ}(d̂) between shells l1 (at origin) and l2 (at d̂), l1 ≤ l2.

    Parameters
    ----------
    l1, l2 : int
        Angular momenta, 0 ≤ l1 ≤ l2 ≤ 2.
    V : dict
        Two-centre integrals ``{"sigma": ..., "pi": ..., "delta": ...}`` in eV.
    d_hat : ndarray of float64, shape (3,)
        Bond direction (need not be normalised).

    Returns
    -------
    ndarray of float64, shape (2l1+1, 2l2+1)
        Real orbital order: s; (x, y, z); (xy, yz, zx, x²−y², z²).
    """
    R = rotation_to(d_hat)
    return _D(l1, R) @ _bond_frame(l1, l2, V) @ _D(l2, R).T


def _integrals(p: EtbParameters, shell_c: str, shell_a: str) -> dict:
    """Two-centre integrals between a cation shell and an anion shell."""
    tab = {
        ("s", "s"): {"sigma": p.V_ss_sigma},
        ("sstar", "s"): {"sigma": p.V_sa_sstarc_sigma},
        ("s", "sstar"): {"sigma": p.V_sc_sstara_sigma},
        ("sstar", "sstar"): {"sigma": p.V_sstar_sstar_sigma},
        ("s", "p"): {"sigma": p.V_sc_pa_sigma},
        ("p", "s"): {"sigma": p.V_sa_pc_sigma},
        ("sstar", "p"): {"sigma": p.V_sstarc_pa_sigma},
        ("p", "sstar"): {"sigma": p.V_sstara_pc_sigma},
        ("s", "d"): {"sigma": p.V_sc_da_sigma},
        ("d", "s"): {"sigma": p.V_sa_dc_sigma},
        ("sstar", "d"): {"sigma": p.V_sstarc_da_sigma},
        ("d", "sstar"): {"sigma": p.V_sstara_dc_sigma},
        ("p", "p"): {"sigma": p.V_pp_sigma, "pi": p.V_pp_pi},
        ("p", "d"): {"sigma": p.V_pc_da_sigma, "pi": p.V_pc_da_pi},
        ("d", "p"): {"sigma": p.V_pa_dc_sigma, "pi": p.V_pa_dc_pi},
        ("d", "d"): {"sigma": p.V_dd_sigma, "pi": p.V_dd_pi, "delta": p.V_dd_delta},
    }
    return tab[(shell_c, shell_a)]


def _shells(basis: str) -> list[tuple[str, slice]]:
    orbs = BASES[basis]
    out: list[tuple[str, list[int]]] = []
    for i, o in enumerate(orbs):
        sh = _SHELL_OF[o]
        if out and out[-1][0] == sh:
            out[-1][1].append(i)
        else:
            out.append((sh, [i]))
    return [(sh, slice(ix[0], ix[-1] + 1)) for sh, ix in out]


def hopping_block(params: EtbParameters, d_hat: np.ndarray, *, spin: bool = True) -> np.ndarray:
    r"""Pb→X hopping block ⟨α, Pb|H|β, X⟩ for a bond from Pb along ``d_hat`` (eV).

    Parameters
    ----------
    params : EtbParameters
    d_hat : ndarray of float64, shape (3,)
        Bond direction cation → anion.
    spin : bool, optional
        If True (default) return the block ⊗ 1_spin in the package's orbital-major, spin-minor order.

    Returns
    -------
    ndarray of complex128, shape (n_orb, n_orb) (or spinless (n_orb/2, n_orb/2))
        Rows: Pb orbitals, columns: X orbitals. The X→Pb block is its conjugate transpose.

    Notes
    -----
    Sign rule of physics brief §1.1 (module docstring).
    """
    d = np.asarray(d_hat, dtype=float)
    shells = _shells(params.basis)
    n = len(BASES[params.basis])
    T = np.zeros((n, n))
    for sc, slc in shells:
        for sa, sla in shells:
            V = _integrals(params, sc, sa)
            lc, la = _L[sc], _L[sa]
            if lc <= la:
                T[slc, sla] = sk_block(lc, la, V, d)
            else:
                T[slc, sla] = sk_block(la, lc, V, -d).T
    if not spin:
        return T.astype(np.complex128)
    return np.kron(T, np.eye(2)).astype(np.complex128)
