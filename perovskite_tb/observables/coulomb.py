r"""Electron–hole Coulomb energy of a confined pair in a nanocrystal embedded in a dielectric.

Physics
-------
The optical (exciton) transition energy of a strongly confined NC is, to first order in the e–h
interaction (Brus, J. Chem. Phys. 80, 4403 (1984); Kayanuma, PRB 38, 9797 (1988)),

.. math::
    E_{\rm opt} = E_e - E_h - E_C + \Sigma_e + \Sigma_h,\qquad
    E_C = \frac{e^2}{4\pi\varepsilon_0}\iint n_e(\mathbf r)\,G(\mathbf r,\mathbf r')
          \,n_h(\mathbf r'),
    \qquad \Sigma_c = \frac{e^2}{8\pi\varepsilon_0}\iint n_c\,G_{\rm pol}\,n_c ,

with n_e, n_h the normalised carrier densities, G the Green's function of
:math:`-\nabla\cdot(\varepsilon\nabla G) = 4\pi\delta` for ε = ε_in inside the NC and ε_out outside,
and :math:`G_{\rm pol} = G - 1/(\varepsilon_{\rm in}|\mathbf r-\mathbf r'|)` its image
(polarisation) part. E_C ≥ 0 is the direct attraction (images included); Σ_e, Σ_h are the
self-polarisation energies (> 0 for ε_out < ε_in). For a spherically symmetric pair in a sphere of
radius R the image potential inside is the constant (1/ε_out − 1/ε_in)e²/(4πε0 R): E_C gains it once
and Σ_e + Σ_h add it back, so E_opt keeps only the homogeneous 1.786 e²/(4πε0 ε_in R) (Brus 1984) —
a test of this module.

Method
------
1. Charges on a uniform node grid of spacing h: ETB per-atom weights are deposited as uniform
   cubes of side ``cloud_nm`` (default a/2) by exact overlap with the node cells (cloud-in-cell for
   cloud = h; the default h = a/2 places every Pb and X on a node); k·p densities are sampled at the
   nodes and renormalised.
2. Homogeneous part (ε_in everywhere): exact open-boundary convolution by zero-padded FFT with the
   cell-averaged cube–cube kernel (:mod:`._poisson`): the charge on a node is a uniform cube of
   side h.
3. Polarisation part: finite differences on the padded box, ε on the faces from the region indicator
   (harmonic along the normal, arithmetic across, s³ samples per dual cell).
   :math:`\varphi_0` = FD solution for ε_in (direct DST) with the boundary value 1/(ε_in r);
   the image potential ψ solves :math:`A_\varepsilon\psi = (A_{\varepsilon_{\rm in}} -
   A_\varepsilon)\varphi_0` with ψ = (1/ε_out − 1/ε_in)/r on the box boundary (the exact monopole
   of the far field; r from the charge centroid, so the free-charge dipole vanishes). ψ is thus
   φ(ε(r)) − φ(ε_in) on one grid, so the FD discretisation error of the bare potential cancels, and
   ψ ≡ 0 for ε_out = ε_in. CG preconditioned by the constant-coefficient DST solve converges in
   9–13 iterations at any grid size (condition number ≤ ε_in/ε_out).
4. Open boundary: the box boundary value misses the higher multipoles of the polarised NC, which
   shifts ψ inside the NC by a near-constant. The polarisation charge ε_out(−∇_h²ψ)/4π lives on the
   interface shell only, so ψ is re-evaluated from it by the open-boundary FFT convolution of step 2
   (the screening-charge idea of R. A. James, J. Comput. Phys. 25, 71 (1977)). A constant shift of ψ
   cancels in −E_C + Σ_e + Σ_h exactly; the completion removes most of it from E_C itself.
5. E_C = E_C(hom) + ½(⟨n_h|ψ_e⟩ + ⟨n_e|ψ_h⟩) (the two agree to ≲ 1e-5 eV;
   ``info["reciprocity_eV"]``), Σ_c = ½⟨n_c|ψ_c⟩, all times e²/(4πε0) = 1.44 eV·nm.

Each ETB atom is a uniform cube of side ``cloud_nm`` (default a/2): the on-site e–h term is then
that of two such cubes, 1.882 e²/(4πε0 ε_in cloud). This is a model choice (the Pb 6p / X p orbitals
are not resolved); at ≥ 6 nm it moves E_C by < 1 % between cloud a/4 and a.

Accuracy and cost (tables printed by ``python -m benchmarks.coulomb``)
-----------------------------------------------------------------------
* Sphere, ε_in = ε_out: envelope density E_C within −1.1 / −0.27 / −0.07 % of 1.78607 e²/(4πε0 εR)
  at 12 / 24 / 48 nodes across; per-atom density (h = a/2) within −0.18 % at R = 2 nm, −0.03 % at
  5 nm.
* Sphere, ε_out = 2 < ε_in = 5: image term within 0.3 % of (1/ε_out − 1/ε_in)e²/(4πε0R) at 24 nodes
  (staircased interface), and −E_C + Σ_e + Σ_h = −E_C(hom) to 1e-15.
* 10-cell cube, ε_in = 6.1, ε_out = 2.2: E_C at h = a/2 (default) within 0.2 % of h = a/6;
  padding 0.25 L (default) within 0.2 % of 1.0 L (monopole box boundary alone: +0.6 %).
* Cost with the defaults (CPU s, best of 2, 2 shared cores): 0.05 s at 10 cells (6.3 nm, 31³ nodes),
  0.22 s at 16 cells (10 nm, 49³), 0.97 s at 26 cells (16.4 nm, 81³; wall 2.9 s at load 8) — small
  beside the eigen-solve.

Pipeline use
------------
ETB (``perovskite_tb.nc``): ``coulomb_etb_doublets(structure, edges.electron.vectors,
edges.hole.vectors, params.n_orb, eps_in=..., eps_out=...)``; k·p (``kp.confinement``):
``coulomb_envelope(kp_density(res.terms.basis, res.electron.vectors), kp_density(res.terms.basis,
res.hole.vectors), box_region(edge_nm), eps_in=..., eps_out=...)``. Defaults of ε:
:func:`~perovskite_tb.observables.dielectric.dielectric_constants`. Then
``optical_transition_energy = E_e − E_h + result.optical_correction_eV``.

Pair densities ψ_a*ψ_b of any two levels, direct/exchange integrals and ⟨ab|v|cd⟩ with the same
solver set up once per NC: :mod:`perovskite_tb.observables.coulomb_integrals`.
"""

