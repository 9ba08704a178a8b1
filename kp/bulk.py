r"""Bulk k·p at the R point of cubic CsPbX3: Kirstein formulas and the 8-band Bloch model.

8-band basis (index = 2·orbital + spin)
---------------------------------------
orbital 0 = S (s-like R6+ valence band), 1, 2, 3 = X, Y, Z (p-like conduction band);
spin 0 = ↑, 1 = ↓ (quantised along z). So the order is S↑ S↓ X↑ X↓ Y↑ Y↓ Z↑ Z↓.

Hamiltonian (Kirstein et al. 2022; Dresselhaus–Kip–Kittel form of the remote terms)
------------------------------------------------------------------------------------
.. math::
    H(\mathbf k) = C + \sum_\alpha \Lambda_\alpha k_\alpha
                   + \sum_{\alpha\beta} Q_{\alpha\beta}\, k_\alpha k_\beta ,

* :math:`C`: VB top at 0; CB block :math:`E_g + 2\Delta/3 + (\Delta/3)\,\mathbf L\cdot\boldsymbol\sigma`
  (J=½ at :math:`E_g`, J=3/2 at :math:`E_g+\Delta`), with real-basis
  :math:`(L_k)_{ij} = -i\varepsilon_{kij}` on (X, Y, Z) (Graf & Vogl, Phys. Rev. B 51, 4940 (1995)).
* Kane coupling :math:`\langle S|H|X_\alpha\rangle = iPk_\alpha`, :math:`P=\hbar p/m_0`.
* :math:`H_{SS} = (\hbar^2k^2/2m_0)(1+\gamma_v)`;
  :math:`\langle X|H|X\rangle = (\hbar^2/2m_0)[(1+L')k_x^2 + (1+M')(k_y^2+k_z^2)]`,
  :math:`\langle X|H|Y\rangle = (\hbar^2/2m_0)N'k_xk_y` (cyclic).
* Zeeman (field derivative at k = 0, eV/T): :math:`\mu_B[g_0\mathbf S + \Delta g_e\,
  P_{1/2}\mathbf J P_{1/2}]`, with :math:`P_{1/2} = (1-\mathbf L\cdot\boldsymbol\sigma)/3` the
  projector on the J=½ CB (so the remote term adds exactly :math:`\Delta g_e` to the J=½ g).

Bulk g (Roth-type linear response, Roth, Lax & Zwerdling 1959)
--------------------------------------------------------------
.. math::
    G_{\gamma,ab} = \langle a|g_0S_\gamma + \Delta g_e P_{1/2}J_\gamma P_{1/2}|b\rangle
      + \frac{m_0}{\hbar^2}\frac1i\varepsilon_{\gamma\alpha\beta}\sum_{m\notin D}
        \frac{\langle a|\partial_\alpha H|m\rangle\langle m|\partial_\beta H|b\rangle}{E_0-E_m}

The signed g follows the J convention of :mod:`perovskite_tb.gfactor` (Kirstein et al., Nat. Commun. 13, 3062 (2022)).

References
----------
kirstein2022 (Eqs. 5–6), nestoklon2023_tableS2, roth1959, dresselhaus1955.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perovskite_tb.constants import G0, HBAR2_OVER_2M0, HBAR2_OVER_M0, MU_B
from perovskite_tb.errors import InputError
from perovskite_tb.gfactor import PAULI, g_tensor
from perovskite_tb.model.universal import kirstein_g_e, kirstein_g_h  # re-exported: the formulas live in one place

from kp.parameters import KpParameters

__all__ = [
    "kirstein_g_e",
    "kirstein_g_h",
    "BlochTerms",
    "bloch_terms",
    "bloch_hamiltonian",
    "BulkResult",
    "bulk_properties",
    "N_BANDS",
    "LEVI_CIVITA",
]

#: number of bands of the model (2 VB + 6 CB spin-orbitals)
N_BANDS = 8

#: Levi-Civita symbol ε_ijk, shape (3, 3, 3)
LEVI_CIVITA = np.zeros((3, 3, 3))
for _i, _j, _k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
    LEVI_CIVITA[_i, _j, _k] = 1.0
    LEVI_CIVITA[_i, _k, _j] = -1.0

#: p-orbital angular momentum in the real (x, y, z) basis, (L_k)_ij = -i eps_kij, shape (3, 3, 3)
L_P = -1j * LEVI_CIVITA


@dataclass(frozen=True)
class BlochTerms:
    r"""Coefficient matrices of the 8-band Hamiltonian and its magnetic operators.

    Attributes
    ----------
    C : ndarray of complex128, shape (8, 8)
        k-independent part [eV].
    Lam : ndarray of complex128, shape (3, 8, 8)
        Linear-in-k coefficients :math:`\Lambda_\alpha` [eV·nm].
    Q : ndarray of complex128, shape (3, 3, 8, 8)
        Symmetric quadratic coefficients :math:`Q_{\alpha\beta}=Q_{\beta\alpha}` [eV·nm²].
    Z : ndarray of complex128, shape (3, 8, 8)
        Zeeman operators :math:`\partial H/\partial B_\gamma` from spin and Δg_e [eV/T].
    J : ndarray of complex128, shape (3, 8, 8)
        Total angular momentum J = L + S (L only on the p-like CB) [ħ].
    S : ndarray of complex128, shape (3, 8, 8)
        Spin [ħ].
    is_cb : ndarray of bool, shape (8,)
        True for the p-like CB spin-orbitals.
    parity : ndarray of int64, shape (8,)
        Inversion parity of the Bloch functions (S: +1, X/Y/Z: −1).
    """

    C: np.ndarray
    Lam: np.ndarray
    Q: np.ndarray
    Z: np.ndarray
    J: np.ndarray
    S: np.ndarray
    is_cb: np.ndarray
    parity: np.ndarray


def bloch_terms(params: KpParameters) -> BlochTerms:
    """Build the 8-band coefficient matrices (see module docstring for the Hamiltonian).

    Parameters
    ----------
    params : KpParameters

    Returns
    -------
    BlochTerms

    References
    ----------
    Kirstein et al., Nat. Commun. 13, 3062 (2022) (8-band model); Dresselhaus, Kip & Kittel, Phys. Rev. 98, 368 (1955) (L', M', N').
    """
    p = params
    I2 = np.eye(2)
    # orbital projectors: 4x4 orbital space (S, X, Y, Z)
    Lorb = np.zeros((3, 4, 4), dtype=complex)
    Lorb[:, 1:, 1:] = L_P
    Sop = np.array([np.kron(np.eye(4), PAULI[k] / 2) for k in range(3)])
    Lop = np.array([np.kron(Lorb[k], I2) for k in range(3)])
    Jop = Lop + Sop
    cb_orb = np.diag([0.0, 1.0, 1.0, 1.0])
    Pcb = np.kron(cb_orb, I2)
    LdotS2 = sum(Lop[k] @ np.kron(np.eye(4), PAULI[k]) for k in range(3))  # L·σ (CB only)
    C = (p.Eg + 2 * p.Delta_so / 3) * Pcb + (p.Delta_so / 3) * LdotS2
    C = C.astype(complex)
    Lam = np.zeros((3, 8, 8), dtype=complex)
    for a in range(3):
        E = np.zeros((4, 4), dtype=complex)
        E[0, a + 1] = 1j * p.P
        E[a + 1, 0] = -1j * p.P
        Lam[a] = np.kron(E, I2)
    Q = np.zeros((3, 3, 8, 8), dtype=complex)
    h = HBAR2_OVER_2M0
    for a in range(3):
        orb = np.zeros((4, 4))
        orb[0, 0] = h * (1 + p.gamma_v)
        for i in range(3):
            orb[i + 1, i + 1] = h * ((1 + p.L_prime) if i == a else (1 + p.M_prime))
        Q[a, a] = np.kron(orb, I2)
    for a in range(3):
        for b in range(3):
            if a == b:
                continue
            orb = np.zeros((4, 4))
            orb[a + 1, b + 1] = orb[b + 1, a + 1] = 0.5 * h * p.N_prime
            Q[a, b] = np.kron(orb, I2)
    P_half = Pcb @ (np.eye(8) - LdotS2) / 3.0 @ Pcb
    Z = np.array([MU_B * (G0 * Sop[k] + p.delta_g_e * P_half @ Jop[k] @ P_half) for k in range(3)])
    is_cb = np.array([False, False] + [True] * 6)
    parity = np.array([1, 1, -1, -1, -1, -1, -1, -1], dtype=np.int64)
    return BlochTerms(C=C, Lam=Lam, Q=Q, Z=Z, J=Jop, S=Sop, is_cb=is_cb, parity=parity)


def bloch_hamiltonian(params: KpParameters, k_nm) -> np.ndarray:
    """8-band Bloch Hamiltonian H(k) at wave vector k measured from R.

    Parameters
    ----------
    params : KpParameters
    k_nm : array_like of float64, shape (3,) or (nk, 3)
        Wave vector relative to R [nm⁻¹].

    Returns
    -------
    ndarray of complex128, shape (8, 8) or (nk, 8, 8)
        H(k) [eV], Hermitian.

    Raises
    ------
    InputError
        If ``k_nm`` has the wrong shape or is not finite.
    """
    k = np.asarray(k_nm, dtype=float)
    if k.shape[-1:] != (3,) or k.ndim > 2 or not np.all(np.isfinite(k)):
        raise InputError(f"k must be finite with shape (3,) or (nk, 3), got shape {k.shape}")
    t = bloch_terms(params)
    kk = np.atleast_2d(k)
    H = (
        t.C[None]
        + np.einsum("na,aij->nij", kk, t.Lam)
        + np.einsum("na,nb,abij->nij", kk, kk, t.Q)
    )
    return H[0] if k.ndim == 1 else H


@dataclass(frozen=True)
class BulkResult:
    """Bulk band-edge properties of the 8-band model.

    Attributes
    ----------
    Eg, Delta_so, Ep : float
        Gap, CB spin–orbit splitting, Kane energy [eV] (from the model spectrum at R).
    m_e, m_h : float
        Band-edge masses of the J=½ CB and the VB [m0], both positive for normal bands.
    g_e, g_h : float
        Signed g factors (J convention) of the CB and VB doublets.
    g_e_tensor, g_h_tensor : ndarray of float64, shape (3, 3)
        g tensors (isotropic in cubic symmetry).
    """

    Eg: float
    Delta_so: float
    Ep: float
    m_e: float
    m_h: float
    g_e: float
    g_h: float
    g_e_tensor: np.ndarray
    g_h_tensor: np.ndarray


def _roth_operators(t: BlochTerms, E: np.ndarray, U: np.ndarray, idx: list[int]):
    """Effective M_γ (eV/T) whose doublet projection is the Roth linear-response G·μB."""
    E0 = E[idx[0]]
    others = [m for m in range(len(E)) if m not in idx]
    R = sum(np.outer(U[:, m], U[:, m].conj()) / (E0 - E[m]) for m in others)
    M = []
    for g in range(3):
        orb = np.zeros((8, 8), dtype=complex)
        for a in range(3):
            for b in range(3):
                if LEVI_CIVITA[g, a, b] != 0:
                    orb += LEVI_CIVITA[g, a, b] * (t.Lam[a] @ R @ t.Lam[b])
        M.append(t.Z[g] + MU_B * (1.0 / HBAR2_OVER_M0) * orb / 1j)
    # effective mass tensor w_ab (eV nm²): E = E0 + sum_ab w_ab k_a k_b within the doublet
    return M, R


def bulk_properties(params: KpParameters) -> BulkResult:
    r"""Band edges, masses and g factors of the 8-band model at R.

    Parameters
    ----------
    params : KpParameters

    Returns
    -------
    BulkResult

    Raises
    ------
    perovskite_tb.errors.DegeneracyError
        If a band-edge doublet carries no angular momentum (cannot sign g).

    Notes
    -----
    g from the Roth-type formula of the module docstring; masses from second-order
    perturbation theory, :math:`\hbar^2/2m = \langle Q_{nn}\rangle + \sum_m
    |\langle a|\Lambda_n|m\rangle|^2/(E_0-E_m)` along n = [001] (isotropic for these doublets).
    With zero remote terms: :math:`m_0/m_e = 1 + E_p/3E_g`,
    :math:`m_0/m_h = (E_p/3)[1/E_g + 2/(E_g+\Delta)] - 1` (Kirstein et al., Nat. Commun. 13, 3062 (2022)).

    References
    ----------
    Roth, Lax & Zwerdling, Phys. Rev. 114, 90 (1959); Kirstein et al., Nat. Commun. 13, 3062 (2022).
    """
    t = bloch_terms(params)
    E, U = np.linalg.eigh(t.C)
    # VB doublet = two lowest (S at 0), CB J=1/2 = next two, J=3/2 = top four
    out = {}
    for name, idx in (("h", [0, 1]), ("e", [2, 3])):
        M, R = _roth_operators(t, E, U, idx)
        V = U[:, idx]
        gf = g_tensor(V, M, t.J)
        n = 2  # [001]
        W = V.conj().T @ (t.Q[n, n] + t.Lam[n] @ R @ t.Lam[n]) @ V
        w = float(np.mean(np.linalg.eigvalsh(W)))
        mass = HBAR2_OVER_2M0 / w
        out[name] = (gf, mass if name == "e" else -mass)
    return BulkResult(
        Eg=float(E[2] - E[1]),
        Delta_so=float(E[4] - E[3]),
        Ep=params.Ep,
        m_e=out["e"][1],
        m_h=out["h"][1],
        g_e=out["e"][0].g,
        g_h=out["h"][0].g,
        g_e_tensor=out["e"][0].tensor,
        g_h_tensor=out["h"][0].tensor,
    )
