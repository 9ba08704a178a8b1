r"""Confined 8-band k·p model of a hard-wall cuboid nanocrystal.

Model
-----
The bulk Hamiltonian of :mod:`kp.bulk`, :math:`H(\mathbf k) = C + \sum_\alpha\Lambda_\alpha k_\alpha
+ \sum_{\alpha\beta}Q_{\alpha\beta}k_\alpha k_\beta`, becomes an envelope operator with
:math:`\hat k_\alpha = -i\partial_\alpha` in the box :math:`|x_\alpha| \le L_\alpha/2` (centre at the
origin) and infinite walls (all eight components vanish there). The magnetic field enters by minimal
coupling for the electron charge −e (brief §6.1), :math:`\hat{\mathbf k}\to\hat{\mathbf K} =
\hat{\mathbf k} + (e/\hbar)\mathbf A`, in the symmetric gauge about the gauge origin
:math:`\mathbf r_0` (default: the box centre), :math:`\mathbf A = \tfrac12\mathbf B\times(\mathbf r-
\mathbf r_0)`, with the symmetric (Hermitian) operator ordering

.. math::
    H(\mathbf B) = C + \sum_\alpha \Lambda_\alpha \hat K_\alpha
      + \sum_{\alpha\beta} Q_{\alpha\beta}\,\tfrac12\{\hat K_\alpha,\hat K_\beta\}
      + \sum_\gamma B_\gamma Z_\gamma ,

where :math:`Z_\gamma = \mu_B[g_0S_\gamma + \Delta g_e P_{1/2}J_\gamma P_{1/2}]` (spin Zeeman plus the
remote correction on the J=½ CB, brief §3.5). :math:`H(\mathbf B)` is exact to second order in A
(the A² term included). :math:`M_\gamma = \partial H/\partial B_\gamma|_{B=0}` (eV/T) is formed
analytically; with :math:`\mathbf J = \mathbf L+\mathbf S` of the Bloch functions (envelope angular
momentum not included) the shared extractor :func:`perovskite_tb.gfactor.g_tensor` gives the signed
g tensors (J convention, brief §0).

Envelope basis
--------------
:mod:`kp.envelope`: integrated Legendre polynomials (default; non-orthogonal, sparse, overlap S) or
sines (orthonormal, dense 1D matrices). All operators are Galerkin matrices in that basis; the
eigenproblem is :math:`Hc = ESc`.

Band edges
----------
:mod:`kp.solver`: symmetry blocks (inversion, C4z), dense or shift-invert with an inertia proof,
Kramers completion; a theorem (there) excludes levels in the bulk gap for Foreman sets.

References
----------
Physics brief §3.5, §6.1, §6.2; kirstein2022; dresselhaus1955; foreman1997; shen1994 (basis);
Haynsworth, Linear Algebra Appl. 1, 73 (1968) (inertia additivity of the Schur complement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from perovskite_tb.constants import E_OVER_HBAR
from perovskite_tb.errors import InputError
from perovskite_tb.gfactor import g_tensor

from kp.bulk import _LEVI, BlochTerms, bloch_terms
from kp.envelope import (BASIS_KINDS, DEFAULT_N_BASIS, EnvelopeBasis, EnvelopeOperators, SineBasis,
                       check_edge, default_n_basis, make_basis, spurious_k)
from kp.parameters import NC_DEFAULT_SET, KpParameters, load_kp_parameters
from kp.solver import (SOLVER_METHODS, Doublet, band_edge_doublets, gap_free_conditions,
                     symmetry_actions, time_reverse)

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
    "NcResult",
    "solve_nc",
    "nc_gfactors",
    "spurious_k",
    "nc_default_set",
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


@dataclass(frozen=True)
class KpTerms:
    r"""Confined k·p operators at B = 0 (full basis, index order of :class:`kp.envelope.EnvelopeOperators`).

    Attributes
    ----------
    H0 : scipy.sparse.csr_array of complex128, shape (n, n)
        Hamiltonian at B = 0 [eV], n = basis.n_states.
    M : tuple of 3 csr_array, shape (n, n)
        :math:`\partial H/\partial B_\gamma` at B = 0 [eV/T], γ = x, y, z.
    J : tuple of 3 csr_array, shape (n, n)
        Bloch total angular momentum L + S ⊗ 1_env [ħ].
    parity : ndarray of int64, shape (n,)
        Inversion parity of each basis function.
    is_vb : ndarray of bool, shape (n,)
        True for the s-like (VB) basis functions.
    basis : EnvelopeBasis
    params : KpParameters
    S : csr_array of complex128, shape (n, n)
        Overlap matrix (identity for the sine basis). J and the Zeeman part of M are Bloch ⊗ S.
    """

    H0: sp.csr_array
    M: tuple
    J: tuple
    parity: np.ndarray
    is_vb: np.ndarray
    basis: EnvelopeBasis
    params: KpParameters
    S: sp.csr_array


def _c_matrix(B) -> np.ndarray:
    """c_{αδ} with (e/ħ)A_α = Σ_δ c_{αδ} r_δ, A = ½ B × r  [1/nm² per nm]."""
    B = np.asarray(B, dtype=float)
    return 0.5 * E_OVER_HBAR * np.einsum("abd,b->ad", _LEVI, B)


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
    Physics brief §3.5, §6.1.
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
    S = ops.kron(np.eye(8, dtype=complex), ops.eye())
    return KpTerms(H0=H0, M=tuple(M), J=J, parity=parity, is_vb=is_vb, basis=basis,
                   params=params, S=S)


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


@dataclass(frozen=True)
class NcResult:
    """k·p band-edge properties of one cuboid.

    Attributes
    ----------
    electron, hole : Doublet
    g_e, g_h : perovskite_tb.gfactor.GFactor
    terms : KpTerms
    seconds : float
        Wall time of assembly + solve + g extraction [s].
    """

    electron: Doublet
    hole: Doublet
    g_e: object
    g_h: object
    terms: KpTerms
    seconds: float


def solve_nc(
    params: KpParameters,
    edge_nm,
    *,
    basis: str = "legendre",
    n_basis: int | tuple | None = None,
    ellipsoid: bool = False,
    gauge_origin_nm=(0.0, 0.0, 0.0),
    method: str = "auto",
) -> NcResult:
    """Band-edge doublets and signed g tensors of a hard-wall cuboid NC (k·p).

    Parameters
    ----------
    params : KpParameters
    edge_nm : sequence of 3 floats
        (Lx, Ly, Lz) [nm].
    basis : {"legendre", "sine"}, optional
        Envelope basis kind (:mod:`kp.envelope`).
    n_basis, ellipsoid, gauge_origin_nm
        See :func:`kp.envelope.make_basis`.
    method : {"auto", "dense", "shift-invert"}, optional
        See :func:`band_edge_doublets`.

    Returns
    -------
    NcResult

    Raises
    ------
    InputError, SolverError, DegeneracyError
    """
    t0 = time.perf_counter()
    b = make_basis(params, edge_nm, kind=basis, n_basis=n_basis, ellipsoid=ellipsoid,
                   gauge_origin_nm=gauge_origin_nm)
    terms = assemble(params, b)
    e, h = band_edge_doublets(terms, method=method)
    ge = g_tensor(e.vectors, terms.M, terms.J, overlap=terms.S)
    gh = g_tensor(h.vectors, terms.M, terms.J, overlap=terms.S)
    return NcResult(electron=e, hole=h, g_e=ge, g_h=gh, terms=terms,
                    seconds=time.perf_counter() - t0)


def nc_default_set(material: str) -> str:
    """Default k·p set of the confined model for ``material`` (:data:`kp.parameters.NC_DEFAULT_SET`).

    Raises
    ------
    ParameterError
        Material without a default NC set.
    """
    from perovskite_tb.errors import ParameterError

    if material not in NC_DEFAULT_SET:
        raise ParameterError(f"no default k·p NC set for material {material!r}; known: "
                             f"{sorted(NC_DEFAULT_SET)}")
    return NC_DEFAULT_SET[material]


def nc_gfactors(
    material: str,
    edge_nm: tuple[float, float, float],
    *,
    parameter_set: str | None = None,
    n_basis: int | None = None,
    temperature_K: float | None = None,
    basis: str = "legendre",
) -> dict:
    """k·p electron/hole energies and g factors of a cuboid NC, as a JSON-ready dict.

    Parameters
    ----------
    material : str
        ``"CsPbI3"``, ``"CsPbBr3"``, ``"CsPbCl3"``.
    edge_nm : tuple of 3 floats
        (Lx, Ly, Lz) [nm], finite and > 0.
    parameter_set : str, optional
        k·p set name; default: the set derived from the material's default ETB set
        (:data:`kp.parameters.NC_DEFAULT_SET`, e.g. ``etb-nestoklon2023`` for CsPbI3).
    n_basis : int, optional
        Envelope functions per direction (default :func:`kp.envelope.default_n_basis`: grows as
        √L for the Legendre basis, 6 for sines).
    temperature_K : float, optional
        If given, Eg is shifted by the set's dEg_dT (:meth:`KpParameters.at_temperature`).
    basis : {"legendre", "sine"}, optional
        Envelope basis (:mod:`kp.envelope`); default ``"legendre"``.

    Returns
    -------
    dict
        ``n_states`` (basis size), ``E_e_eV``, ``E_h_eV`` (doublet energies, VB top of bulk = 0),
        ``transition_energy_eV`` (E_e − E_h), ``g_e``, ``g_h`` (scalar, J convention),
        ``g_e_tensor``, ``g_h_tensor`` (3×3 nested lists), ``residual_e_eV``, ``residual_h_eV``,
        ``parameter_set``, ``basis`` (kind), ``n_basis`` (3 ints), ``seconds``.

    Raises
    ------
    InputError
        Bad edge (≤ 0, NaN, wrong length) or temperature.
    ParameterError
        Unknown material or parameter set, or no temperature model.
    SolverError, DegeneracyError
        Eigen-solution problems.
    """
    t0 = time.perf_counter()
    edge = check_edge(edge_nm)
    name = parameter_set if parameter_set is not None else nc_default_set(material)
    params = load_kp_parameters(material, name)
    if temperature_K is not None:
        params = params.at_temperature(temperature_K)
    r = solve_nc(params, edge, basis=basis, n_basis=n_basis)
    return {
        "n_states": int(r.terms.H0.shape[0]),
        "E_e_eV": r.electron.energy,
        "E_h_eV": r.hole.energy,
        "transition_energy_eV": r.electron.energy - r.hole.energy,
        "g_e": r.g_e.g,
        "g_h": r.g_h.g,
        "g_e_tensor": r.g_e.tensor.tolist(),
        "g_h_tensor": r.g_h.tensor.tolist(),
        "residual_e_eV": r.electron.residual,
        "residual_h_eV": r.hole.residual,
        "parameter_set": name,
        "basis": r.terms.basis.kind,
        "n_basis": [int(v) for v in r.terms.basis.n_max],
        "seconds": time.perf_counter() - t0,
    }