from __future__ import annotations

import math

import numpy as np

from perovskite_tb.errors import InputError
from perovskite_tb.observables.coulomb_grid import (
    COULOMB_EV_NM,
    MIN_NODES,
    CoulombResult,
    Grid,
    check_eps,
    check_length,
    coulomb_on_grid,
    make_grid,
)
from perovskite_tb.observables.coulomb_kp import kp_density
from perovskite_tb.observables.dielectric import dielectric_constants
from perovskite_tb.observables.regions import (
    Region,
    box_region,
    ellipsoid_region,
    pb_cell_region,
    sphere_region,
    structure_region,
)

__all__ = [
    "CoulombResult",
    "coulomb_atoms",
    "coulomb_etb",
    "coulomb_etb_doublets",
    "coulomb_envelope",
    "coulomb_on_grid",
    "atom_weights",
    "dielectric_constants",
    "make_grid",
    "Grid",
    "Region",
    "box_region",
    "ellipsoid_region",
    "sphere_region",
    "pb_cell_region",
    "structure_region",
    "COULOMB_EV_NM",
    "ENVELOPE_NODES",
]

#: default envelope grid: nodes across the smallest NC dimension
ENVELOPE_NODES = 24


# --------------------------------------------------------------------------- inputs → node charges
def atom_weights(vectors, n_orb: int) -> np.ndarray:
    """Per-atom weights w(i) = Σ_{orbital, spin} |c|², averaged over the columns of ``vectors``.

    Parameters
    ----------
    vectors : ndarray of complex128, shape (n_states, k)
        Orthonormal states (e.g. the Kramers pair of a
        :class:`perovskite_tb.eigen.solver.Doublet`), atom-major with ``n_orb`` spin-orbitals per
        atom.
    n_orb : int
        Spin-orbitals per atom (20 for sp3d5s* with spin).

    Returns
    -------
    ndarray of float64, shape (n_states // n_orb,), summing to 1 for normalised states.

    Raises
    ------
    InputError
        If n_states is not a multiple of ``n_orb``.
    """
    V = np.asarray(vectors)
    V = V.reshape(V.shape[0], -1)
    if n_orb < 1 or V.shape[0] % n_orb:
        raise InputError(
            f"state length {V.shape[0]} is not a multiple of {n_orb} orbitals per atom"
        )
    return (np.abs(V) ** 2).reshape(-1, n_orb, V.shape[1]).sum(axis=1).mean(axis=1)


