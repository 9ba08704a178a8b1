r"""Grid back end of :mod:`perovskite_tb.observables.coulomb`: padded grid, image potentials.

See :mod:`perovskite_tb.observables.coulomb` for the physics and the method; the numerics are in
:mod:`perovskite_tb.observables._poisson`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from perovskite_tb._system import blas_threads
from perovskite_tb.errors import InputError
from perovskite_tb.observables import _poisson as P
from perovskite_tb.observables.regions import Region

__all__ = [
    "CoulombResult",
    "Grid",
    "make_grid",
    "coulomb_on_grid",
    "check_eps",
    "check_length",
    "COULOMB_EV_NM",
    "PADDING_FRACTION",
    "MIN_NODES",
]

COULOMB_EV_NM = P.COULOMB_EV_NM
#: default padding of the box on each side, in units of the largest NC dimension
PADDING_FRACTION = 0.25
#: fewest nodes across the smallest NC dimension accepted
MIN_NODES = 4


@dataclass(frozen=True)
class CoulombResult:
    """Coulomb and self-polarisation energies of one e–h pair.

    Attributes
    ----------
    E_C : float
        Direct e–h attraction (eV, ≥ 0), images included.
    E_C_homogeneous : float
        The same with ε_in everywhere (eV).
    Sigma_e, Sigma_h : float
        Self-polarisation energies (eV; > 0 for ε_out < ε_in, 0 for ε_out = ε_in).
    eps_in, eps_out : float
    spacing_nm : float
    shape : tuple of int
        Nodes of the padded box.
    seconds : float
    info : dict
        CG iterations and residuals, reciprocity error of the image term (eV), density norms.
    """

    E_C: float
    E_C_homogeneous: float
    Sigma_e: float
    Sigma_h: float
    eps_in: float
    eps_out: float
    spacing_nm: float
    shape: tuple
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def optical_correction_eV(self) -> float:
        """−E_C + Σ_e + Σ_h (eV): add to E_e − E_h for the optical transition energy."""
        return -self.E_C + self.Sigma_e + self.Sigma_h

    def as_json(self) -> dict:
        """Return the JSON-ready dict of the result.

        Keys ``coulomb_eV``, ``self_energy_e_eV``, ``self_energy_h_eV``, ``optical_correction_eV``,
        ``epsilon_in``, ``epsilon_out``, ``coulomb_grid_nm``, ``coulomb_seconds``.
        """
        return {
            "coulomb_eV": self.E_C,
            "self_energy_e_eV": self.Sigma_e,
            "self_energy_h_eV": self.Sigma_h,
            "optical_correction_eV": self.optical_correction_eV,
            "epsilon_in": self.eps_in,
            "epsilon_out": self.eps_out,
            "coulomb_grid_nm": self.spacing_nm,
            "coulomb_seconds": self.seconds,
        }


@dataclass(frozen=True)
class Grid:
    """Uniform node grid: node (i, j, k) at ``origin + h·(i, j, k)`` (nm)."""

    origin: np.ndarray
    h: float
    shape: tuple

    def axes(self, lo=(0, 0, 0), hi=None):
        """Node coordinates (nm) per axis for the index window [lo, hi)."""
        hi = self.shape if hi is None else hi
        return [self.origin[d] + self.h * np.arange(lo[d], hi[d]) for d in range(3)]

    def window(self, region: Region, margin: int = 1):
        """Index window [lo, hi) of the nodes covering the region's bounding box ± ``margin``."""
        lo = np.floor((region.lo - self.origin) / self.h).astype(int) - margin
        hi = np.ceil((region.hi - self.origin) / self.h).astype(int) + 1 + margin
        return np.maximum(lo, 0), np.minimum(hi, np.array(self.shape))


def check_eps(v, name: str) -> float:
    """Return ``v`` as a finite float ≥ 1 (a relative permittivity: no medium screens less than vacuum)
    or raise InputError."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a finite number >= 1 (relative permittivity, dimensionless), got {v!r}"
        ) from None
    if not (math.isfinite(x) and x >= 1):
        raise InputError(f"{name} must be a finite number >= 1 (relative permittivity, dimensionless), got {v}")
    return x


def check_length(v, name: str, allow_zero: bool = False) -> float:
    """Return ``v`` as a finite length in nm (> 0; ≥ 0 with ``allow_zero``) or raise InputError."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite length in nm, got {v!r}") from None
    if not (math.isfinite(x) and (x >= 0 if allow_zero else x > 0)):
        raise InputError(
            f"{name} must be a finite length {'>=' if allow_zero else '>'} 0 nm, got {v} nm"
        )
    return x


