r"""Coulomb operator with dielectric mismatch, pair densities, and direct/exchange integrals.

Physics
-------
For single-particle states ψ_a of a nanocrystal (NC) of permittivity ε_in in a matrix ε_out, the
two-body Coulomb matrix elements are

.. math::
    \langle ab|v|cd\rangle = \frac{e^2}{4\pi\varepsilon_0}\iint
        \rho_{ac}(\mathbf r)\,G(\mathbf r,\mathbf r')\,\rho_{bd}(\mathbf r'),\qquad
    \rho_{ac} = \psi_a^*\psi_c ,

with G the Green's function of :math:`-\nabla\cdot(\varepsilon\nabla G) = 4\pi\delta` (the
homogeneous 1/(ε_in|r − r'|) plus the image, or polarisation, part; Brus, J. Chem. Phys. 80, 4403
(1984)). The direct and exchange integrals of two levels are

.. math::
    J_{ab} = \langle ab|v|ab\rangle = \iint |\psi_a|^2\,v\,|\psi_b|^2, \qquad
    K_{ab} = \langle ab|v|ba\rangle = \iint \psi_a^*\psi_b(1)\,v\,\psi_b^*\psi_a(2),

the definitions used for atomistic NC excitons by Franceschetti, Wang, Fu & Zunger, PRB 58,
R13367 (1998) and Leung & Whaley, PRB 56, 7455 (1997). The self-polarisation energy of a carrier is
:math:`\Sigma = \tfrac12 e^2/(4\pi\varepsilon_0)\iint n\,G_{\rm pol}\,n` (Brus 1984).

Method
------
:class:`CoulombOperator` is the grid solver of :mod:`.coulomb` (per-atom or envelope charges on a
node grid, open-boundary FFT convolution with the cell-averaged cube kernel for the ε_in part, a
DST-preconditioned CG solve of the image potential ψ = φ(ε(r)) − φ(ε_in) in a padded box, and the
open-boundary completion from the polarisation charge, R. A. James, J. Comput. Phys. 25, 71 (1977))
set up once per (region, grid, ε_in, ε_out): the face permittivities, the FFT of the kernel, the
deposit matrix of the atoms and the boundary multipoles are built in the constructor; each call
then costs one image solve per real density (one DST solve, 9–13 preconditioned CG iterations, one
FFT convolution).

Two choices make the operator linear in the charge, so that the integrals have their index
symmetries:

* the box-boundary value of a charge q is its monopole + dipole about a fixed centre c0 (default
  the centre of the NC's bounding box), :math:`Q/|r-c_0| + \mathbf p\cdot(\mathbf r-\mathbf
  c_0)/|r-c_0|^3`, instead of :mod:`.coulomb`'s monopole about the charge centroid; the two agree to
  second order in the centroid offset, i.e. exactly (to rounding) for densities centred on c0 (all
  band-edge densities of inversion-symmetric NCs), and the completion removes most of the rest;
* a complex charge is solved as its real and imaginary parts, and the bilinear form is symmetrised,
  :math:`B(q_a, q_b) = \tfrac12(\langle q_a|Vq_b\rangle + \langle q_b|Vq_a\rangle)` (no complex
  conjugation), exactly as :mod:`.coulomb` symmetrises E_C (the completed image operator is
  symmetric only to ≲ 1e-5 eV).

Hence J_ab = J_ba (real), K_ab = K_ba = conj(K_ba) (real), K_aa = J_aa, ⟨ab|v|cd⟩ = ⟨ba|v|dc⟩ =
conj(⟨cd|v|ab⟩), and for the Kramers-averaged densities of two doublets the mean of the 2×2 J
equals :func:`.coulomb.coulomb_etb_doublets` / :func:`.coulomb.coulomb_envelope` E_C.

Pair densities
--------------
ETB (:func:`pair_density_atoms`): the on-site monopole ρ_ab(i) = Σ_{α on atom i} c*_{a,iα} c_{b,iα}
(orbital and spin), deposited as a uniform cube of side a/2 like :mod:`.coulomb`'s densities.
On-site products of different orbitals (e.g. the s–p transition dipole of the exchange density) are
not in it: they are the business of a short-range (on-site) exchange term. k·p
(:meth:`CoulombOperator.charges_from_states`): ρ_ab = Σ_b F^{a*}_b F^b_b of the envelope components
(orthonormal cell-averaged Bloch functions), sampled on the nodes; each set of states is rescaled by
one common factor so that the mean grid norm of its diagonal densities is 1 (for one Kramers doublet
this is :func:`.coulomb.coulomb_envelope`'s renormalisation).

Cost (``python -m benchmarks.coulomb operator``; wall s, best of 2, 2 shared cores at load 4.7,
ETB cube, defaults): build 0.03 / 0.10 / 0.32 s and one more real density 0.03 / 0.12 / 0.25 s at
10 / 16 / 26 cells (31³ / 49³ / 81³ box nodes); a complex density costs two real ones.
:func:`direct_exchange` of k_A, k_B states costs k_A + k_B + 2 k_A k_B real solves,
:func:`coulomb_elements` of n states n² real solves.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from perovskite_tb._system import blas_threads
from perovskite_tb.errors import InputError
from perovskite_tb.observables import _poisson as P
from perovskite_tb.observables.coulomb import ENVELOPE_NODES, _atom_grid, _cube_overlaps
from perovskite_tb.observables.coulomb_grid import (
    COULOMB_EV_NM,
    Grid,
    _completion_window,
    _image_box,
    check_eps,
    make_grid,
)
from perovskite_tb.observables.coulomb_kp import kp_envelopes
from perovskite_tb.observables.regions import Region, box_region, structure_region

__all__ = [
    "CoulombOperator",
    "pair_density_atoms",
    "direct_exchange",
    "coulomb_elements",
    "COULOMB_EV_NM",
]

_PARTS = ("total", "homogeneous", "image")


def pair_density_atoms(V_a, V_b, n_orb: int) -> np.ndarray:
    r"""Per-atom pair density ρ_ab(i) = Σ_{α on atom i} conj(V_a[iα]) V_b[iα] (monopole).

    The sum runs over the ``n_orb`` orbital–spin components of atom i: the on-site monopole of
    ψ_a*ψ_b. On-site products of different orbitals (e.g. s–p transition dipoles, which carry the
    short-range part of the e–h exchange; Franceschetti et al., PRB 58, R13367 (1998)) are not in it
    and belong to a separate short-range exchange term.

    Parameters
    ----------
    V_a, V_b : ndarray of complex128, shape (n_states,) or (n_states, m)
        States (atom-major, ``n_orb`` components per atom), paired column by column (broadcast).
    n_orb : int
        Spin-orbitals per atom (``params.n_orb``, 20 for sp3d5s* with spin).

    Returns
    -------
    ndarray of complex128, shape (n_atoms,) or (n_atoms, m)
        Unitless; Σ_i ρ_ab(i) = ⟨a|b⟩ (orthonormal basis).

    Raises
    ------
    InputError
        Lengths differ or are not a multiple of ``n_orb``.
    """
    a, b = np.asarray(V_a), np.asarray(V_b)
    if a.shape[0] != b.shape[0] or n_orb < 1 or a.shape[0] % n_orb:
        raise InputError(
            f"state lengths {a.shape[0]}, {b.shape[0]} must be equal multiples of {n_orb} "
            "orbitals per atom"
        )
    prod = np.conj(a) * b
    return prod.reshape((-1, n_orb) + prod.shape[1:]).sum(axis=1)


def _check_states(V, name: str) -> np.ndarray:
    V = np.asarray(V)
    if V.ndim == 1:
        V = V[:, None]
    if V.ndim != 2 or V.shape[1] == 0:
        raise InputError(f"{name} must be an array of shape (n_states, k) with k >= 1")
    if not np.all(np.isfinite(V)):
        raise InputError(f"{name} contains non-finite entries")
    return V


class CoulombOperator:
    r"""Reusable Coulomb solver of one NC: potentials and energies of any (complex) node charges.

    Build with :meth:`for_structure` (ETB), :meth:`for_envelope` (k·p states) or :meth:`for_box`
    (k·p box, node charges given directly). Charges live on the nodes of :attr:`shape` (the window
    of the padded grid where any charge of this NC can sit; coordinates :meth:`node_axes`), as
    dimensionless charge per node (units of e). Potentials are returned on the same nodes in 1/nm:
    the interaction energy of charges q_a, q_b is :data:`COULOMB_EV_NM` · Σ q_b V q_a in eV.

    Attributes
    ----------
    grid : Grid
        The padded node grid.
    region : Region
        Where ε = ε_in.
    eps_in, eps_out : float
        Relative permittivities.
    shape : tuple of 3 int
        Node window of the charges and potentials.
    center_nm : ndarray of float64, shape (3,)
        Centre c0 of the boundary multipoles (nm).
    stats : dict
        ``setup_calls`` (1: the set-up runs once, in the constructor), ``setup_seconds``,
        ``solves`` (real image/FFT solves so far), ``cg_iterations`` (list, per image solve),
        ``cg_residual`` (largest relative CG residual).
    """

    def __init__(
        self,
        grid: Grid,
        region: Region,
        eps_in: float,
        eps_out: float,
        charge_window,
        *,
        center_nm=None,
        subsamples: int = 2,
        rtol: float = 1e-9,
        deposit: sp.spmatrix | None = None,
        basis=None,
        norm_tol: float = 0.1,
    ):
        """Low-level constructor; use the ``for_*`` factories.

        Parameters
        ----------
        grid : Grid
        region : Region
        eps_in, eps_out : float
            Relative permittivities (finite, > 0).
        charge_window : (array_like of 3 int, array_like of 3 int)
            Node index range [lo, hi) of the padded grid holding all charges (≥ 1 node from the box
            boundary).
        center_nm : array_like of 3 float, optional
            Centre of the boundary multipoles (nm); default the centre of ``region``'s bounding box.
        subsamples : int, optional
            Even number of indicator samples per axis and dual cell for the face ε (default 2).
        rtol : float, optional
            Relative CG residual of each image solve (default 1e-9).
        deposit : scipy.sparse matrix, shape (prod(shape), n_atoms), optional
            Per-atom charge → node charge map (ETB).
        basis : kp.envelope.EnvelopeBasis, optional
            Envelope basis (k·p states).
        norm_tol : float, optional
            Accepted |grid norm − 1| of k·p state sets (default 0.1).

        Raises
        ------
        InputError
            Bad ε, odd ``subsamples``, or a charge window touching the box boundary.
        """
        t0 = time.perf_counter()
        self.grid = grid
        self.region = region
        self.eps_in = check_eps(eps_in, "epsilon_in")
        self.eps_out = check_eps(eps_out, "epsilon_out")
        if int(subsamples) < 2 or int(subsamples) % 2:
            raise InputError(f"subsamples must be an even integer >= 2, got {subsamples}")
        lo, hi = (np.asarray(v, dtype=int).reshape(3) for v in charge_window)
        if np.any(lo < 1) or np.any(hi > np.array(grid.shape) - 1) or np.any(hi <= lo):
            raise InputError("the charge window reaches the box boundary: increase padding_nm")
        self._lo, self._hi = lo, hi
        self.shape = tuple(int(v) for v in hi - lo)
        self.center_nm = (
            0.5 * (region.lo + region.hi)
            if center_nm is None
            else np.asarray(center_nm, dtype=float).reshape(3)
        )
        self.rtol = float(rtol)
        self._deposit = deposit
        self._basis = basis
        self._norm_tol = float(norm_tol)
        self.image = self.eps_out != self.eps_in
        self.stats = {"setup_calls": 0, "solves": 0, "cg_iterations": [], "cg_residual": 0.0}
        self._setup(int(subsamples))
        self.stats["setup_seconds"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ set-up (once)
    def _setup(self, subsamples: int) -> None:
        self.stats["setup_calls"] += 1
        g = self.grid
        if self.image:
            wlo, whi = _completion_window(g, self.region, (self._lo, self._hi))
            self._faces = P.face_permittivity(
                self.region.inside,
                g.origin,
                g.h,
                g.shape,
                g.window(self.region),
                self.eps_in,
                self.eps_out,
                subsamples,
            )
            self._unit = [np.ones_like(f) for f in self._faces]
            self._diff = [self.eps_in - f for f in self._faces]
            self._bnd = self._boundary_multipoles()
        else:
            wlo, whi = self._lo, self._hi
        self._wlo, self._whi = wlo, whi
        self._win = tuple(slice(a, b) for a, b in zip(wlo, whi))
        self._cin = tuple(slice(a - w, b - w) for a, b, w in zip(self._lo, self._hi, wlo))
        self._kfft = P.free_space_kernel_fft(tuple(int(v) for v in whi - wlo))
        self._axes = [
            ax[a:b] - c for ax, a, b, c in zip(g.axes(), self._lo, self._hi, self.center_nm)
        ]

    def _boundary_multipoles(self):
        """Full-grid arrays, zero inside: 1/|r−c0| and (r−c0)_d/|r−c0|³ on the six faces."""
        g = self.grid
        out = [np.zeros(g.shape) for _ in range(4)]
        ax = [a - c for a, c in zip(g.axes(), self.center_nm)]
        for d in range(3):
            for idx in (0, g.shape[d] - 1):
                sl = [slice(None)] * 3
                sl[d] = idx
                c = [ax[e] if e != d else np.array([ax[d][idx]]) for e in range(3)]
                X = np.meshgrid(*c, indexing="ij")
                r = np.sqrt(X[0] ** 2 + X[1] ** 2 + X[2] ** 2)
                out[0][tuple(sl)] = np.squeeze(1.0 / r, axis=d)
                for e in range(3):
                    out[1 + e][tuple(sl)] = np.squeeze(X[e] / r**3, axis=d)
        return out

    # ------------------------------------------------------------------ factories
    @classmethod
    def for_structure(
        cls,
        structure,
        eps_in: float,
        eps_out: float,
        *,
        spacing_nm: float | None = None,
        cloud_nm: float | None = None,
        padding_nm: float | None = None,
        subsamples: int = 2,
        rtol: float = 1e-9,
        center_nm=None,
    ) -> CoulombOperator:
        """Operator of an ETB NC (:class:`perovskite_tb.model.geometry.Structure`).

        Parameters
        ----------
        structure : Structure
            ``.positions`` (n_atoms, 3) nm, ``.species`` (Pb = 0), ``.a`` (nm); region
            :func:`~.regions.structure_region`.
        eps_in, eps_out : float
            Relative permittivities (> 0).
        spacing_nm, cloud_nm, padding_nm, subsamples
            As in :func:`.coulomb.coulomb_atoms` (defaults h = cloud = a/2, padding 0.25 L).
        rtol : float, optional
            Relative CG residual (default 1e-9, as :func:`.coulomb.coulomb_on_grid`).
        center_nm : array_like of 3 float, optional
            Centre of the boundary multipoles (default: centre of the NC's bounding box).

        Raises
        ------
        InputError
            Bad ε or grid parameters, a charge cloud reaching the box boundary.
        """
        check_eps(eps_in, "epsilon_in"), check_eps(eps_out, "epsilon_out")
        region = structure_region(structure)
        grid, cloud = _atom_grid(region, spacing_nm, cloud_nm, padding_nm)
        X = np.asarray(structure.positions, dtype=float).reshape(-1, 3)
        ks, ov = _cube_overlaps(grid, X, cloud)
        wt = ov[:, 0, :, None, None] * ov[:, 1, None, :, None] * ov[:, 2, None, None, :]
        n_at, m = X.shape[0], ks.shape[2]
        idx = np.stack(
            np.broadcast_arrays(
                ks[:, 0, :, None, None], ks[:, 1, None, :, None], ks[:, 2, None, None, :]
            ),
            axis=-1,
        ).reshape(-1, 3)
        atom = np.repeat(np.arange(n_at), m**3)
        wt = wt.ravel()
        keep = wt != 0
        idx, atom, wt = idx[keep], atom[keep], wt[keep]
        lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
        s = hi - lo
        flat = ((idx[:, 0] - lo[0]) * s[1] + idx[:, 1] - lo[1]) * s[2] + idx[:, 2] - lo[2]
        D = sp.csr_matrix((wt, (flat, atom)), shape=(int(np.prod(s)), n_at))
        op = cls(
            grid, region, eps_in, eps_out, (lo, hi), center_nm=center_nm,
            subsamples=subsamples, rtol=rtol, deposit=D,
        )
        op.cloud_nm = cloud
        return op

    @classmethod
    def for_box(
        cls,
        edge_nm,
        eps_in: float,
        eps_out: float,
        *,
        spacing_nm: float | None = None,
        padding_nm: float | None = None,
        subsamples: int = 2,
        rtol: float = 1e-9,
        center_nm=None,
        basis=None,
    ) -> CoulombOperator:
        """Operator of a hard-wall k·p box centred at the origin (:func:`~.regions.box_region`).

        Parameters
        ----------
        edge_nm : float or array_like of 3 float
            Box edges (nm).
        eps_in, eps_out : float
        spacing_nm : float, optional
            Default: smallest edge / 24 (as :func:`.coulomb.coulomb_envelope`).
        padding_nm, subsamples, rtol, center_nm
            As in :meth:`for_structure`.
        basis : kp.envelope.EnvelopeBasis, optional
            Enables :meth:`charges_from_states` (use :meth:`for_envelope`).

        Raises
        ------
        InputError
            Bad edges, ε or grid parameters.
        """
        check_eps(eps_in, "epsilon_in"), check_eps(eps_out, "epsilon_out")
        region = box_region(edge_nm)
        h = region.min_extent_nm / ENVELOPE_NODES if spacing_nm is None else spacing_nm
        grid = make_grid(region, h, padding_nm)
        return cls(
            grid, region, eps_in, eps_out, grid.window(region), center_nm=center_nm,
            subsamples=subsamples, rtol=rtol, basis=basis,
        )

    @classmethod
    def for_envelope(cls, basis, eps_in: float, eps_out: float, **kw) -> CoulombOperator:
        """Operator of a solved k·p NC: :meth:`for_box` of ``basis.edge_nm`` holding ``basis``.

        Parameters
        ----------
        basis : kp.envelope.EnvelopeBasis
            ``NcResult.terms.basis`` (duck-typed: ``edge_nm``, ``n_max``, ``triples``,
            ``triples_vb``, ``kind``).
        eps_in, eps_out : float
        **kw
            Passed to :meth:`for_box`.
        """
        return cls.for_box(basis.edge_nm, eps_in, eps_out, basis=basis, **kw)

    # ------------------------------------------------------------------ charges
    def node_axes(self):
        """Node coordinates (nm) per axis of the charge window: list of 3 float64 arrays."""
        return [a + c for a, c in zip(self._axes, self.center_nm)]

    def charges_from_atoms(self, w) -> np.ndarray:
        """Node charges of per-atom weights (uniform cubes of side ``cloud_nm``, exact overlaps).

        Parameters
        ----------
        w : ndarray of float64 or complex128, shape (n_atoms,) or (n_atoms, m)
            Per-atom charges (units of e; e.g. :func:`pair_density_atoms`).

        Returns
        -------
        ndarray, shape ``shape`` or ``(m, *shape)``, same kind (real/complex) as ``w``.

        Raises
        ------
        InputError
            Operator not built by :meth:`for_structure`, wrong length, non-finite weights.
        """
        if self._deposit is None:
            raise InputError("charges_from_atoms needs an operator built by for_structure")
        w = np.asarray(w)
        if w.ndim not in (1, 2) or w.shape[0] != self._deposit.shape[1]:
            raise InputError(
                f"per-atom weights of shape {w.shape} for {self._deposit.shape[1]} atoms"
            )
        if not np.all(np.isfinite(w)):
            raise InputError("per-atom weights contain non-finite values")
        q = self._deposit @ w
        if w.ndim == 1:
            return q.reshape(self.shape)
        return np.moveaxis(q, 1, 0).reshape((-1,) + self.shape)

    def _envelopes(self, V, name):
        F = kp_envelopes(self._basis, V)(*self.node_axes())  # (k, 8, *shape)
        h3 = self.grid.h**3
        norm = float(np.mean(np.sum(np.abs(F) ** 2, axis=tuple(range(1, F.ndim))))) * h3
        if abs(norm - 1.0) > self._norm_tol:
            raise InputError(
                f"{name} states have mean grid norm {norm:.4g} on the {self.grid.h:.3g} nm grid, "
                f"expected 1 (c†Sc = 1; refine spacing_nm)"
            )
        return F, norm

    def charges_from_states(self, A, B, *, n_orb: int | None = None, pairs: str = "all"):
        """Node charges of the pair densities ρ_ab = ψ_a*ψ_b of two sets of states.

        Parameters
        ----------
        A, B : ndarray of complex128, shape (n_states, k_A), (n_states, k_B)
            ETB states (atom-major, ``n_orb`` per atom) or k·p states in the operator's basis.
        n_orb : int, optional
            Spin-orbitals per atom; required for ETB operators.
        pairs : {"all", "columns"}
            ``"all"``: every (a, b); ``"columns"``: a and b paired column by column (k_A = k_B).

        Returns
        -------
        ndarray of complex128, shape ``(k_A, k_B, *shape)`` or ``(k, *shape)``
            Units of e per node; ETB: :func:`pair_density_atoms` deposited; k·p: the envelope pair
            density times h³, each set rescaled by one factor so that its diagonal densities have
            mean grid norm 1.

        Raises
        ------
        InputError
            Operator without atoms or basis, missing ``n_orb``, bad shapes, k·p norms off by more
            than ``norm_tol``.
        """
        A, B = _check_states(A, "states A"), _check_states(B, "states B")
        if pairs not in ("all", "columns"):
            raise InputError(f"pairs must be 'all' or 'columns', got {pairs!r}")
        if pairs == "columns" and A.shape[1] != B.shape[1]:
            raise InputError(
                f"pairs='columns' needs equal column counts, got {A.shape[1]}, {B.shape[1]}"
            )
        if self._deposit is not None:
            if n_orb is None:
                raise InputError(
                    "n_orb (spin-orbitals per atom, params.n_orb) is required for ETB states"
                )
            if pairs == "columns":
                return self.charges_from_atoms(pair_density_atoms(A, B, n_orb))
            if A.shape[0] != B.shape[0] or A.shape[0] % n_orb:
                pair_density_atoms(A[:, 0], B[:, 0], n_orb)  # raises the length error
            a = A.reshape(-1, n_orb, A.shape[1])
            b = B.reshape(-1, n_orb, B.shape[1])
            rho = np.einsum("ioa,iob->iab", np.conj(a), b).reshape(a.shape[0], -1)
            q = self.charges_from_atoms(rho)
            return q.reshape((A.shape[1], B.shape[1]) + self.shape)
        if self._basis is None:
            raise InputError(
                "charges_from_states needs an operator built by for_structure or for_envelope"
            )
        FA, nA = self._envelopes(A, "A")
        FB, nB = (FA, nA) if B is A else self._envelopes(B, "B")
        scale = self.grid.h**3 / math.sqrt(nA * nB)
        if pairs == "columns":
            return np.einsum("aixyz,aixyz->axyz", np.conj(FA), FB, optimize=True) * scale
        return np.einsum("aixyz,bixyz->abxyz", np.conj(FA), FB, optimize=True) * scale

    # ------------------------------------------------------------------ potentials
    def _check_q(self, q, name="q"):
        q = np.asarray(q)
        if q.shape[-3:] != self.shape or q.ndim not in (3, 4):
            raise InputError(
                f"{name} has shape {q.shape}; expected {self.shape} or (m, *{self.shape})"
            )
        if not np.all(np.isfinite(q)):
            raise InputError(f"{name} contains non-finite values")
        return q

    def _solve_real(self, r: np.ndarray, part: str) -> np.ndarray:
        """Potential (1/nm) on the charge window of the real node charges ``r``."""
        g, h = self.grid, self.grid.h
        self.stats["solves"] += 1
        src = np.zeros(tuple(int(v) for v in self._whi - self._wlo))
        if part != "image":
            src[self._cin] = r / self.eps_in
        if self.image and part != "homogeneous":
            q = np.zeros(g.shape)
            q[tuple(slice(a, b) for a, b in zip(self._lo, self._hi))] = r
            Q = float(r.sum())
            p = [float(np.sum(r.sum(axis=tuple(e for e in range(3) if e != d)) * self._axes[d]))
                 for d in range(3)]
            B = Q * self._bnd[0] + p[0] * self._bnd[1] + p[1] * self._bnd[2] + p[2] * self._bnd[3]
            phi0 = B / self.eps_in
            psi = B * (1.0 / self.eps_out - 1.0 / self.eps_in)
            with blas_threads(1):
                _, n_pol, st = _image_box(
                    q, g, self._faces, self.eps_in, self.eps_out, self.rtol, phi0, psi,
                    self._unit, self._diff,
                )
            self.stats["cg_iterations"].append(st["iterations"])
            self.stats["cg_residual"] = max(self.stats["cg_residual"], st["residual"])
            src += n_pol[self._win] * (h**3 / self.eps_out)
        if not src.any():
            return np.zeros(self.shape)
        return P.free_space_potential(src, h, self._kfft)[self._cin]

    def potential(self, q, part: str = "total") -> np.ndarray:
        """Potential of node charges, homogeneous + image (dielectric mismatch) part.

        Parameters
        ----------
        q : ndarray of float64 or complex128, shape ``shape`` or ``(m, *shape)``
            Node charges (units of e); complex charges are solved as real and imaginary parts.
        part : {"total", "homogeneous", "image"}
            ``"homogeneous"``: ε_in everywhere (exact open-boundary convolution); ``"image"``:
            ψ = φ(ε(r)) − φ(ε_in) with the open-boundary completion.

        Returns
        -------
        ndarray, same shape and kind as ``q``
            Potential per unit charge (1/nm) on the charge-window nodes; e²/(4πε0)·Σ q' V(q) is an
            energy in eV.

        Raises
        ------
        InputError
            Wrong shape, non-finite values, unknown ``part``.
        """
        if part not in _PARTS:
            raise InputError(f"part must be one of {', '.join(_PARTS)}, got {part!r}")
        q = self._check_q(q)
        stack = q.reshape((-1,) + self.shape)
        cplx = np.iscomplexobj(q)
        out = np.zeros(stack.shape, dtype=complex if cplx else float)
        for i, qi in enumerate(stack):
            re = np.ascontiguousarray(qi.real)
            if re.any():
                out[i] += self._solve_real(re, part)
            if cplx and qi.imag.any():
                out[i] += 1j * self._solve_real(np.ascontiguousarray(qi.imag), part)
        return out.reshape(q.shape)

    def _gram(self, qa, va, qb, vb) -> np.ndarray:
        """½ e²/(4πε0) (Σ q_a V q_b + Σ q_b V q_a) for stacks (m_a, N), (m_b, N) → (m_a, m_b)."""
        X = qa @ vb.T
        Y = qb @ va.T
        return 0.5 * COULOMB_EV_NM * (X + Y.T)

    def interaction(self, q_a, q_b, part: str = "total"):
        r"""Symmetrised bilinear Coulomb energy of two charges, images included (eV).

        .. math:: B(q_a, q_b) = \tfrac12\frac{e^2}{4\pi\varepsilon_0}
                  \Big(\sum q_a\,V q_b + \sum q_b\,V q_a\Big)

        with no complex conjugation (so ⟨ab|v|cd⟩ = B(ρ_ac, ρ_bd)). For real normalised densities
        of an electron and a hole this is E_C of :mod:`.coulomb` (Brus 1984).

        Parameters
        ----------
        q_a, q_b : ndarray, shape ``shape`` or ``(m, *shape)``
            Node charges (real or complex).
        part : {"total", "homogeneous", "image"}

        Returns
        -------
        float or complex, or ndarray (m_a, m_b) if either argument is a stack.

        Raises
        ------
        InputError
            As :meth:`potential`.
        """
        qa, qb = self._check_q(q_a, "q_a"), self._check_q(q_b, "q_b")
        A = qa.reshape(-1, int(np.prod(self.shape)))
        Bm = qb.reshape(-1, int(np.prod(self.shape)))
        va = self.potential(qa, part).reshape(A.shape)
        vb = va if q_b is q_a else self.potential(qb, part).reshape(Bm.shape)
        M = self._gram(A, va, Bm, vb)
        if qa.ndim == 3 and qb.ndim == 3:
            v = M[0, 0]
            return complex(v) if np.iscomplexobj(M) else float(v)
        return M

    def self_energy(self, q):
        r"""Self-polarisation energy Σ = ½ e²/(4πε0) Σ q ψ_image(q) (eV) of real densities.

        Brus, J. Chem. Phys. 80, 4403 (1984); > 0 for ε_out < ε_in, 0 for ε_out = ε_in.

        Parameters
        ----------
        q : ndarray of float64, shape ``shape`` or ``(m, *shape)``
            Carrier density as node charges (e.g. Σ = 1).

        Returns
        -------
        float, or ndarray of float64 (m,)

        Raises
        ------
        InputError
            Complex charges with a non-zero imaginary part, or as :meth:`potential`.
        """
        q = self._check_q(q)
        if np.iscomplexobj(q):
            if np.any(q.imag != 0):
                raise InputError("self_energy needs a real density (the charge of one carrier)")
            q = q.real
        if not self.image:
            return 0.0 if q.ndim == 3 else np.zeros(q.shape[0])
        psi = self.potential(q, "image")
        e = 0.5 * COULOMB_EV_NM * np.sum((q * psi).reshape(-1, int(np.prod(self.shape))), axis=1)
        return float(e[0]) if q.ndim == 3 else e


# ---------------------------------------------------------------------- integrals of levels
def direct_exchange(op: CoulombOperator, A, B, *, n_orb: int | None = None):
    r"""Direct J_ab and exchange K_ab integrals (eV) of two sets of single-particle states.

    .. math::
        J_{ab} = \iint |\psi_a(1)|^2\,v\,|\psi_b(2)|^2,\qquad
        K_{ab} = \iint \psi_a^*\psi_b(1)\,v\,\psi_b^*\psi_a(2)

    with v the Coulomb interaction in the dielectric (images included; Brus, J. Chem. Phys. 80,
    4403 (1984)) and the exchange definition of Franceschetti, Wang, Fu & Zunger, PRB 58, R13367
    (1998) (Leung & Whaley, PRB 56, 7455 (1997)). For one electron and one hole doublet the mean of
    J is :func:`.coulomb.coulomb_etb_doublets` E_C; K here is the long-range (monopole) exchange of
    the grid densities, without the on-site term.

    Parameters
    ----------
    op : CoulombOperator
    A, B : ndarray of complex128, shape (n_states, k_A), (n_states, k_B)
        Orthonormal states (columns), e.g. ``edges.electron.vectors`` and ``edges.hole.vectors``.
    n_orb : int, optional
        Spin-orbitals per atom (ETB operators).

    Returns
    -------
    J : ndarray of float64, shape (k_A, k_B)
        Direct integrals (eV), symmetric under A ↔ B.
    K : ndarray of float64, shape (k_A, k_B)
        Exchange integrals (eV); real because the kernel is real and symmetric
        (K_ab = conj(K_ba) = K_ba), K_aa = J_aa, K ≥ 0 for a positive-definite kernel.

    Raises
    ------
    InputError
        As :meth:`CoulombOperator.charges_from_states`.

    Notes
    -----
    Cost: k_A + k_B real solves for J and up to 2 k_A k_B for K.
    """
    A, B = _check_states(A, "states A"), _check_states(B, "states B")
    N = int(np.prod(op.shape))
    da = op.charges_from_states(A, A, n_orb=n_orb, pairs="columns").real.reshape(A.shape[1], N)
    db = op.charges_from_states(B, B, n_orb=n_orb, pairs="columns").real.reshape(B.shape[1], N)
    va = op.potential(da.reshape((-1,) + op.shape)).reshape(da.shape)
    vb = op.potential(db.reshape((-1,) + op.shape)).reshape(db.shape)
    J = op._gram(da, va, db, vb)
    rho = op.charges_from_states(A, B, n_orb=n_orb).reshape(-1, N)
    v = op.potential(rho.reshape((-1,) + op.shape)).reshape(rho.shape)
    K = np.einsum("in,in->i", np.conj(rho), v).real * COULOMB_EV_NM
    return J, K.reshape(A.shape[1], B.shape[1])


def coulomb_elements(op: CoulombOperator, states, *, n_orb: int | None = None) -> np.ndarray:
    r"""Two-body Coulomb matrix ⟨ab|v|cd⟩ (eV) of a small set of states, images included.

    .. math::
        \langle ab|v|cd\rangle = \frac{e^2}{4\pi\varepsilon_0}\iint \psi_a^*(1)\psi_c(1)\,
        G(1,2)\,\psi_b^*(2)\psi_d(2)

    (Franceschetti et al., PRB 58, R13367 (1998); Leung & Whaley, PRB 56, 7455 (1997)), the input of
    exciton/trion configuration interaction. The potential of each pair density ρ_ij (i ≤ j) is
    computed once (ρ_ji = conj ρ_ij), then all elements are contracted at once.

    Parameters
    ----------
    op : CoulombOperator
    states : ndarray of complex128, shape (n_states, n)
        The n single-particle states (columns).
    n_orb : int, optional
        Spin-orbitals per atom (ETB operators).

    Returns
    -------
    ndarray of complex128, shape (n, n, n, n)
        ``W[a, b, c, d] = ⟨ab|v|cd⟩``; W[a,b,c,d] = W[b,a,d,c] = conj(W[c,d,a,b]);
        J_ab = W[a,b,a,b], K_ab = W[a,b,b,a].

    Raises
    ------
    InputError
        As :meth:`CoulombOperator.charges_from_states`.

    Notes
    -----
    Cost: n² real solves; memory 2 n² complex arrays of ``op.shape``.
    """
    S = _check_states(states, "states")
    n, N = S.shape[1], int(np.prod(op.shape))
    rho = op.charges_from_states(S, S, n_orb=n_orb).reshape(n, n, N)
    iu = np.triu_indices(n)
    v_up = op.potential(rho[iu].reshape((-1,) + op.shape)).reshape(-1, N)
    v = np.empty((n, n, N), dtype=complex)
    v[iu] = v_up
    v[iu[1], iu[0]] = np.conj(v_up)
    rho, v = rho.reshape(n * n, N), v.reshape(n * n, N)
    M = op._gram(rho, v, rho, v)
    return M.reshape(n, n, n, n).transpose(0, 2, 1, 3)