def _check_weights(w, n_atoms: int, name: str) -> np.ndarray:
    w = np.asarray(w, dtype=float).reshape(-1)
    if w.size != n_atoms:
        raise InputError(f"{name} has {w.size} entries for {n_atoms} atoms")
    if not np.all(np.isfinite(w)):
        raise InputError(f"{name} contains non-finite values (weights are probabilities, unit 1)")
    if w.min() < 0:
        raise InputError(f"{name} has a negative weight {w.min():.3g} (probabilities, unit 1)")
    if abs(w.sum() - 1.0) > 1e-6:
        raise InputError(
            f"{name} sums to {w.sum():.9g}, expected 1 (normalised probability, unit 1)"
        )
    return w


def _cube_overlaps(grid: Grid, positions: np.ndarray, cloud: float):
    """Node indices ks (n, 3, m) and overlap fractions ov (n, 3, m) of cubes of side ``cloud``.

    The charge of atom i on node (ks[i,0,a], ks[i,1,b], ks[i,2,c]) is w_i ov[i,0,a] ov[i,1,b]
    ov[i,2,c] (exact overlap of the cube with the node cells of side h).

    Raises
    ------
    InputError
        If a cloud reaches the box boundary.
    """
    h = grid.h
    u = (positions - grid.origin) / h  # node coordinates
    c = cloud / h
    m = int(math.ceil(c)) + 2
    k0 = np.floor(u - 0.5 * c + 0.5).astype(np.int64) - 1
    ks = k0[:, :, None] + np.arange(m)[None, None, :]  # (n, 3, m)
    ov = np.minimum(u[:, :, None] + 0.5 * c, ks + 0.5) - np.maximum(
        u[:, :, None] - 0.5 * c, ks - 0.5
    )
    # a cube face on a node-cell face gives a rounding-size overlap (~1e-16) with the cell beyond
    # it: drop it, so that symmetric atom sets deposit on symmetric node windows
    ov = np.where(ov > 1e-12, ov, 0.0) / c
    n = np.array(grid.shape)
    if np.any(ks[:, :, 0] < 1) or np.any(ks[:, :, -1] > n - 2):
        raise InputError("an atom's charge cloud reaches the box boundary: increase padding_nm")
    return ks, ov


def _deposit(grid: Grid, positions: np.ndarray, w: np.ndarray, cloud: float) -> np.ndarray:
    """Node charges of uniform cubes of side ``cloud`` (nm) at ``positions`` carrying ``w``."""
    ks, ov = _cube_overlaps(grid, positions, cloud)
    n = np.array(grid.shape)
    wt = (
        w[:, None, None, None]
        * ov[:, 0, :, None, None]
        * ov[:, 1, None, :, None]
        * ov[:, 2, None, None, :]
    )
    flat = (ks[:, 0, :, None, None] * n[1] + ks[:, 1, None, :, None]) * n[2] + ks[
        :, 2, None, None, :
    ]
    q = np.bincount(flat.ravel(), weights=wt.ravel(), minlength=int(n.prod()))
    return q.reshape(grid.shape)


def _atom_grid(region: Region, spacing_nm, cloud_nm, padding_nm):
    """Default grid and charge-cloud side (nm) for per-atom charges (see :func:`coulomb_atoms`)."""
    a = region.lattice_nm
    if spacing_nm is None:  # a/2 puts every Pb and X on a node; refined for NCs thinner than 2a
        h = (
            min(0.5 * a, region.min_extent_nm / MIN_NODES)
            if a
            else region.min_extent_nm / ENVELOPE_NODES
        )
    else:
        h = spacing_nm
    grid = make_grid(region, h, padding_nm)
    cloud = (
        (0.5 * a if a else grid.h) if cloud_nm is None else check_length(cloud_nm, "charge cloud")
    )
    return grid, cloud


