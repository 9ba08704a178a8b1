r"""Orbital basis, angular-momentum matrices and on-site blocks.

Ordering (used by every module): site-major, then orbital, then spin. Per atom the spinless
orbitals are ``s, px, py, pz`` (sp3) or ``s, px, py, pz, dxy, dyz, dzx, dx2y2, dz2, sstar``
(sp3d5s*), and spin ↑, ↓ is the fastest index: index = 2·orbital + spin.

Real d orbitals are represented as traceless symmetric 3×3 matrices Q (``φ(r) = rᵀQr``,
Frobenius-orthonormal), which gives their rotation matrices and orbital angular momentum in closed
form. Sign conventions: :math:`(L_k)_{ij} = -i\epsilon_{kij}` on p orbitals in (x, y, z) order, so
:math:`\langle x|L_z|y\rangle = -i` (Graf & Vogl, PRB 51, 4940 (1995)); the same L enters the spin–orbit term
:math:`H_{SO} = \lambda\,\mathbf L\cdot\boldsymbol\sigma` (λ = Δ/3; Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)).
"""

from __future__ import annotations

import numpy as np

from perovskite_tb.model.materials import BASES, EtbParameters

__all__ = [
    "D_QUADRATIC",
    "rotation_p",
    "rotation_d",
    "orbital_L",
    "spin_S",
    "onsite_block",
    "atom_J",
    "atom_L",
    "atom_S",
]

_E = np.eye(3)


def _sym(i: int, j: int) -> np.ndarray:
    return (np.outer(_E[i], _E[j]) + np.outer(_E[j], _E[i])) / np.sqrt(2.0)


#: Quadratic forms of the real d orbitals dxy, dyz, dzx, dx²−y², dz² (shape (5, 3, 3), float64).
D_QUADRATIC = np.array(
    [
        _sym(0, 1),
        _sym(1, 2),
        _sym(2, 0),
        (np.outer(_E[0], _E[0]) - np.outer(_E[1], _E[1])) / np.sqrt(2.0),
        (2 * np.outer(_E[2], _E[2]) - np.outer(_E[0], _E[0]) - np.outer(_E[1], _E[1])) / np.sqrt(6.0),
    ]
)


def rotation_p(R: np.ndarray) -> np.ndarray:
    """Rotation matrix of real p orbitals: D(R) = R (shape (3, 3)), O_R p_i = Σ_j p_j D_ji."""
    return np.asarray(R, dtype=float)


def rotation_d(R: np.ndarray) -> np.ndarray:
    """Rotation matrix of real d orbitals, D_ji = Tr(Q_j R Q_i Rᵀ), shape (5, 5), float64."""
    R = np.asarray(R, dtype=float)
    rot = np.einsum("ab,ibc,dc->iad", R, D_QUADRATIC, R)  # R Q_i R^T
    return np.einsum("jad,iad->ji", D_QUADRATIC, rot)


def _generator(k: int) -> np.ndarray:
    """Infinitesimal rotation generator K_k = dR/dθ about axis k."""
    K = np.zeros((3, 3))
    i, j = (k + 1) % 3, (k + 2) % 3
    K[j, i] = 1.0
    K[i, j] = -1.0
    return K


def orbital_L(l: int) -> np.ndarray:
    r"""Orbital angular momentum L_x, L_y, L_z (units ħ) in the real basis of shell ``l``.

    Parameters
    ----------
    l : int
        0 (s), 1 (p: x, y, z) or 2 (d: xy, yz, zx, x²−y², z²).

    Returns
    -------
    ndarray of complex128, shape (3, 2l+1, 2l+1)
        :math:`L_k = i\,dD(R_k(\theta))/d\theta|_0`, Hermitian; for p, ⟨x|L_z|y⟩ = −i.
    """
    if l == 0:
        return np.zeros((3, 1, 1), dtype=np.complex128)
    out = []
    for k in range(3):
        K = _generator(k)
        if l == 1:
            dD = K
        else:
            # d/dθ of Tr(Q_j R Q_i R^T) at R = 1: Tr(Q_j (K Q_i + Q_i K^T))
            dD = np.einsum("jab,iba->ji", D_QUADRATIC, K @ D_QUADRATIC + D_QUADRATIC @ K.T)
        out.append(1j * dD)
    return np.array(out, dtype=np.complex128)


def spin_S() -> np.ndarray:
    """Spin-½ operators S_x, S_y, S_z = σ/2 (units ħ), shape (3, 2, 2), complex128."""
    return 0.5 * np.array(
        [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128
    )


_SHELL_SLICES = {"sp3": {"s": [0], "p": [1, 2, 3]},
                 "sp3d5s*": {"s": [0], "p": [1, 2, 3], "d": [4, 5, 6, 7, 8], "sstar": [9]}}


def atom_L(basis: str) -> np.ndarray:
    """On-site orbital L_k ⊗ 1_spin for one atom, shape (3, n_orb, n_orb), complex128 (units ħ)."""
    norb = len(BASES[basis])
    Lorb = np.zeros((3, norb, norb), dtype=np.complex128)
    p = _SHELL_SLICES[basis]["p"]
    Lorb[:, p[0] : p[-1] + 1, p[0] : p[-1] + 1] = orbital_L(1)
    if "d" in _SHELL_SLICES[basis]:
        d = _SHELL_SLICES[basis]["d"]
        Lorb[:, d[0] : d[-1] + 1, d[0] : d[-1] + 1] = orbital_L(2)
    return np.array([np.kron(Lorb[k], np.eye(2)) for k in range(3)])


def atom_S(basis: str) -> np.ndarray:
    """On-site spin 1_orb ⊗ S_k for one atom, shape (3, n_orb, n_orb), complex128 (units ħ)."""
    norb = len(BASES[basis])
    S = spin_S()
    return np.array([np.kron(np.eye(norb), S[k]) for k in range(3)])


def atom_J(basis: str) -> np.ndarray:
    """On-site J = L + S for one atom, shape (3, n_orb, n_orb), complex128 (units ħ)."""
    return atom_L(basis) + atom_S(basis)


def onsite_block(params: EtbParameters, atom: str) -> np.ndarray:
    r"""On-site Hamiltonian block of one atom (eV), spin–orbit included.

    Parameters
    ----------
    params : EtbParameters
    atom : {"Pb", "X"}

    Returns
    -------
    ndarray of complex128, shape (n_orb, n_orb)
        diag(E_orbital) ⊗ 1_spin + λ Σ_k L_k^{(p)} ⊗ σ_k (Jancu et al., PRB 57, 6493 (1998); Nestoklon 2021).
    """
    orbs = BASES[params.basis]
    names = {"s": "E_s", "px": "E_p", "py": "E_p", "pz": "E_p", "sstar": "E_sstar"}
    E = [getattr(params, f"{names.get(o, 'E_d')}_{atom}") for o in orbs]
    H = np.kron(np.diag(np.asarray(E, dtype=np.complex128)), np.eye(2))
    lam = getattr(params, f"lambda_so_{atom}")
    norb = len(orbs)
    Lp = np.zeros((3, norb, norb), dtype=np.complex128)
    Lp[:, 1:4, 1:4] = orbital_L(1)
    sig = 2 * spin_S()
    for k in range(3):
        H += lam * np.kron(Lp[k], sig[k])
    return H
