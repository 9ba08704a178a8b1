r"""Model-agnostic Zeeman / g-factor extraction for Kramers doublets.

Fed by the ETB (:mod:`perovskite_tb.model.hamiltonian`) and the k·p models (:mod:`kp`) alike: a model
provides the two orthonormal states of a doublet, the field-derivative operators
:math:`M_\gamma = \partial H/\partial B_\gamma` (eV/T) at B = 0 and the total angular-momentum
operators :math:`J_k = L_k + S_k` (units of ħ) that fix the sign of g.

Sign convention (the "J convention" of Kirstein et al. 2022)
------------------------------------------------------------
The Zeeman Hamiltonian of a doublet is :math:`H_Z = \tfrac12 \mu_B\, \mathbf B\cdot g\,\tilde{\boldsymbol\sigma}`
with pseudospin Pauli matrices :math:`\tilde\sigma` chosen so that the pseudospin "+" state has
positive :math:`\langle J_B\rangle`, i.e. :math:`P J_k P = c\,\tilde\sigma_k/2`-like with a positive
factor. For a general (non-cubic) doublet the pseudospin frame is the orthogonal polar factor of the
3×3 matrix :math:`j_{kl} = \mathrm{Tr}(P J_k P\,\sigma_l)`; an improper polar factor flips the sign of
all g components. For cubic doublets the tensor is isotropic and the scalar g is its trace / 3.
With this convention the published formulas hold: g_e > 0, g_h(CsPbI3) < 0
(Kirstein et al., Nat. Commun. 13, 3062 (2022), Eqs. 5–6).

References
----------
Kirstein et al., Nat. Commun. 13, 3062 (2022); Roth, Lax & Zwerdling, Phys. Rev. 114, 90 (1959); Nestoklon et al., Nano Lett. 23, 8218 (2023).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from perovskite_tb.constants import MU_B
from perovskite_tb.errors import DegeneracyError, InputError

__all__ = ["GFactor", "g_tensor", "zeeman_values", "g_from_splitting", "signed_g_from_levels", "PAULI"]

#: Pauli matrices σx, σy, σz, shape (3, 2, 2), complex128.
PAULI = np.array(
    [[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128
)


@dataclass(frozen=True)
class GFactor:
    """Signed g tensor of one Kramers doublet.

    Attributes
    ----------
    tensor : ndarray of float64, shape (3, 3)
        g tensor in the J-aligned pseudospin frame, :math:`H_Z = \\tfrac12\\mu_B B_\\gamma
        g_{\\gamma k}\\tilde\\sigma_k`. Rows: field direction x, y, z (lab frame).
    g : float
        Scalar g = trace(tensor)/3 (exact for cubic, isotropic doublets).
    anisotropy : float
        max |singular value − |g|| of the tensor, a measure of non-isotropy (0 for cubes).
    j_tensor : ndarray of float64, shape (3, 3)
        :math:`j_{kl} = \\mathrm{Tr}(P J_k P\\sigma_l)` in the solver's frame (diagnostic; its
        singular values are 2|⟨J⟩| of the pseudospin states).
    """

    tensor: np.ndarray
    g: float
    anisotropy: float
    j_tensor: np.ndarray

    def along(self, direction) -> float:
        """Signed g for a field along ``direction`` (3 floats, normalised internally).

        The splitting is μB B |gᵀd̂|; the sign is that of ⟨J·d̂⟩ in the upper state (J convention, module docstring), i.e.
        sign(d̂ᵀ Q gᵀd̂) with Q = U s Uᵀ the positive ⟨J⟩ matrix in the J-aligned frame. This is the
        quantity a ±B finite-field calculation measures (:func:`g_from_splitting`).
        """
        d = np.asarray(direction, dtype=float)
        d = d / np.linalg.norm(d)
        n = self.tensor.T @ d
        mag = float(np.linalg.norm(n))
        U, s, _ = np.linalg.svd(self.j_tensor)
        Q = (U * s) @ U.T
        return float(np.sign(d @ Q @ n) or 1.0) * mag


def _project(op, V: np.ndarray) -> np.ndarray:
    """Return V† op V (2×2) for a sparse, dense or LinearOperator-like ``op``."""
    return V.conj().T @ (op @ V)


def g_tensor(
    V: np.ndarray,
    M: Sequence,
    J: Sequence,
    *,
    j_min: float = 1e-3,
    overlap=None,
) -> GFactor:
    r"""Signed g tensor of a Kramers doublet from first-order degenerate perturbation theory.

    Parameters
    ----------
    V : ndarray of complex128, shape (n, 2)
        Orthonormal basis of the doublet at B = 0 (:math:`V^\dagger S V = 1` with ``overlap`` S).
    M : sequence of 3 operators, each (n, n)
        :math:`M_\gamma = \partial H/\partial B_\gamma` at B = 0 in eV/T (sparse, dense or any object
        with ``@``). Must be Hermitian.
    J : sequence of 3 operators, each (n, n)
        Total angular momentum :math:`J_k = L_k + S_k` in units of ħ, used only for the sign.
    j_min : float, optional
        Smallest acceptable singular value of the j matrix (the pseudospin must carry some ⟨J⟩).
    overlap : operator (n, n), optional
        Overlap matrix S of a non-orthogonal basis (e.g. the Legendre envelope basis of
        :mod:`kp.envelope`); ``M`` and ``J`` are then the Galerkin matrices ⟨φ_i|·|φ_j⟩ in that
        basis. Default: orthonormal basis (S = 1).

    Returns
    -------
    GFactor

    Raises
    ------
    InputError
        If ``V`` does not have shape (n, 2) or is not orthonormal.
    DegeneracyError
        If ⟨J⟩ in the doublet is too small to define the sign (j singular value < ``j_min``).

    Notes
    -----
    .. math:: G_\gamma = V^\dagger M_\gamma V / \mu_B = \tfrac12 \sum_l g^{raw}_{\gamma l}\sigma_l,
              \quad g^{raw}_{\gamma l} = \mathrm{Tr}(G_\gamma \sigma_l),
              \quad g = g^{raw} O^T,

    where O is the orthogonal polar factor of :math:`j_{kl}` (module docstring: J convention).
    """
    V = np.asarray(V)
    if V.ndim != 2 or V.shape[1] != 2:
        raise InputError(f"doublet basis must have shape (n, 2), got {V.shape}")
    gram = V.conj().T @ (V if overlap is None else overlap @ V)
    if not np.allclose(gram, np.eye(2), atol=1e-8):
        raise InputError("doublet basis vectors are not orthonormal")
    g_raw = np.empty((3, 3))
    j = np.empty((3, 3))
    for gam in range(3):
        G = _project(M[gam], V) / MU_B
        Jk = _project(J[gam], V)
        for l in range(3):
            g_raw[gam, l] = np.real(np.trace(G @ PAULI[l]))
            j[gam, l] = np.real(np.trace(Jk @ PAULI[l]))
    U, s, Wh = np.linalg.svd(j)
    if s.min() < j_min:
        raise DegeneracyError(
            f"pseudospin frame undefined: smallest singular value of <J> matrix is {s.min():.2e} "
            f"(< {j_min}); the doublet carries no angular momentum along some axis"
        )
    O = U @ Wh  # orthogonal polar factor, possibly improper (det = -1)
    tensor = g_raw @ O.T
    g = float(np.trace(tensor) / 3.0)
    sv = np.linalg.svd(tensor, compute_uv=False)
    anis = float(np.max(np.abs(sv - abs(g))))
    return GFactor(tensor=tensor, g=g, anisotropy=anis, j_tensor=j)


def zeeman_values(V: np.ndarray, M: Sequence, J: Sequence, *, overlap=None) -> np.ndarray:
    r"""First-order Zeeman energies of a degenerate multiplet along x, y and z, in units of μB.

    Degenerate perturbation theory: for a field B along axis γ the multiplet splits into the
    eigenvalues of :math:`V^\dagger M_\gamma V\,B`; this returns those eigenvalues divided by μB
    (dimensionless, i.e. the energy per μB·B). Each row is ordered by decreasing
    :math:`\langle J_\gamma\rangle` of its eigenvector, so a Kramers doublet gives
    :math:`(+g_{\gamma}/2, -g_{\gamma}/2)` with g signed in the J convention of the module docstring
    (Kirstein et al., Nat. Commun. 13, 3062 (2022)), and a quartet with :math:`J = 3/2`-like states gives
    the values of :math:`m_J = +3/2, +1/2, -1/2, -3/2` in that order.

    Parameters
    ----------
    V : ndarray of complex128, shape (n, d)
        Orthonormal basis of the multiplet (:math:`V^\dagger S V = 1` with ``overlap`` S).
    M : sequence of 3 operators (n, n)
        :math:`\partial H/\partial B_\gamma` (eV/T), Hermitian.
    J : sequence of 3 operators (n, n)
        Total angular momentum (ħ), for the order.
    overlap : operator (n, n), optional
        Overlap of a non-orthogonal basis (``M`` and ``J`` are then Galerkin matrices).

    Returns
    -------
    ndarray of float64, shape (3, d)
        Rows x, y, z; values in μB (energy / (μB B)).

    Raises
    ------
    InputError
        ``V`` not two-dimensional or not orthonormal.
    """
    V = np.asarray(V)
    if V.ndim != 2:
        raise InputError(f"multiplet basis must have shape (n, d), got {V.shape}")
    d = V.shape[1]
    gram = V.conj().T @ (V if overlap is None else overlap @ V)
    if not np.allclose(gram, np.eye(d), atol=1e-8):
        raise InputError("multiplet basis vectors are not orthonormal")
    out = np.empty((3, d))
    for gam in range(3):
        G = _project(M[gam], V) / MU_B
        w, U = np.linalg.eigh(0.5 * (G + G.conj().T))
        Jg = _project(J[gam], V)
        jz = np.real(np.einsum("ia,ij,ja->a", U.conj(), Jg, U))
        out[gam] = w[np.argsort(-jz, kind="stable")]
    return out


def signed_g_from_levels(
    E_pair: np.ndarray, V_pair: np.ndarray, J_B, B_T: float
) -> float:
    r"""Signed g along a field from the exact splitting of a doublet at finite field.

    Parameters
    ----------
    E_pair : ndarray of float64, shape (2,)
        The two doublet energies at field B (eV), any order.
    V_pair : ndarray of complex128, shape (n, 2)
        Corresponding eigenvectors.
    J_B : operator (n, n)
        :math:`\hat B\cdot J` (units of ħ) used for the sign.
    B_T : float
        Field magnitude (T), > 0.

    Returns
    -------
    float
        g = ±(E_upper − E_lower)/(μB B), signed by ⟨J_B⟩ of the upper state (J convention).

    Raises
    ------
    InputError
        If ``B_T`` is not positive.
    """
    if not B_T > 0:
        raise InputError(f"field magnitude must be > 0 T, got {B_T} T")
    order = np.argsort(E_pair)
    lo, hi = order
    split = (E_pair[hi] - E_pair[lo]) / (MU_B * B_T)
    v = V_pair[:, hi]
    jb = float(np.real(np.vdot(v, J_B @ v)))
    return float(np.sign(jb) * split) if jb != 0 else float(split)


def g_from_splitting(
    solve_doublet: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    J: Sequence,
    direction: np.ndarray,
    *,
    B_T: float = 0.05,
) -> float:
    r"""Finite-field g along ``direction`` by symmetric ±B differences of exact spectra.

    Parameters
    ----------
    solve_doublet : callable
        ``solve_doublet(B_vec) -> (E (2,), V (n, 2))`` returns the two levels of the doublet at the
        field vector ``B_vec`` (T) computed with the *exact* field dependence (e.g. full Peierls
        phases).
    J : sequence of 3 operators (n, n)
        Total angular momentum for the sign.
    direction : ndarray of float64, shape (3,)
        Field direction (normalised internally).
    B_T : float, optional
        Field magnitude (T). Default 0.05 T.

    Returns
    -------
    float
        :math:`g = [g(+B) + g(-B)]/2` where each term is the signed splitting / μB B; the average
        removes the (even) O(B²) asymmetry, leaving an O(B²) relative error.

    Raises
    ------
    InputError
        If ``direction`` is zero or ``B_T`` not positive.
    """
    d = np.asarray(direction, dtype=float)
    norm = np.linalg.norm(d)
    if not norm > 0:
        raise InputError("field direction must be a non-zero vector")
    d = d / norm
    J_B = sum(d[k] * J[k] for k in range(3))
    gs = []
    for sgn in (+1.0, -1.0):
        E, Vp = solve_doublet(sgn * B_T * d)
        gs.append(sgn * signed_g_from_levels(E, Vp, J_B, B_T) * 1.0)
    # For B → −B the upper state has the opposite <J_B> (w.r.t. the fixed direction d)
    # so the sign flips; multiply by sgn to restore g along d.
    return float(0.5 * (gs[0] + gs[1]))