def make_grid(region: Region, spacing_nm: float, padding_nm: float | None = None) -> Grid:
    """Build the padded node grid around ``region`` with a node on ``region.anchor``.

    The box is symmetric about the centre of the region's bounding box whenever the node lattice is
    (see :func:`_box_nodes`), so the image potential keeps the NC's point symmetry.

    Raises
    ------
    InputError
        Non-positive spacing or padding; spacing coarser than the lattice constant of an atomistic
        region; fewer than :data:`MIN_NODES` nodes across the smallest NC dimension.
    """
    h = check_length(spacing_nm, "grid spacing")
    if region.lattice_nm is not None and h > region.lattice_nm * (1 + 1e-9):
        raise InputError(
            f"grid spacing {h:g} nm is coarser than the lattice constant "
            f"a = {region.lattice_nm:g} nm (need spacing <= a)"
        )
    if region.min_extent_nm / h < MIN_NODES * (1 - 1e-9):
        raise InputError(
            f"grid spacing {h:g} nm too coarse for the NC: {region.min_extent_nm / h:.2g} "
            f"nodes across its smallest dimension {region.min_extent_nm:g} nm "
            f"(need >= {MIN_NODES})"
        )
    ext = float(np.max(region.hi - region.lo))
    pad = (
        PADDING_FRACTION * ext if padding_nm is None else check_length(padding_nm, "padding", True)
    )
    pad = max(pad, 3 * h)
    # node lattice anchor + h·k; u: NC bounding-box centre and box half-width in node units
    u_c = (0.5 * (region.lo + region.hi) - region.anchor) / h
    u_w = (0.5 * (region.hi - region.lo) + pad) / h
    origin, shape = np.empty(3), []
    for d in range(3):
        k_lo, k_hi = _box_nodes(float(u_c[d]), float(u_w[d]))
        origin[d] = region.anchor[d] + k_lo * h
        shape.append(k_hi - k_lo + 1)
    return Grid(origin=origin, h=h, shape=tuple(shape))


def _box_nodes(u_c: float, u_w: float) -> tuple[int, int]:
    """First and last node index (k_lo, k_hi) of one axis of the padded box, in node units.

    The box covers [u_c − u_w, u_c + u_w]; k_hi − k_lo is made fast
    (:func:`scipy.fft.next_fast_len`; the DST-I of the interior nodes runs an FFT of length
    2(k_hi − k_lo)). When the centre u_c sits on a node or midway between two (2u_c an integer:
    every Pb-cell region with the default spacing a/2 or a/4, every box or ellipsoid anchored at
    its centre) the box is symmetric about it, k_lo + k_hi = 2u_c, and the fast length is reached
    by adding nodes in pairs, one on each side. The box-boundary condition of the image solve then
    has the NC's reflection symmetries, so a cube's image potential is Oh-symmetric. (The former
    floor of a tied coordinate and one-sided fast-length pad left some boxes one node longer on one
    side, e.g. the 4-cell CsPbBr3 cube, whose image potential then broke x → −x by 1.5e-3 relative
    and whose bright exciton triplet split 2 + 1 along [111] by 1.1e-3 meV.) Node coordinates
    within 1e-9 of an integer count as on the node.
    """
    tol = 1e-9
    two_c = round(2.0 * u_c)
    if abs(2.0 * u_c - two_c) > 2 * tol:  # no symmetric node lattice about the centre
        k_lo = math.floor(u_c - u_w + tol)
        span = math.ceil(u_c + u_w - tol) - k_lo
        fast = sfft.next_fast_len(span)
        k_lo -= (fast - span) // 2
        return k_lo, k_lo + fast
    k_lo = math.floor(u_c - u_w + tol)
    span = two_c - 2 * k_lo  # k_hi − k_lo with k_hi = 2u_c − k_lo ≥ u_c + u_w
    fast = span
    while sfft.next_fast_len(fast) != fast:  # same parity: grow by one node on each side
        fast += 2
    k_lo -= (fast - span) // 2
    return k_lo, k_lo + fast


