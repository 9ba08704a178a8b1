r"""Excitons, trions and biexcitons of a solved nanocrystal: fine structure, lifetimes, g, binding energies.

Physics
-------
Single-particle basis: the lowest N Kramers doublets of electrons and of holes (completed to whole
multiplets) of :attr:`SolvedNanocrystal.spectrum`. Many-body Hamiltonian, configuration interaction
and sectors: :mod:`._ci` (Franceschetti, Wang, Fu & Zunger, PRB 58, R13367 (1998); Leung & Whaley,
PRB 56, 7455 (1997)). Two-body integrals ⟨ab|v|cd⟩ from the grid Coulomb operator of
:mod:`.coulomb_integrals` (dielectric mismatch included) with three additions:

* **Long-range e–h exchange** = the Coulomb energy of the ETB transition densities ρ_cv(i) =
  Σ_{α∈i} c*_{iα} v_{iα} on the atoms (monopoles). By the continuity identity
  (E_c − E_v) ρ_cv(i) = ⟨c|[H, n_i]|v⟩ these charges are exactly the polarisation charges −∇·P of the
  bond transition currents of the velocity operator v = (i/ħ)[H, r] with the ETB positions (the
  Peierls velocity of the g-factor code), so their interaction is the dipole–dipole (long-range)
  exchange, with the NC shape and the images. Intra-atomic dipoles ⟨6s|r|6p⟩ are not in the model
  (as in the Peierls velocity). Screened by ε∞ in every screening model (interband process).
* **Short-range e–h exchange** (on-site, unscreened): the Pb 6s–6p products of ρ_cv, which the
  monopole misses. With d^{ab}_{ik} = Σ_σ (a*_{i p_k σ} b_{i s σ} + a*_{i s σ} b_{i p_k σ}) on Pb atom i,
  ⟨c v'|v|v c'⟩_SR = (G¹(6s,6p)/3) Σ_{ik} d^{cv}_{ik} d^{v'c'}_{ik} (Slater–Condon exchange integral of
  an s and a p_k orbital; Franceschetti et al. 1998). G¹ is fitted (:func:`pb_exchange_G1`) to the
  Pb²⁺ 6s6p levels (``parameters/excitons.toml``). Applied to the e–h exchange channel only.
* **Self-energies**: Σ = ½ ∬ n̄ G_pol n̄ of each multiplet's mean density (image part; Brus, J. Chem.
  Phys. 80, 4403 (1984), the convention of :mod:`.coulomb`), added to every electron and hole level
  in X, X±, XX alike (off-diagonal image self-energy between levels neglected).

Screening of the direct terms and self-energies: :mod:`.screening` (ε∞, ε_s, Haken polaron).

Exciton observables (``exciton_json``): the lowest four X states are the band-edge manifold; the three
with the largest |⟨X|r|0⟩|² are bright, the fourth dark. Δ_BD = mean(bright) − dark.
Transition dipoles ⟨c|r|v⟩ = Σ_i R_i ρ_cv(i) (ETB positions; equal to ⟨c|v̂|v⟩ħ/(i(E_c − E_v)) of
the velocity operator for exact eigenstates). Radiative rate of a bright state in a host of index
n_out = √ε_out, with the local-field factor of a spherical emitter f = 3ε_out/(2ε_out + ε∞)
(Glauber & Lewenstein, PRA 43, 467 (1991); real-cavity form)

.. math:: \Gamma = \frac{n_{out}\,\omega^3 f^2 |e\,\mathbf d|^2}{3\pi\varepsilon_0\hbar c^3},
          \qquad \hbar\omega = E_X .

Bright-exciton g: the exciton Zeeman block Z = M^z_e ⊗ 1 − 1 ⊗ (M^z_v)ᵀ (from the carriers' M = ∂H/∂B)
projected on the bright triplet; g_X_bright = (E(⟨J_z⟩ max) − E(⟨J_z⟩ min))/(μ_B B) of its eigenstates,
J_z built the same way from the carriers' J.

Binding energies (positive = bound): E_b(X⁻) = E(X) + E(e) − E(X⁻), E_b(X⁺) = E(X) + E(h) − E(X⁺),
E_b(XX) = 2E(X) − E(XX), each from the CI in the same basis.

k·p boxes (model "kp": cubes and cuboids, :func:`kp.confinement.kp_terms`) go through the same
functions. A k·p state is Ψ = Σ_b F_b u_b over the eight Bloch functions (orthonormal, cell-averaged)
in the Luttinger–Kohn representation, where the position operator is the envelope coordinate r, so
the pair density of any two states is ρ_ab(r) = Σ_b F^a_b*(r) F^b_b(r) (:mod:`.coulomb_kp`), sampled
on the nodes of the box operator (:meth:`.CoulombOperator.for_envelope`, dielectric mismatch
included). From it, exactly as for ETB:

* direct terms J_ee, J_hh, J_eh and the self-energies Σ of each multiplet's mean density, in every
  screening model (ε∞, ε_s, Haken polaron with the 8-band bulk masses :attr:`KpTerms.band_masses`);
* **long-range e–h exchange** = the Coulomb energy of the transition densities ρ_cv, screened by ε∞.
  In the 8-band model ρ_cv is carried by the components admixed by the Kane coupling (the s-like
  part of the electron, the p-like part of the hole), and the continuity identity
  (E_c − E_v) ρ_cv = ⟨c|[H, n(r)]|v⟩ makes it the polarisation charge −∇·P_cv of the transition
  current of the velocity ħv = ∂H/∂k = Λ + 2Σ_β Q_αβ k_β, whose leading term Λ is the Kane
  matrix element P = ħ⟨S|p|X⟩/m0 (E_p = 2m0P²/ħ², the ``Ep`` of the k·p set) times the envelope
  overlap — the envelope treatment of the long-range exchange and of the oscillator strength in
  Becker et al., Nature 553, 189 (2018), Methods, and Sercel, Lyons, Bernstein & Efros, J. Chem.
  Phys. 151, 234106 (2019) [REC: approach as recalled, formulas not re-read here];
* transition dipoles d_cv = ⟨c|r|v⟩ = Σ_nodes R ρ_cv(R) (first moment of the same density; equal to
  the velocity form −i⟨c|∂H/∂k|v⟩/(E_c − E_v) to < 1 % at 4–8 nm, a test), hence the radiative rates
  with the same Γ formula and local-field factor as ETB;
* bright-exciton g from the exciton Zeeman block of the k·p M = ∂H/∂B (Galerkin matrices, so
  ⟨c|M|c'⟩ = c†Mc' in the non-orthogonal Legendre basis too).

There are no atoms, hence **no short-range (on-site) e–h exchange** and no sourced bulk constant to
replace it: Δ_BD of k·p is the long-range part only (``exciton_json(...)["reason"]`` says so). The
box is hard-walled: no surface charge, the densities vanish at the walls. Spheres and spheroids are
refused (:func:`check_exciton_request`; the k·p model has boxes only).

Public functions: :func:`exciton_levels`, :func:`exciton_json`, :func:`trion_biexciton`,
:func:`exciton_convergence`, :func:`extrapolate_basis`, :func:`pb_exchange_G1`. The registered observables
(``exciton_bright_dark`` meV, ``g_X_bright``, ``radiative_lifetime`` ps = 3/ΣΓ of the bright triplet)
are NaN unless ``solved.context["excitons"]`` is truthy; ``context["screening"]`` and
``context["exciton_doublets"]`` select the model and the basis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.constants as sc

from perovskite_tb._system import blas_threads
from perovskite_tb.constants import MU_B
from perovskite_tb.errors import InputError
from perovskite_tb.observables import Observable, register
from perovskite_tb.observables import _ci
from perovskite_tb.observables.coulomb_grid import COULOMB_EV_NM
from perovskite_tb.observables.coulomb_integrals import CoulombOperator
from perovskite_tb.observables.screening import (
    check_screening,
    load_exciton_table,
    screening_for,
    yukawa_kernel_fft,
    yukawa_potential,
)

__all__ = [
    "DEFAULT_DOUBLETS",
    "MAX_DOUBLETS",
    "ExcitonLevels",
    "pb_exchange_G1",
    "exciton_levels",
    "exciton_json",
    "trion_biexciton",
    "exciton_convergence",
    "extrapolate_basis",
    "check_exciton_request",
    "exciton_context",
    "KP_EXCHANGE_NOTE",
    "KP_SHAPES",
]

#: Default basis: Kramers doublets per carrier. Chosen from the convergence study of docs/excitons.md
#: (CsPbBr3 5.9 nm, ε∞): from N = 8 to N = 12 X⁺ moves by 1.6 meV, XX by 2.2, Δ_BD by 0.3 (from N = 4 to 8:
#: X⁻ by 10, XX by 4); N = 8 keeps a 16 nm NC within 10 min on 2 cores. Still not converged: see
#: :func:`extrapolate_basis`.
DEFAULT_DOUBLETS = 8
#: Largest accepted basis.
MAX_DOUBLETS = 12
_CM1_EV = sc.h * sc.c * 100 / sc.e
#: What the k·p exciton fine structure leaves out (``exciton_json(...)["reason"]``).
KP_EXCHANGE_NOTE = ("k·p: e–h exchange is the long-range part only (Coulomb energy of the envelope transition "
                    "densities); no atoms, so no short-range on-site exchange and no sourced bulk constant for it")
#: Shapes whose k·p model exists (hard-wall boxes).
KP_SHAPES = ("cube", "cuboid")


# ---------------------------------------------------------------------------------------- constants
@lru_cache(maxsize=1)
def pb_exchange_G1() -> dict:
    r"""G¹(6s,6p) of Pb²⁺ (eV) from the 6s6p levels in intermediate coupling.

    sp configuration (Condon & Shortley 1935): E(³P₂) = F + ζ/2 − G/3, E(³P₀) = F − ζ − G/3, and the
    J = 1 pair from [[F − G/3 − ζ/2, ζ/√2], [ζ/√2, F + G/3]]; (F, G¹, ζ) by least squares on the four
    Pb III levels of ``parameters/excitons.toml`` (NIST ASD).

    Returns
    -------
    dict
        ``G1_eV``, ``zeta_eV``, ``F_eV``, ``rms_cm1`` (fit residual), ``source``.
    """
    from scipy.optimize import least_squares

    t = load_exciton_table()["Pb2plus"]["levels"]
    obs = np.array([t["3P0"], t["3P1"], t["3P2"], t["1P1"]], dtype=float)

    def model(x):
        F, G, z = x
        e3 = F - G / 3
        m = np.array([[e3 - z / 2, z / math.sqrt(2)], [z / math.sqrt(2), F + G / 3]])
        lo, hi = np.linalg.eigvalsh(m)
        return np.array([e3 - z, lo, e3 + z / 2, hi])

    r = least_squares(lambda x: model(x) - obs, x0=[75000.0, 30000.0, 12000.0])
    F, G, z = r.x
    return {"G1_eV": G * _CM1_EV, "zeta_eV": z * _CM1_EV, "F_eV": F * _CM1_EV,
            "rms_cm1": float(np.sqrt(np.mean(r.fun**2))), "source": str(t.get("source", ""))}


# ---------------------------------------------------------------------------------------- basis
def _check_doublets(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= MAX_DOUBLETS:
        raise InputError(
            f"exciton basis must be an integer number of Kramers doublets in 1..{MAX_DOUBLETS}, got {n!r}"
        )
    return int(n)


def _basis(multiplets, n_doublets: int, carrier: str):
    """Columns, energies and multiplet index of the lowest ``n_doublets`` doublets (whole multiplets)."""
    vecs, en, mult, count = [], [], [], 0
    for i, m in enumerate(multiplets):
        if count >= 2 * n_doublets:
            break
        vecs.append(np.asarray(m.vectors))
        en += [float(m.energy)] * int(m.degeneracy)
        mult += [i] * int(m.degeneracy)
        count += int(m.degeneracy)
    if count < 2 * n_doublets:
        raise InputError(
            f"an exciton basis of {n_doublets} {carrier} doublets needs the spectrum to hold them: "
            f"solve with levels >= {n_doublets} (has {count // 2})"
        )
    return np.hstack(vecs), np.array(en), np.array(mult)


# ---------------------------------------------------------------------------------------- integrals
class _Space:
    """Densities in a reduced space (ETB: atoms; k·p: grid nodes) and potentials projected back."""

    def __init__(self, solved, op: CoulombOperator):
        self.etb = solved.model == "etb"
        self.op = op
        self.n_orb = solved.terms.params.n_orb if self.etb else None

    def dens(self, A, B, pairs="all"):
        """(k_A·k_B, n_red) complex pair densities ρ_ab, index a·k_B + b (or (k, n_red) for columns)."""
        if self.etb:
            a = A.reshape(-1, self.n_orb, A.shape[1])
            b = B.reshape(-1, self.n_orb, B.shape[1])
            if pairs == "columns":
                return np.einsum("ioa,ioa->ai", np.conj(a), b)
            return np.einsum("ioa,iob->abi", np.conj(a), b).reshape(A.shape[1] * B.shape[1], -1)
        q = self.op.charges_from_states(A, B, pairs=pairs)
        return q.reshape(-1, int(np.prod(self.op.shape)))

    def nodes(self, rho):
        if self.etb:
            return np.moveaxis(self.op._deposit @ rho.T, 1, 0).reshape((-1,) + self.op.shape)
        return rho.reshape((-1,) + self.op.shape)

    def back(self, v):
        v = v.reshape(v.shape[0], -1)
        return (self.op._deposit.T @ v.T).T if self.etb else v

    def potential(self, rho, op=None, part="total"):
        """Projected potentials (n, n_red) of densities (n, n_red)."""
        op = op or self.op
        out = []
        for k in range(0, rho.shape[0], 16):
            out.append(self.back(op.potential(self.nodes(rho[k:k + 16]), part)))
        return np.vstack(out)

    def yukawa(self, rho, ell):
        """Projected Σ q e^{-r/ℓ}/r potentials (homogeneous, 1/nm) of densities (n, n_red)."""
        kf = yukawa_kernel_fft(self.op.shape, self.op.grid.h, ell)
        out = []
        for q in self.nodes(rho):
            v = yukawa_potential(np.ascontiguousarray(q.real), self.op.grid.h, kf).astype(complex)
            if np.iscomplexobj(q) and q.imag.any():
                v = v + 1j * yukawa_potential(np.ascontiguousarray(q.imag), self.op.grid.h, kf)
            out.append(v)
        return self.back(np.array(out))


def _bilinear(Ra, Pb, Rb, Pa):
    """½ e²/(4πε0) (Σ ρ_a P[ρ_b] + Σ ρ_b P[ρ_a]) → (n_a, n_b), eV."""
    return 0.5 * COULOMB_EV_NM * (Ra @ Pb.T + (Rb @ Pa.T).T)


@dataclass
class _Integrals:
    eps_e: np.ndarray
    eps_h: np.ndarray
    E_c: np.ndarray
    E_v: np.ndarray
    mult_c: np.ndarray
    mult_v: np.ndarray
    We: np.ndarray
    Wh: np.ndarray
    Jd: np.ndarray  # W[c, v', c', v] as [c, c', v', v]
    K: np.ndarray  # W[c, v', v, c'] as [c, v, c', v'] (LR + SR)
    K_sr: np.ndarray
    sigma_e: np.ndarray
    sigma_h: np.ndarray
    r_cv: np.ndarray | None  # (nC, nV, 3) e·nm
    C: np.ndarray
    V: np.ndarray
    screening: object
    seconds: dict

    def sliced(self, nC, nV):
        c, v = slice(0, nC), slice(0, nV)
        return _Integrals(
            self.eps_e[c], self.eps_h[v], self.E_c[c], self.E_v[v], self.mult_c[c], self.mult_v[v],
            self.We[c, c, c, c], self.Wh[v, v, v, v], self.Jd[c, c, v, v], self.K[c, v, c, v],
            self.K_sr[c, v, c, v], self.sigma_e[c], self.sigma_h[v],
            None if self.r_cv is None else self.r_cv[c, v], self.C[:, c], self.V[:, v],
            self.screening, self.seconds)

    def U(self, exchange=True):
        """e–h block U[c, v, c', v'] = −W[c v' c' v] + W[c v' v c'] (eV)."""
        U = -np.transpose(self.Jd, (0, 3, 1, 2))  # [c, v, c', v'] from [c, c', v', v]
        return U + self.K if exchange else U


def _sp_vectors(A, B, structure, params):
    """d^{ab}_{ik} of the Pb atoms: (k_A·k_B, n_Pb·3), on-site s–p products (real orbitals)."""
    orbs = list(params.orbitals)
    s, p = orbs.index("s"), [orbs.index(o) for o in ("px", "py", "pz")]
    pb = np.flatnonzero(np.asarray(structure.species) == 0)
    n_orb = params.n_orb
    a = A.reshape(-1, n_orb // 2, 2, A.shape[1])[pb]
    b = B.reshape(-1, n_orb // 2, 2, B.shape[1])[pb]
    d = (np.einsum("iksa,isb->abik", np.conj(a[:, p]), b[:, s])
         + np.einsum("isa,iksb->abik", np.conj(a[:, s]), b[:, p]))
    return d.reshape(A.shape[1] * B.shape[1], -1)


def _operators(solved, scr):
    """(op_direct, op_exchange) Coulomb operators of the NC, cached on ``solved``."""
    def build(eps):
        def f(s):
            if s.model == "etb":
                return CoulombOperator.for_structure(s.structure, eps, scr.eps_out)
            basis = getattr(s.terms, "basis", None) or s.terms.structure
            return CoulombOperator.for_envelope(basis, eps, scr.eps_out)
        return solved.cached(f"exciton_op_{eps:.6g}_{scr.eps_out:.6g}", f)
    return build(scr.eps_direct), build(scr.eps_inf)


def _multiplet_norms(R, n, mult):
    """k·p: 1/√(mean grid norm of each state's multiplet), shape (n,), from the diagonal pair densities.

    The box operator scales a whole set of states by one factor (mean grid norm 1); rescaling each
    multiplet by its own mean instead makes the density of every multiplet integrate to exactly 1 on
    the grid (the renormalisation of :func:`.coulomb.coulomb_envelope`), unitary-invariant within a
    degenerate multiplet, and independent of the other states in the basis — so the integrals of N
    doublets are the same whether computed alone or sliced from a larger basis.
    """
    norms = R[np.arange(n) * n + np.arange(n)].real.sum(axis=1)
    out = np.empty(n)
    for m in np.unique(mult):
        out[mult == m] = 1.0 / math.sqrt(float(norms[mult == m].mean()))
    return out


def _dielectric(solved):
    eps = solved.context.get("dielectric")
    if eps is None:
        raise InputError("excitons need the dielectric constants (eps_in, eps_out): solve with dielectric='default'")
    return float(eps[0]), float(eps[1])


def _compute_integrals(solved, n_doublets: int, screening: str) -> _Integrals:
    import time
    t0 = time.perf_counter()
    eps_in, eps_out = _dielectric(solved)
    scr = screening_for(screening, solved.context.get("material", ""), eps_in, eps_out,
                        masses=solved.terms.band_masses if screening == "polaron" else None)
    C, E_c, mc = _basis(solved.spectrum.electron, n_doublets, "electron")
    V, E_v, mv = _basis(solved.spectrum.hole, n_doublets, "hole")
    nC, nV = C.shape[1], V.shape[1]
    op_d, op_x = _operators(solved, scr)
    sp = _Space(solved, op_d)
    t1 = time.perf_counter()
    Rc, Rv = sp.dens(C, C), sp.dens(V, V)
    if not sp.etb:  # k·p: each multiplet's density integrates to 1 on the grid (as coulomb_envelope's)
        wc, wv = _multiplet_norms(Rc, nC, mc), _multiplet_norms(Rv, nV, mv)
        Rc, Rv = Rc * np.outer(wc, wc).reshape(-1, 1), Rv * np.outer(wv, wv).reshape(-1, 1)

    def direct_pot(R, n, ells):
        iu = np.triu_indices(n)
        flat = iu[0] * n + iu[1]
        P_up = sp.potential(R[flat], op_d)
        if scr.name == "polaron":
            y = sum(sp.yukawa(R[flat], ell) for ell in ells) / len(ells)
            P_up = P_up + y / scr.eps_star
        P = np.empty_like(R)
        P[flat] = P_up
        P[iu[1] * n + iu[0]] = np.conj(P_up)
        return P

    if scr.name == "polaron":
        le, lh = scr.ell_nm
        # e–e: ℓ_e; h–h: ℓ_h; e–h: (e^{-r/ℓe} + e^{-r/ℓh})/2: linear in the kernel, so the e–h
        # block uses ½(P_e[ρ_cc'] + P_h[ρ_cc']) paired with ρ_vv' — built from the two one-length potentials.
        Pc_e, Pv_h = direct_pot(Rc, nC, (le,)), direct_pot(Rv, nV, (lh,))
        Pc_h, Pv_e = direct_pot(Rc, nC, (lh,)), direct_pot(Rv, nV, (le,))
        Pc_eh, Pv_eh = 0.5 * (Pc_e + Pc_h), 0.5 * (Pv_e + Pv_h)
    else:
        Pc_e = Pc_eh = direct_pot(Rc, nC, ())
        Pv_h = Pv_eh = direct_pot(Rv, nV, ())
    t2 = time.perf_counter()
    # W_e[a,b,c,d] = B(ρ_ac, ρ_bd): matrix over (a,c),(b,d)
    We = _bilinear(Rc, Pc_e, Rc, Pc_e).reshape(nC, nC, nC, nC).transpose(0, 2, 1, 3)
    WV = _bilinear(Rv, Pv_h, Rv, Pv_h).reshape(nV, nV, nV, nV).transpose(0, 2, 1, 3)
    Wh = np.transpose(WV, (2, 3, 0, 1))  # Wh[a,b,c,d] = W_V[c,d,a,b]
    Jd = _bilinear(Rc, Pv_eh, Rv, Pc_eh).reshape(nC, nC, nV, nV)  # [c, c', v', v]
    # exchange: W[c, v', v, c'] = B(ρ_cv, ρ_v'c'), ρ_v'c' = conj ρ_c'v'; ε∞ operator, no polaron term
    Rx = sp.dens(C, V)
    if not sp.etb:
        Rx = Rx * np.outer(wc, wv).reshape(-1, 1)
    spx = _Space(solved, op_x)
    Px = spx.potential(Rx, op_x)
    K = (0.5 * COULOMB_EV_NM * (Rx @ np.conj(Px).T + (np.conj(Rx) @ Px.T).T)).reshape(nC, nV, nC, nV)
    K_sr = np.zeros_like(K)
    r_cv = None
    if sp.etb:
        G1 = pb_exchange_G1()["G1_eV"]
        d = _sp_vectors(C, V, solved.structure, solved.terms.params)
        K_sr = (G1 / 3.0) * (d @ np.conj(d).T).reshape(nC, nV, nC, nV)
        X = np.asarray(solved.structure.positions, dtype=float)
        r_cv = np.einsum("ai,ik->ak", Rx, X).reshape(nC, nV, 3)
    else:  # k·p: first moment of the envelope transition densities on the nodes (module docstring)
        X = np.stack(np.meshgrid(*op_d.node_axes(), indexing="ij"), axis=-1).reshape(-1, 3)
        r_cv = np.einsum("ai,ik->ak", Rx, X).reshape(nC, nV, 3)
    t3 = time.perf_counter()
    # self-energies of each multiplet's mean density (image part, direct operator)
    def sigma(R, n, mult):
        out = np.zeros(n)
        diag = R[np.arange(n) * n + np.arange(n)].real
        for m in np.unique(mult):
            nbar = diag[mult == m].mean(axis=0)[None, :]
            if op_d.image:
                pi = sp.potential(nbar, op_d, part="image")
                out[mult == m] = 0.5 * COULOMB_EV_NM * float(np.sum(nbar * pi).real)
        return out

    sig_e, sig_h = sigma(Rc, nC, mc), sigma(Rv, nV, mv)
    t4 = time.perf_counter()
    return _Integrals(E_c + sig_e, -E_v + sig_h, E_c, E_v, mc, mv, We, Wh, Jd, K + K_sr, K_sr,
                      sig_e, sig_h, r_cv, C, V, scr,
                      {"setup_s": t1 - t0, "direct_s": t2 - t1, "exchange_s": t3 - t2,
                       "self_energy_s": t4 - t3, "n_states": (nC, nV)})


def _integrals(solved, n_doublets: int, screening: str) -> _Integrals:
    n_doublets, screening = _check_doublets(n_doublets), check_screening(screening)
    # the basis of N doublets is a prefix of that of any larger cached N
    for key, val in getattr(solved, "_cache", {}).items():
        if isinstance(key, str) and key.startswith(f"exciton_int_{screening}_"):
            n_big = int(key.rsplit("_", 1)[1])
            if n_big >= n_doublets:
                _, nc = _basis_sizes(solved, n_doublets)
                return val.sliced(*nc)
    def compute(s):
        with blas_threads(1):  # tall-skinny complex products: 1 thread is faster (perovskite_tb._system)
            return _compute_integrals(s, n_doublets, screening)

    return solved.cached(f"exciton_int_{screening}_{n_doublets}", compute)


def _basis_sizes(solved, n):
    C = _basis(solved.spectrum.electron, n, "electron")[1]
    V = _basis(solved.spectrum.hole, n, "hole")[1]
    return n, (len(C), len(V))


# ---------------------------------------------------------------------------------------- excitons
@dataclass(frozen=True)
class ExcitonLevels:
    """Band-edge exciton manifold from the X configuration interaction.

    Attributes
    ----------
    energies_eV : ndarray of float64, shape (4,)
        Lowest four exciton energies (eV, ascending), single-particle gap + Σ_e + Σ_h − binding.
    bright : ndarray of int, shape (3,)
        Indices (into ``energies_eV``) of the bright states, by ascending energy.
    dark : int
    dipoles_enm : ndarray of complex128, shape (4, 3)
        ⟨X|r|0⟩ (e·nm).
    axes : ndarray of float64, shape (3, 3)
        Unit polarisation vectors of the bright states (rows; degenerate subspaces along crystal axes).
    oscillator_enm2 : ndarray of float64, shape (3,)
        |d|² of the bright states along their axes ((e·nm)²).
    rates_per_ps : ndarray of float64, shape (3,)
    g_bright : float
        Bright-exciton g along z from the exciton Zeeman block.
    n_states : tuple of int
        (electron, hole) basis states.
    """

    energies_eV: np.ndarray
    bright: np.ndarray
    dark: int
    dipoles_enm: np.ndarray
    axes: np.ndarray
    oscillator_enm2: np.ndarray
    rates_per_ps: np.ndarray
    g_bright: float
    n_states: tuple

    @property
    def bright_dark_meV(self) -> float:
        return 1e3 * (float(np.mean(self.energies_eV[self.bright])) - float(self.energies_eV[self.dark]))

    @property
    def bright_splittings_meV(self) -> list:
        e = self.energies_eV[self.bright]
        return [1e3 * float(x - e.min()) for x in e]

    @property
    def radiative_lifetime_ps(self) -> float:
        """3/ΣΓ of the bright triplet (ps): the lifetime of its mean rate (inf if no oscillator strength)."""
        s = float(np.sum(self.rates_per_ps))
        return 3.0 / s if s > 0 else float("inf")


def _rate_per_ps(E_eV, d2_enm2, eps_in, eps_out):
    f = 3 * eps_out / (2 * eps_out + eps_in)
    w = E_eV * sc.e / sc.hbar
    d2 = d2_enm2 * (sc.e * 1e-9) ** 2
    return math.sqrt(eps_out) * w**3 * f**2 * d2 / (3 * math.pi * sc.epsilon_0 * sc.hbar * sc.c**3) * 1e-12


def exciton_levels(solved, *, n_doublets: int | None = None, screening: str | None = None,
                   exchange: bool = True) -> ExcitonLevels:
    """Band-edge exciton manifold (dark + bright triplet) from the X CI.

    Parameters
    ----------
    solved : SolvedNanocrystal
        Solved with ``levels >= n_doublets`` and a dielectric pair.
    n_doublets : int, optional
        Kramers doublets per carrier (default ``context["exciton_doublets"]`` or :data:`DEFAULT_DOUBLETS`).
    screening : str, optional
        :data:`.screening.SCREENING_MODELS` (default ``context["screening"]`` or ``"epsilon-inf"``).
    exchange : bool, optional
        Include the e–h exchange (LR + SR); False gives the direct-only CI.

    Returns
    -------
    ExcitonLevels

    Raises
    ------
    InputError
        Bad basis size or screening name, too few levels, no dielectric constants, a MISSING constant.
    """
    n, scr = _defaults(solved, n_doublets, screening)
    I = _integrals(solved, n, scr)
    with blas_threads(1):
        w, A = _ci.lowest(_ci.Sector(I.eps_e, I.eps_h, I.We, I.Wh, I.U(exchange), 1, 1), 4)
    nC, nV = len(I.eps_e), len(I.eps_h)
    E4, A4 = w[:4], A[:, :4]
    eps_in, eps_out = I.screening.eps_inf, I.screening.eps_out
    if I.r_cv is None:
        nan3 = np.full(3, np.nan)
        return ExcitonLevels(E4, np.array([1, 2, 3]), 0, np.full((4, 3), np.nan + 0j),
                             np.full((3, 3), np.nan), nan3, nan3, float("nan"), (nC, nV))
    D = np.einsum("as,ak->sk", np.conj(A4), I.r_cv.reshape(nC * nV, 3))  # (4, 3)
    strength = np.sum(np.abs(D) ** 2, axis=1)
    order = np.argsort(strength)
    dark, bright = int(order[0]), np.sort(order[1:])
    # polarisation axes per group of degenerate bright states
    axes, osc = np.zeros((3, 3)), np.zeros(3)
    groups, tol = [], 1e-9
    for i in bright:
        if groups and abs(E4[i] - E4[groups[-1][0]]) < tol:
            groups[-1].append(i)
        else:
            groups.append([i])
    row = 0
    for g in groups:
        T = np.einsum("sk,sl->kl", D[g], np.conj(D[g])).real
        scale = np.trace(T)
        lam, U = np.linalg.eigh(T + 1e-9 * scale * np.diag([3.0, 2.0, 1.0]))
        for j in range(len(g)):
            u = U[:, -1 - j]
            k = int(np.argmax(np.abs(u)))
            axes[row] = u * np.sign(u[k])
            osc[row] = float(u @ T @ u)
            row += 1
    Eb = E4[bright]
    rates = np.array([_rate_per_ps(Eb[i], osc[i], eps_in, eps_out) for i in range(3)])
    g = _g_bright(solved, I, A4[:, bright], nC, nV)
    return ExcitonLevels(E4, bright, dark, D, axes, osc, rates, g, (nC, nV))


def _g_bright(solved, I, B, nC, nV) -> float:
    """Signed bright-exciton g along z from the exciton Zeeman block projected on the bright states."""
    M, J = solved.terms.M[2], solved.terms.J[2]

    def block(O):
        Oc = I.C.conj().T @ (O @ I.C)
        Ov = I.V.conj().T @ (O @ I.V)
        return np.kron(Oc, np.eye(nV)) - np.kron(np.eye(nC), Ov.T)

    Z, Jz = B.conj().T @ block(M) @ B, B.conj().T @ block(J) @ B
    z, u = np.linalg.eigh(0.5 * (Z + Z.conj().T))
    j = np.einsum("ks,kl,ls->s", np.conj(u), Jz, u).real
    return float((z[np.argmax(j)] - z[np.argmin(j)]) / MU_B)


def _defaults(solved, n_doublets, screening):
    ctx = getattr(solved, "context", {}) or {}
    n = ctx.get("exciton_doublets", DEFAULT_DOUBLETS) if n_doublets is None else n_doublets
    s = ctx.get("screening", "epsilon-inf") if screening is None else screening
    return _check_doublets(n), check_screening(s)


def exciton_json(solved, *, n_doublets: int | None = None, screening: str | None = None) -> dict:
    """The exciton fine-structure keys of issue 20 for the CLI JSON.

    Returns
    -------
    dict
        ``exciton_bright_dark_meV`` (float, mean bright − dark; > 0: dark below),
        ``exciton_bright_splittings_meV`` (3 floats, bright levels relative to the lowest bright),
        ``exciton_bright_axes`` (3 unit vectors), ``radiative_lifetime_ps`` (3 floats, host ε_out,
        local-field factor 3ε_out/(2ε_out + ε∞)), ``g_X_bright`` (float). k·p also ``reason``: its
        e–h exchange is the long-range part only (no atoms: no on-site exchange).

    Raises
    ------
    InputError
        As :func:`exciton_levels`.
    """
    L = exciton_levels(solved, n_doublets=n_doublets, screening=screening)
    out = {
        "exciton_bright_dark_meV": L.bright_dark_meV,
        "exciton_bright_splittings_meV": L.bright_splittings_meV,
        "exciton_bright_axes": L.axes.tolist(),
        "radiative_lifetime_ps": [float(1.0 / r) if r > 0 else float("inf") for r in L.rates_per_ps],
        "g_X_bright": L.g_bright,
    }
    if solved.model != "etb":
        out["reason"] = KP_EXCHANGE_NOTE
    return out


# ---------------------------------------------------------------------------------------- complexes
def trion_biexciton(solved, *, n_doublets: int | None = None, screening: str | None = None,
                    exchange: bool = True) -> dict:
    """Trion and biexciton binding energies (meV, positive = bound) from CI in one basis.

    Returns
    -------
    dict
        ``trion_negative_binding_meV``, ``trion_positive_binding_meV``, ``biexciton_binding_meV``,
        ``E_X_eV``, ``n_doublets``, ``n_states`` (electron, hole), ``screening``, ``seconds``.

    Raises
    ------
    InputError
        As :func:`exciton_levels`.
    """
    import time
    n, scr = _defaults(solved, n_doublets, screening)
    I = _integrals(solved, n, scr)
    t0 = time.perf_counter()
    U = I.U(exchange)
    E = {}
    with blas_threads(1):  # small dense sectors: one BLAS thread is faster than two on a shared machine
        for name, ke, kh in (("X", 1, 1), ("Xm", 2, 1), ("Xp", 1, 2), ("XX", 2, 2)):
            E[name] = float(_ci.lowest(_ci.Sector(I.eps_e, I.eps_h, I.We, I.Wh, U, ke, kh))[0][0])
    e0, h0 = float(I.eps_e.min()), float(I.eps_h.min())
    return {
        "trion_negative_binding_meV": 1e3 * (E["X"] + e0 - E["Xm"]),
        "trion_positive_binding_meV": 1e3 * (E["X"] + h0 - E["Xp"]),
        "biexciton_binding_meV": 1e3 * (2 * E["X"] - E["XX"]),
        "E_X_eV": E["X"],
        "n_doublets": n,
        "n_states": [len(I.eps_e), len(I.eps_h)],
        "screening": scr,
        "seconds": {"ci_s": time.perf_counter() - t0, **{k: v for k, v in I.seconds.items() if k != "n_states"}},
    }


def exciton_convergence(solved, n_list, *, screening: str | None = None) -> list[dict]:
    """:func:`trion_biexciton` and Δ_BD for each basis size in ``n_list`` (integrals computed once at max N).

    Returns
    -------
    list of dict
        One :func:`trion_biexciton` dict per N plus ``exciton_bright_dark_meV`` and
        ``radiative_lifetime_ps`` (3/ΣΓ of the bright triplet, ps).
    """
    n_list = [_check_doublets(n) for n in n_list]
    _, scr = _defaults(solved, max(n_list), screening)
    _integrals(solved, max(n_list), scr)
    out = []
    for n in sorted(n_list):
        d = trion_biexciton(solved, n_doublets=n, screening=scr)
        lev = exciton_levels(solved, n_doublets=n, screening=scr)
        d["exciton_bright_dark_meV"] = lev.bright_dark_meV
        d["radiative_lifetime_ps"] = lev.radiative_lifetime_ps
        out.append(d)
    return out


_BINDING_KEYS = ("trion_negative_binding_meV", "trion_positive_binding_meV", "biexciton_binding_meV")


def extrapolate_basis(results: list[dict], keys=_BINDING_KEYS) -> dict:
    r"""Basis-limit estimate of CI energies from :func:`exciton_convergence`: linear in 1/M.

    The pair-correlation (cusp) error of a CI in a basis of M one-particle states decays as 1/M
    (Helgaker, Klopper, Koch & Noga, J. Chem. Phys. 106, 9639 (1997): E_X = E_∞ + A X⁻³ with M ∝ X³;
    Shepherd, Grüneis, Booth, Kresse & Alavi, Phys. Rev. B 86, 035111 (2012): 1/M for a plane-wave
    basis of M orbitals). With M the mean number of electron and hole states of a basis,
    E_∞ = (M₂E₂ − M₁E₁)/(M₂ − M₁) from the two largest distinct bases; the spread is |E_∞ − E′_∞| with
    E′_∞ from the largest and the third-largest basis (a measure of how far the data are from 1/M,
    not an error bar).

    Parameters
    ----------
    results : list of dict
        :func:`exciton_convergence` output (each with ``n_states`` and the ``keys``).
    keys : sequence of str
        Quantities to extrapolate (meV).

    Returns
    -------
    dict
        key → ``{"value": E_∞, "spread": float or NaN, "M": [M₁, M₂]}``.

    Raises
    ------
    InputError
        Fewer than two distinct basis sizes.
    """
    by_m: dict = {}
    for d in results:
        by_m[0.5 * (d["n_states"][0] + d["n_states"][1])] = d  # equal M: the same basis, keep one
    ms = sorted(by_m)
    if len(ms) < 2:
        raise InputError(f"a basis extrapolation needs two distinct basis sizes, got M = {ms}")

    def lim(m1, m2, k):
        e1, e2 = float(by_m[m1][k]), float(by_m[m2][k])
        return (m2 * e2 - m1 * e1) / (m2 - m1)

    out = {}
    for k in keys:
        v = lim(ms[-2], ms[-1], k)
        spread = abs(v - lim(ms[-3], ms[-1], k)) if len(ms) >= 3 else float("nan")
        out[k] = {"value": v, "spread": spread, "M": [ms[-2], ms[-1]]}
    return out


# ---------------------------------------------------------------------------------------- requests
def check_exciton_request(material: str, screening: str = "epsilon-inf", n_doublets: int = DEFAULT_DOUBLETS,
                          *, model: str = "etb", shape: str | None = None) -> tuple[str, int]:
    """Check an exciton request before anything is solved (CLI ``nc``/``kp-nc --excitons``, run files).

    Parameters
    ----------
    material : str
        Compound (``"CsPbI3"`` …); the screening constants are looked up for it.
    screening : str
        :data:`.screening.SCREENING_MODELS`.
    n_doublets : int
        Kramers doublets per carrier of the CI basis, 1 … :data:`MAX_DOUBLETS`.
    model : {"etb", "kp"}
        k·p: boxes only, e–h exchange the long-range part only (module docstring).
    shape : str, optional
        Shape kind of the NC (``"cube"``, ``"cuboid"``, ``"sphere"``, ``"spheroid"``); with
        ``model="kp"`` only :data:`KP_SHAPES` are accepted. None: not checked.

    Returns
    -------
    (str, int)
        The screening name and the basis size.

    Raises
    ------
    InputError
        One line naming the bad value: unknown model, a shape the k·p model cannot do, unknown
        screening, basis outside 1 … MAX_DOUBLETS, a screening constant tagged MISSING for
        ``material`` (``parameters/excitons.toml``).
    """
    from perovskite_tb.observables.screening import _constant

    if model not in ("etb", "kp"):
        raise InputError(f"excitons need model 'etb' or 'kp', got {model!r}")
    if model == "kp" and shape is not None and shape not in KP_SHAPES:
        raise InputError(f"k·p excitons need a hard-wall box ({', '.join(KP_SHAPES)}), got shape {shape!r}: "
                         "the k·p model has no spheres or spheroids")
    scr, n = check_screening(screening), _check_doublets(n_doublets)
    if scr != "epsilon-inf":
        _constant(material, "eps_static", scr)
    if scr == "polaron":
        _constant(material, "f_LO", scr)
    return scr, n


def exciton_context(screening: str = "epsilon-inf", n_doublets: int = DEFAULT_DOUBLETS,
                    complexes: bool = False) -> dict:
    """The ``solved.context`` entries that switch the registered exciton observables on.

    Parameters
    ----------
    screening : str
        Screening model of the direct terms.
    n_doublets : int
        CI basis (Kramers doublets per carrier); the solve needs ``levels >= n_doublets``.
    complexes : bool
        Also the trion and biexciton binding observables (``context["exciton_ci"]``).

    Returns
    -------
    dict
        ``excitons``, ``screening``, ``exciton_doublets``, ``exciton_ci``.
    """
    return {"excitons": True, "screening": screening, "exciton_doublets": int(n_doublets),
            "exciton_ci": bool(complexes)}


# ---------------------------------------------------------------------------------------- observables
def _enabled(solved) -> bool:
    return hasattr(solved, "cached") and bool(solved.context.get("excitons"))


def _levels_or_none(solved):
    if not _enabled(solved):
        return None
    return solved.cached("exciton_levels_default", lambda s: exciton_levels(s))


def _bright_dark(solved) -> float:
    L = _levels_or_none(solved)
    return float("nan") if L is None else L.bright_dark_meV


def _bright_splitting(solved) -> float:
    L = _levels_or_none(solved)
    return float("nan") if L is None else float(max(L.bright_splittings_meV))


def _g_x_bright(solved) -> float:
    L = _levels_or_none(solved)
    return float("nan") if L is None else L.g_bright


def _radiative_lifetime(solved) -> float:
    L = _levels_or_none(solved)
    return float("nan") if L is None else L.radiative_lifetime_ps


register(Observable("exciton_bright_dark", "meV",
                    "mean bright - dark exciton energy, e-h exchange LR+SR (Franceschetti et al. 1998); "
                    "NaN unless context['excitons']", _bright_dark))
register(Observable("exciton_bright_splitting", "meV",
                    "spread (max - min) of the bright-triplet energies (0 for cubes and spheres); NaN unless "
                    "context['excitons']", _bright_splitting))
register(Observable("g_X_bright", "1",
                    "bright-exciton g along z from the exciton Zeeman block; NaN unless context['excitons']",
                    _g_x_bright))
register(Observable("radiative_lifetime", "ps",
                    "3/sum of the bright-triplet radiative rates (n_out, local-field factor; Glauber & "
                    "Lewenstein 1991); NaN unless context['excitons']", _radiative_lifetime))


def _complexes_or_none(solved):
    if not _enabled(solved) or not solved.context.get("exciton_ci"):
        return None
    return solved.cached("exciton_complexes_default", lambda s: trion_biexciton(s))


def _binding(key):
    def f(solved) -> float:
        d = _complexes_or_none(solved)
        return float("nan") if d is None else float(d[key])
    return f


for _name, _what in (("trion_negative_binding", "negative trion X-: E(X) + E(e) - E(X-)"),
                     ("trion_positive_binding", "positive trion X+: E(X) + E(h) - E(X+)"),
                     ("biexciton_binding", "biexciton XX: 2E(X) - E(XX)")):
    register(Observable(_name, "meV",
                        f"binding energy of the {_what} (positive = bound), CI in the exciton basis; NaN unless "
                        "context['excitons'] and context['exciton_ci']", _binding(f"{_name}_meV")))