def coulomb_atoms(
    positions,
    w_e,
    w_h,
    region: Region,
    *,
    eps_in: float,
    eps_out: float,
    spacing_nm: float | None = None,
    cloud_nm: float | None = None,
    padding_nm: float | None = None,
    subsamples: int = 2,
) -> CoulombResult:
    """E_C, Σ_e, Σ_h from per-atom weights (ETB-style point charges).

    Parameters
    ----------
    positions : ndarray of float64, shape (n_atoms, 3)
        Atom positions (nm).
    w_e, w_h : ndarray of float64, shape (n_atoms,)
        Electron / hole weight per atom (≥ 0, sum 1; :func:`atom_weights`).
    region : Region
        NC dielectric region; an atomistic region (:func:`~.regions.pb_cell_region`) sets the
        defaults spacing = cloud = a/2.
    eps_in, eps_out : float
        Relative permittivities (> 0).
    spacing_nm, cloud_nm, padding_nm : float, optional
        Grid spacing h (default a/2, or L_min/24 without a lattice), side of the uniform cube
        carrying each atom's charge (default a/2, or h), padding on each side (default 0.25 × the
        largest NC dimension).
    subsamples : int, optional
        See :func:`coulomb_on_grid`.

    Raises
    ------
    InputError
        Bad ε, weights not ≥ 0 / not summing to 1 / wrong length, grid too coarse.
    """
    X = np.asarray(positions, dtype=float).reshape(-1, 3)
    w_e = _check_weights(w_e, X.shape[0], "electron weights")
    w_h = _check_weights(w_h, X.shape[0], "hole weights")
    check_eps(eps_in, "epsilon_in"), check_eps(eps_out, "epsilon_out")
    grid, cloud = _atom_grid(region, spacing_nm, cloud_nm, padding_nm)
    q_e = _deposit(grid, X, w_e, cloud)
    q_h = _deposit(grid, X, w_h, cloud)
    res = coulomb_on_grid(q_e, q_h, grid, region, eps_in, eps_out, subsamples=subsamples)
    res.info["cloud_nm"] = cloud
    return res


def coulomb_etb(structure, w_e, w_h, *, eps_in: float, eps_out: float, **kw) -> CoulombResult:
    """:func:`coulomb_atoms` on a :class:`perovskite_tb.model.geometry.Structure`.

    The NC region is the union of the Pb-centred cubes of side ``structure.a``
    (:func:`~.regions.structure_region`). Keywords as in :func:`coulomb_atoms`.
    """
    return coulomb_atoms(
        structure.positions,
        w_e,
        w_h,
        structure_region(structure),
        eps_in=eps_in,
        eps_out=eps_out,
        **kw,
    )


def coulomb_etb_doublets(
    structure, electron_vectors, hole_vectors, n_orb: int, *, eps_in: float, eps_out: float, **kw
) -> CoulombResult:
    """Pipeline entry: E_C of the band-edge doublets of an ETB NC.

    Parameters
    ----------
    structure : perovskite_tb.model.geometry.Structure
    electron_vectors, hole_vectors : ndarray of complex128, shape (n_states, 2)
        ``BandEdges.electron.vectors`` and ``BandEdges.hole.vectors``.
    n_orb : int
        ``params.n_orb`` (spin-orbitals per atom).
    eps_in, eps_out : float
        Relative permittivities; defaults per material in :func:`~.dielectric.dielectric_constants`.
    **kw
        Passed to :func:`coulomb_atoms`.
    """
    return coulomb_etb(
        structure,
        atom_weights(electron_vectors, n_orb),
        atom_weights(hole_vectors, n_orb),
        eps_in=eps_in,
        eps_out=eps_out,
        **kw,
    )