def _boundary_values(grid: Grid, center: np.ndarray, scale: float) -> np.ndarray:
    """Full-grid array, zero inside, ``scale / |r − center|`` on the six boundary faces."""
    out = np.zeros(grid.shape)
    ax = grid.axes()
    for d in range(3):
        for idx in (0, grid.shape[d] - 1):
            sl = [slice(None)] * 3
            sl[d] = idx
            c = [ax[e] if e != d else np.array([ax[d][idx]]) for e in range(3)]
            X, Y, Z = np.meshgrid(*c, indexing="ij")
            r = np.sqrt((X - center[0]) ** 2 + (Y - center[1]) ** 2 + (Z - center[2]) ** 2)
            out[tuple(sl)] = np.squeeze(scale / r, axis=d)
    return out


def _image_box(
    q, grid: Grid, faces, eps_in: float, eps_out: float, rtol: float, phi0, psi, unit=None,
    diff=None,
):
    """Image potential ψ in the padded box and its polarisation charge density (steps 3–4).

    ``phi0`` and ``psi`` are full-grid arrays holding the box-boundary values of the ε_in potential
    and of ψ (interior ignored); they are filled in place. ``unit`` (all-ones faces) and ``diff``
    (ε_in − faces) may be passed precomputed.

    Returns
    -------
    (ndarray, ndarray, dict)
        ψ (full grid, 1/nm), ε_out(−Δ_h ψ)/4π (full grid, 1/nm³, zero on the boundary), CG
        statistics.
    """
    h = grid.h
    inner = (slice(1, -1),) * 3
    unit = [np.ones_like(f) for f in faces] if unit is None else unit
    b = 4.0 * math.pi * q[inner] / h**3 / eps_in - P.apply_operator(phi0, unit, h)
    phi0[inner] = P.dirichlet_laplace_solve(b, h)
    diff = [eps_in - f for f in faces] if diff is None else diff
    rhs = P.apply_operator(phi0, diff, h) - P.apply_operator(psi, faces, h)
    x, stats = P.solve_variable(rhs, faces, h, math.sqrt(eps_in * eps_out), rtol=rtol)
    psi[inner] = x
    n_pol = np.zeros(grid.shape)
    n_pol[inner] = eps_out / (4.0 * math.pi) * P.apply_operator(psi, unit, h)
    return psi, n_pol, stats


def _image_potential(
    q: np.ndarray, grid: Grid, faces, eps_in: float, eps_out: float, rtol: float, window
):
    """Image potential ψ = φ(ε(r)) − φ(ε_in) (1/nm) of the node charges ``q`` (Σq = 1).

    Returns
    -------
    (ndarray, ndarray, dict)
        ψ with open boundaries on the ``window`` nodes (zero elsewhere), ψ of the padded box with
        the monopole boundary value (full grid), CG statistics.
    """
    h = grid.h
    ax = grid.axes()
    cen = np.array(
        [np.sum(q.sum(axis=tuple(e for e in range(3) if e != d)) * ax[d]) for d in range(3)]
    )
    phi0 = _boundary_values(grid, cen, 1.0 / eps_in)
    psi = _boundary_values(grid, cen, 1.0 / eps_out - 1.0 / eps_in)
    psi, n_pol, stats = _image_box(q, grid, faces, eps_in, eps_out, rtol, phi0, psi)
    # open-boundary completion: ε_out(−Δ_h ψ)/4π is the polarisation charge, confined to the
    # interface shell; its free-space potential replaces the box boundary condition
    win = tuple(slice(lo, hi) for lo, hi in zip(*window))
    src = n_pol[win] * h**3
    psi_open = np.zeros(grid.shape)
    psi_open[win] = P.free_space_potential(src, h) / eps_out
    stats["polarisation_charge_outside_window"] = float(
        np.abs(n_pol).sum() * h**3 - np.abs(src).sum()
    )
    return psi_open, psi, stats


def _energies(q_e, q_h, psi_e, psi_h):
    """(Σ_e, Σ_h, E_pol, |reciprocity error|) in eV from image potentials (1/nm)."""
    sig_e = 0.5 * COULOMB_EV_NM * float(np.sum(q_e * psi_e))
    sig_h = 0.5 * COULOMB_EV_NM * float(np.sum(q_h * psi_h))
    he = COULOMB_EV_NM * float(np.sum(q_h * psi_e))
    eh = COULOMB_EV_NM * float(np.sum(q_e * psi_h))
    return sig_e, sig_h, 0.5 * (he + eh), abs(he - eh)


