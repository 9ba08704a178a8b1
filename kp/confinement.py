r"""Confined 8-band k·p model of a hard-wall cuboid nanocrystal.

Model
-----
The bulk Hamiltonian of :mod:`kp.bulk`, :math:`H(\mathbf k) = C + \sum_\alpha\Lambda_\alpha k_\alpha
+ \sum_{\alpha\beta}Q_{\alpha\beta}k_\alpha k_\beta`, becomes an envelope operator with
:math:`\hat k_\alpha = -i\partial_\alpha` in the box :math:`|x_\alpha| \le L_\alpha/2` (centre at the
origin) and infinite walls (all eight components vanish there). The magnetic field enters by minimal
coupling for the electron charge −e (the convention of the ETB Peierls phases, Graf & Vogl, Phys. Rev. B 51, 4940 (1995)), :math:`\hat{\mathbf k}\to\hat{\mathbf K} =
\hat{\mathbf k} + (e/\hbar)\mathbf A`, in the symmetric gauge about the gauge origin
:math:`\mathbf r_0` (default: the box centre), :math:`\mathbf A = \tfrac12\mathbf B\times(\mathbf r-
\mathbf r_0)`, with the symmetric (Hermitian) operator ordering

.. math::
    H(\mathbf B) = C + \sum_\alpha \Lambda_\alpha \hat K_\alpha
      + \sum_{\alpha\beta} Q_{\alpha\beta}\,\tfrac12\{\hat K_\alpha,\hat K_\beta\}
      + \sum_\gamma B_\gamma Z_\gamma ,

where :math:`Z_\gamma = \mu_B[g_0S_\gamma + \Delta g_e P_{1/2}J_\gamma P_{1/2}]` (spin Zeeman plus the
remote correction on the J=½ CB; Kirstein et al., Nat. Commun. 13, 3062 (2022)). :math:`H(\mathbf B)` is exact to second order in A
(the A² term included). :math:`M_\gamma = \partial H/\partial B_\gamma|_{B=0}` (eV/T) is formed
analytically; with :math:`\mathbf J = \mathbf L+\mathbf S` of the Bloch functions (envelope angular
momentum not included) the shared extractor :func:`perovskite_tb.gfactor.g_tensor` gives the signed
g tensors (J convention, Kirstein et al., Nat. Commun. 13, 3062 (2022)).

Envelope basis
--------------
:mod:`kp.envelope`: integrated Legendre polynomials (default; non-orthogonal, sparse, overlap S) or
sines (orthonormal, dense 1D matrices). All operators are Galerkin matrices in that basis; the
eigenproblem is :math:`Hc = ESc`.

Band edges
----------
:mod:`kp.solver` supplies the basis symmetry (inversion, C4z), time reversal and the theorem that
excludes levels in the bulk gap for Foreman sets; the shared eigen layer
(:func:`perovskite_tb.eigen.band_edges.solve_terms`) solves with an inertia proof and Kramers completion.

References
----------
Kirstein et al., Nat. Commun. 13, 3062 (2022) (8-band model at R); Graf & Vogl, Phys. Rev. B 51, 4940 (1995) (minimal coupling / Peierls); Roth, Lax & Zwerdling, Phys. Rev. 114, 90 (1959) (g from the
field derivative); Dresselhaus, Kip & Kittel, Phys. Rev. 98, 368 (1955); Foreman, Phys. Rev. B 56,
R12748 (1997); Shen, SIAM J. Sci. Comput. 15, 1489 (1994) (basis);
Haynsworth, Linear Algebra Appl. 1, 73 (1968) (inertia additivity of the Schur complement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from perovskite_tb.constants import E_OVER_HBAR
from perovskite_tb._system import memory_budget_gb
from perovskite_tb.eigen.registry import choose_backend
from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.terms import Terms

from kp.bulk import LEVI_CIVITA, BlochTerms, bloch_terms, bulk_properties
from kp.envelope import (BASIS_KINDS, DEFAULT_N_BASIS, EnvelopeBasis, EnvelopeOperators, SineBasis,
                         default_n_basis, make_basis, spurious_k)
from kp.parameters import NC_DEFAULT_SET, KpParameters
from kp.shapes import box_edges
from kp.solver import (DENSE_MAX_STATES, EDGE_SHIFT_EV, SOLVER_METHODS, Doublet, band_edge_doublets,
                       check_gap_free, gap_free_conditions, kp_symmetry, symmetry_actions, time_reverse)

__all__ = [
    "EnvelopeBasis",
    "SineBasis",
    "KpTerms",
    "make_basis",
    "default_n_basis",
    "assemble",
    "hamiltonian_at_field",
    "Doublet",
    "band_edge_doublets",
    "gap_free_conditions",
    "symmetry_actions",
    "time_reverse",
    "kp_terms",
    "spurious_k",
    "nc_default_set",
    "box_edges",
    "BASIS_KINDS",
    "DEFAULT_N_BASIS",
    "SOLVER_METHODS",
]


def _sum(terms):
    terms = [t for t in terms if t is not None]
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return sp.csr_array(out)


@dataclass(frozen=True, eq=False)
class KpTerms(Terms):
    r"""Confined k·p operators at B = 0: the model protocol :class:`~perovskite_tb.model.terms.Terms`
    plus the k·p basis data (full basis, index order of :class:`kp.envelope.EnvelopeOperators`).

    Attributes
    ----------
    H0 : scipy.sparse.csr_array of complex128, shape (n, n)
        Hamiltonian at B = 0 [eV], n = basis.n_states.
    M : tuple of 3 csr_array, shape (n, n)
        :math:`\partial H/\partial B_\gamma` at B = 0 [eV/T], γ = x, y, z.
    J : tuple of 3 csr_array, shape (n, n)
        Bloch total angular momentum L + S ⊗ 1_env [ħ].
    S : csr_array of complex128, shape (n, n), or None
        Overlap matrix of the Legendre basis; None for the orthonormal sine basis. J and the Zeeman
        part of M are Bloch ⊗ S.
    n_fill : int
        Dimension of the VB space, 2·n_env_vb: the inertia of H − σS for σ in the bulk gap
        (:mod:`kp.solver`, theorem).
    structure : EnvelopeBasis
        Also available as :attr:`basis`.
    params : KpParameters
    parity : ndarray of int64, shape (n,)
        Inversion parity of each basis function.
    is_vb : ndarray of bool, shape (n,)
        True for the s-like (VB) basis functions.
    """

    parity: np.ndarray | None = None
    is_vb: np.ndarray | None = None

    @property
    def basis(self) -> EnvelopeBasis:
        """The envelope basis (= ``structure``)."""
        return self.structure

    @property
    def band_masses(self) -> tuple[float, float]:
        """Bulk band-edge masses (m_e, m_h) of the 8-band set at R, in m0 (:func:`kp.bulk.bulk_properties`;
        equal to the ETB masses for the ETB-derived sets, kp/README.md)."""
        b = bulk_properties(self.params)
        return (float(b.m_e), float(b.m_h))


def _c_matrix(B) -> np.ndarray:
    """c_{αδ} with (e/ħ)A_α = Σ_δ c_{αδ} r_δ, A = ½ B × r  [1/nm² per nm]."""
    B = np.asarray(B, dtype=float)
    return 0.5 * E_OVER_HBAR * np.einsum("abd,b->ad", LEVI_CIVITA, B)


def _field_terms(t: BlochTerms, ops: EnvelopeOperators, c: np.ndarray, quadratic: bool):
    """Σ_α Λ_α⊗a_α + Σ Q⊗(½{k,a}+½{a,k}) [+ Σ Q⊗a a] for the field-coefficient matrix c."""
    terms = []
    for a in range(3):
        for d in range(3):
            if c[a, d] != 0:
                terms.append(ops.kron(c[a, d] * t.Lam[a], ops.r(d)))
    for a in range(3):
        for g in range(3):
            Q = t.Q[a, g]
            if not np.any(Q):
                continue
            for d in range(3):
                if c[g, d] != 0:
                    terms.append(ops.kron(c[g, d] * Q, ops.kr(a, d)))
                if c[a, d] != 0:
                    terms.append(ops.kron(c[a, d] * Q, ops.kr(g, d)))
            if quadratic:
                for d in range(3):
                    for e in range(3):
                        if c[a, d] * c[g, e] != 0:
                            terms.append(ops.kron(c[a, d] * c[g, e] * Q, ops.rr(d, e)))
    return terms


def _h0_terms(t: BlochTerms, ops: EnvelopeOperators):
    terms = [ops.kron(t.C, ops.eye())]
    terms += [ops.kron(t.Lam[a], ops.k(a)) for a in range(3)]
    terms += [ops.kron(t.Q[a, g], ops.kk(a, g)) for a in range(3) for g in range(3)]
    return terms


def assemble(params: KpParameters, basis: EnvelopeBasis) -> KpTerms:
    """Assemble H0, M_γ = ∂H/∂B_γ and J_k of the confined model (module docstring).

    Parameters
    ----------
    params : KpParameters
    basis : EnvelopeBasis

    Returns
    -------
    KpTerms

    References
    ----------
    Kirstein et al., Nat. Commun. 13, 3062 (2022) (8-band model); Graf & Vogl, Phys. Rev. B 51, 4940 (1995) (minimal coupling).
    """
    t = bloch_terms(params)
    ops = EnvelopeOperators(basis)
    H0 = _sum(_h0_terms(t, ops))
    M = []
    for g in range(3):
        e = np.zeros(3)
        e[g] = 1.0
        terms = _field_terms(t, ops, _c_matrix(e), quadratic=False)
        terms.append(ops.kron(t.Z[g], ops.eye()))
        M.append(_sum(terms))
    J = tuple(ops.kron(t.J[k], ops.eye()) for k in range(3))
    parity = np.concatenate([
        np.kron(t.parity[:2], EnvelopeBasis.envelope_parity(basis.triples_vb)),
        np.kron(t.parity[2:], EnvelopeBasis.envelope_parity(basis.triples)),
    ])
    is_vb = np.zeros(basis.n_states, dtype=bool)
    is_vb[: 2 * basis.n_env_vb] = True
    S = None if basis.orthonormal else ops.kron(np.eye(8, dtype=complex), ops.eye())
    return KpTerms(H0=H0, M=tuple(M), J=J, S=S, n_fill=2 * basis.n_env_vb, structure=basis, model="kp",
                   params=params, edge_hint=(0.0, float(params.Eg)), edge_margin=EDGE_SHIFT_EV,
                   symmetry=kp_symmetry(basis, parity), dense_max_states=DENSE_MAX_STATES,
                   parity=parity, is_vb=is_vb)


def hamiltonian_at_field(params: KpParameters, basis: EnvelopeBasis, B_T) -> sp.csr_array:
    """Exact (to all orders in A, i.e. including A²) confined Hamiltonian H(B).

    Parameters
    ----------
    params : KpParameters
    basis : EnvelopeBasis
        Its ``gauge_origin_nm`` is the origin of the symmetric gauge.
    B_T : array_like of float64, shape (3,)
        Magnetic field [T].

    Returns
    -------
    scipy.sparse.csr_array of complex128, shape (n, n)
        H(B) [eV], Hermitian.

    Raises
    ------
    InputError
        If ``B_T`` is not 3 finite numbers.
    """
    B = np.asarray(B_T, dtype=float)
    if B.shape != (3,) or not np.all(np.isfinite(B)):
        raise InputError(f"B must be 3 finite numbers in T, got {B_T}")
    t = bloch_terms(params)
    ops = EnvelopeOperators(basis)
    terms = _h0_terms(t, ops) + _field_terms(t, ops, _c_matrix(B), quadratic=True)
    terms.append(ops.kron(np.einsum("g,gij->ij", B, t.Z), ops.eye()))
    return _sum(terms)


#: Non-zeros per row of the Legendre–Galerkin H0 (≈ 85, kp/README.md), for the memory check.
NNZ_PER_ROW = 85


def check_memory(edge_nm, basis: str = "legendre", n_basis=None, method: str = "auto",
                 max_memory_gb: float | None = None) -> float:
    """Refuse a k·p box whose solve cannot fit in memory, before the basis is built.

    8 N_x N_y N_z states (N per direction: ``n_basis`` or :func:`kp.envelope.default_n_basis`), ≈ 85
    non-zeros per row, two parity blocks, the eigen layer's calibrated estimate
    (:func:`perovskite_tb.eigen.registry.choose_backend`).

    Returns
    -------
    float
        The estimate (GB).

    Raises
    ------
    SolverError
        One line naming the states, the estimate and the budget (GB).
    """
    if n_basis is None:
        N = [default_n_basis(L, basis) for L in edge_nm]
    else:
        N = list(n_basis) if isinstance(n_basis, (tuple, list)) else [n_basis] * 3
    if not all(isinstance(v, (int, np.integer)) and v >= 1 for v in N):
        return 0.0  # make_basis refuses it with its own message
    n = 8 * int(np.prod([float(v) for v in N]))
    _, est = choose_backend(method, n, NNZ_PER_ROW * n, 2, memory_budget_gb(max_memory_gb), generalized=True)
    return est


def kp_terms(
    params: KpParameters,
    edge_nm,
    *,
    basis: str = "legendre",
    n_basis: int | tuple | None = None,
    ellipsoid: bool = False,
    gauge_origin_nm=(0.0, 0.0, 0.0),
    method: str = "auto",
    a_nm: float | None = None,
) -> KpTerms:
    """The :class:`KpTerms` of a hard-wall cuboid NC, ready for :func:`perovskite_tb.nc.solve`.

    Checks the memory estimate before the basis is built and refuses a set that admits levels in the
    bulk gap (:func:`kp.solver.check_gap_free`; Foreman, Phys. Rev. B 56, R12748 (1997)).

    Parameters
    ----------
    params : KpParameters
    edge_nm : sequence of 3 floats, or ShapeSpec
        (Lx, Ly, Lz) (nm), or a cube/cuboid :class:`~perovskite_tb.model.shapes.ShapeSpec` with
        ``a_nm`` (:func:`kp.shapes.box_edges`; spheres and spheroids are refused).
    basis : {"legendre", "sine"}, optional
        Envelope basis kind (:mod:`kp.envelope`).
    n_basis, ellipsoid, gauge_origin_nm
        See :func:`kp.envelope.make_basis`.
    method : str, optional
        Solver back-end, for the memory estimate.
    a_nm : float, optional
        Lattice constant (nm) for a ShapeSpec.

    Returns
    -------
    KpTerms

    Raises
    ------
    InputError
        Bad edges or basis; a shape other than a box.
    SolverError
        Memory estimate above the budget.
    ParameterError
        A set that is not gap-free.
    """
    edges = box_edges(edge_nm, a_nm)
    check_memory(edges, basis, n_basis, method)
    b = make_basis(params, edges, kind=basis, n_basis=n_basis, ellipsoid=ellipsoid,
                   gauge_origin_nm=gauge_origin_nm)
    terms = assemble(params, b)
    check_gap_free(params)
    return terms


def nc_default_set(material: str) -> str:
    """Default k·p set of the confined model for ``material`` (:data:`kp.parameters.NC_DEFAULT_SET`).

    Raises
    ------
    ParameterError
        Material without a default NC set.
    """
    if material not in NC_DEFAULT_SET:
        raise ParameterError(f"no default k·p NC set for material {material!r}; known: "
                             f"{sorted(NC_DEFAULT_SET)}")
    return NC_DEFAULT_SET[material]