def coulomb_envelope(
    density_e,
    density_h,
    region: Region,
    *,
    eps_in: float,
    eps_out: float,
    spacing_nm: float | None = None,
    padding_nm: float | None = None,
    subsamples: int = 2,
    norm_tol: float = 0.1,
) -> CoulombResult:
    """E_C, Σ_e, Σ_h from envelope densities (k·p).

    Parameters
    ----------
    density_e, density_h : callable
        ``density(x, y, z) -> ndarray`` (1/nm³) for broadcastable coordinate arrays (nm) of shapes
        (n_x, 1, 1), (1, n_y, 1), (1, 1, n_z); zero outside ``region``; normalised to 1.
        :func:`perovskite_tb.observables.coulomb_kp.kp_density` builds one from a k·p doublet.
    region : Region
        Hard-wall box / ellipsoid (:mod:`~.regions`).
    eps_in, eps_out : float
    spacing_nm : float, optional
        Default: smallest NC dimension / 24.
    padding_nm, subsamples
        See :func:`coulomb_atoms`.
    norm_tol : float, optional
        Accepted |Σ n h³ − 1| before renormalisation (default 0.1).

    Raises
    ------
    InputError
        Bad ε, grid too coarse, negative / non-finite density, or a density whose grid sum is not 1
        within ``norm_tol``.
    """
    check_eps(eps_in, "epsilon_in"), check_eps(eps_out, "epsilon_out")
    h = region.min_extent_nm / ENVELOPE_NODES if spacing_nm is None else spacing_nm
    grid = make_grid(region, h, padding_nm)
    lo, hi = grid.window(region)
    X, Y, Z = grid.axes(lo, hi)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    qs, norms = [], []
    for f, name in ((density_e, "electron"), (density_h, "hole")):
        n = np.broadcast_to(
            np.asarray(f(X[:, None, None], Y[None, :, None], Z[None, None, :]), dtype=float),
            (X.size, Y.size, Z.size),
        )
        if not np.all(np.isfinite(n)) or n.min() < 0:
            raise InputError(f"{name} density must be finite and >= 0 (1/nm^3)")
        tot = float(n.sum()) * grid.h**3
        if abs(tot - 1.0) > norm_tol:
            raise InputError(
                f"{name} density integrates to {tot:.4g} on the {grid.h:.3g} nm grid, "
                f"expected 1 (1/nm^3 normalised; refine spacing_nm)"
            )
        q = np.zeros(grid.shape)
        q[sl] = n * grid.h**3 / tot
        qs.append(q)
        norms.append(tot)
    res = coulomb_on_grid(qs[0], qs[1], grid, region, eps_in, eps_out, subsamples=subsamples)
    res.info["density_norm"] = tuple(norms)
    return res


def _etb_coulomb(terms, edges, eps_in: float, eps_out: float) -> CoulombResult:
    return coulomb_etb_doublets(terms.structure, edges.electron.vectors, edges.hole.vectors,
                                terms.params.n_orb, eps_in=eps_in, eps_out=eps_out)


def _kp_coulomb(terms, edges, eps_in: float, eps_out: float) -> CoulombResult:
    basis = terms.structure
    return coulomb_envelope(kp_density(basis, edges.electron.vectors), kp_density(basis, edges.hole.vectors),
                            box_region(basis.edge_nm), eps_in=eps_in, eps_out=eps_out)


#: model name (``Terms.model``) → density adapter: per-atom weights (ETB) or envelopes (k·p).
COULOMB_MODELS = {"etb": _etb_coulomb, "kp": _kp_coulomb}


def coulomb_of_solution(terms, edges, eps_in: float, eps_out: float) -> CoulombResult:
    """E_C, Σ_e, Σ_h of the band-edge doublets of a solved model (the pipeline's entry point).

    Parameters
    ----------
    terms : perovskite_tb.model.terms.Terms
        ``model`` selects the density adapter in :data:`COULOMB_MODELS`.
    edges : perovskite_tb.eigen.band_edges.BandEdges
    eps_in, eps_out : float
        Relative permittivities inside the NC and of the matrix.

    Raises
    ------
    InputError
        Bad ε, or a model without a density adapter.
    """
    if terms.model not in COULOMB_MODELS:
        raise InputError(f"no Coulomb density adapter for model {terms.model!r} (known: {', '.join(COULOMB_MODELS)})")
    return COULOMB_MODELS[terms.model](terms, edges, eps_in, eps_out)