def _completion_window(grid: Grid, region: Region, charge_box):
    """Nodes [lo, hi) of the open-boundary completion: the region (margin 2) and the charges ± 1."""
    lo, hi = charge_box
    rlo, rhi = grid.window(region, margin=2)
    return (
        np.maximum(np.minimum(rlo, lo - 1), 1),
        np.minimum(np.maximum(rhi, hi + 1), np.array(grid.shape) - 1),
    )


def _polarisation(
    q_e, q_h, charge_box, grid, region, eps_in, eps_out, subsamples, rtol, info, e_hom
):
    """(Σ_e, Σ_h, E_pol) in eV; fills ``info`` with solver statistics and box-boundary values."""
    window = _completion_window(grid, region, charge_box)
    faces = P.face_permittivity(
        region.inside,
        grid.origin,
        grid.h,
        grid.shape,
        grid.window(region),
        eps_in,
        eps_out,
        subsamples,
    )
    pe, pe_box, st_e = _image_potential(q_e, grid, faces, eps_in, eps_out, rtol, window)
    ph, ph_box, st_h = _image_potential(q_h, grid, faces, eps_in, eps_out, rtol, window)
    sig_e, sig_h, e_pol, rec = _energies(q_e, q_h, pe, ph)
    box = _energies(q_e, q_h, pe_box, ph_box)
    info.update(
        cg_iterations=(st_e["iterations"], st_h["iterations"]),
        cg_residual=max(st_e["residual"], st_h["residual"]),
        reciprocity_eV=rec,
        E_C_box_boundary_eV=e_hom + box[2],
        Sigma_box_boundary_eV=box[:2],
        polarisation_charge_outside_window=max(
            st_e["polarisation_charge_outside_window"], st_h["polarisation_charge_outside_window"]
        ),
    )
    return sig_e, sig_h, e_pol


def coulomb_on_grid(
    q_e,
    q_h,
    grid: Grid,
    region: Region,
    eps_in: float,
    eps_out: float,
    *,
    subsamples: int = 2,
    rtol: float = 1e-9,
) -> CoulombResult:
    """E_C, Σ_e, Σ_h from node charges on ``grid`` (the common back end).

    Parameters
    ----------
    q_e, q_h : ndarray of float64, shape ``grid.shape``
        Charge per node (dimensionless, ≥ 0, sum 1), zero on the box boundary.
    grid : Grid
    region : Region
        Where ε = ε_in.
    eps_in, eps_out : float
        Relative permittivities inside / outside (> 0).
    subsamples : int, optional
        Even number of indicator samples per axis and dual cell for the face ε (default 2).
    rtol : float, optional
        Relative residual of the CG solve (default 1e-9).

    Returns
    -------
    CoulombResult

    Raises
    ------
    InputError
        Non-positive / non-finite ε or odd ``subsamples``.
    """
    t0 = time.perf_counter()
    eps_in, eps_out = check_eps(eps_in, "epsilon_in"), check_eps(eps_out, "epsilon_out")
    if int(subsamples) < 2 or int(subsamples) % 2:
        raise InputError(f"subsamples must be an even integer >= 2, got {subsamples}")
    nz = np.argwhere((q_e != 0) | (q_h != 0))
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    sub = tuple(slice(a, b) for a, b in zip(lo, hi))
    e_hom = COULOMB_EV_NM / eps_in * P.free_space_energy(q_e[sub], q_h[sub], grid.h)
    info = {"charge_box_nodes": tuple(int(v) for v in hi - lo)}
    sig_e = sig_h = e_pol = 0.0
    if eps_out != eps_in:
        with blas_threads(1):  # vector ops of CG: OpenBLAS threads only contend on shared cores
            sig_e, sig_h, e_pol = _polarisation(
                q_e, q_h, (lo, hi), grid, region, eps_in, eps_out, subsamples, rtol, info, e_hom
            )
    return CoulombResult(
        E_C=e_hom + e_pol,
        E_C_homogeneous=e_hom,
        Sigma_e=sig_e,
        Sigma_h=sig_h,
        eps_in=eps_in,
        eps_out=eps_out,
        spacing_nm=grid.h,
        shape=grid.shape,
        seconds=time.perf_counter() - t0,
        info=info,
    )
