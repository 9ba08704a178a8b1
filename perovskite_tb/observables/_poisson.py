r"""Grid Poisson machinery behind :mod:`perovskite_tb.observables.coulomb` (private).

Everything here works on a uniform node-centred grid of spacing h (nm) in units where the potential
of a unit charge density n (1/nm³) solves :math:`-\nabla\cdot(\varepsilon\nabla\varphi) = 4\pi n`,
so :math:`\varphi = \int n/(\varepsilon|\mathbf r-\mathbf r'|)` (1/nm) in a homogeneous medium and
an interaction energy is :math:`e^2/(4\pi\varepsilon_0)\sum q\varphi` with :data:`COULOMB_EV_NM`.

* :func:`free_space_energy`: open-boundary convolution of two cell charges by zero-padded FFT
  (Hockney & Eastwood, *Computer Simulation Using Particles* (1988), §6-5) with the exact
  cell-averaged kernel of uniformly charged cubes (:func:`cube_kernel`): a charge q_i on node i is a
  uniform cube of side h, and the pair energy is the exact Coulomb energy of two such cubes.
* :func:`face_permittivity`: ε on the faces between nodes from an inside/outside indicator sampled
  s³ times per dual cell, harmonic mean along the face normal and arithmetic mean across it
  (exact for planar interfaces normal or parallel to the face).
* :func:`dirichlet_laplace_solve`: constant-coefficient 7-point Dirichlet problem, direct by DST-I.
* :func:`solve_variable`: the 7-point :math:`-\nabla_h\cdot(\varepsilon\nabla_h)` problem by
  conjugate gradients preconditioned with the constant-coefficient DST solve; the preconditioned
  operator's condition number is at most ε_max/ε_min (Rayleigh quotients of the two quadratic
  forms), so the iteration count is independent of the grid size.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.constants as sc
import scipy.fft as sfft
import scipy.sparse.linalg as spla
from numba import njit
from scipy import integrate, special

__all__ = [
    "COULOMB_EV_NM",
    "cube_kernel",
    "free_space_energy",
    "free_space_kernel_fft",
    "free_space_potential",
    "face_permittivity",
    "apply_operator",
    "dirichlet_laplace_solve",
    "solve_variable",
]

#: [eV·nm] e²/(4πε0) (CODATA via scipy.constants).
COULOMB_EV_NM: float = sc.e / (4.0 * math.pi * sc.epsilon_0) * 1e9
#: offsets (in cells, per axis, max norm) below which the cube–cube kernel is integrated exactly
_NEAR = 4


def _tent_gauss(t: float, d: float) -> float:
    """∫ (1 − |u − d|)₊ exp(−t²u²) du (unit cell), closed form in erf / exp."""
    if t == 0.0:
        return 1.0
    rp = math.sqrt(math.pi) / (2.0 * t)

    def i0(a, b):
        return rp * (special.erf(t * b) - special.erf(t * a))

    def i1(a, b):
        return (math.exp(-((t * a) ** 2)) - math.exp(-((t * b) ** 2))) / (2.0 * t * t)

    return (1.0 - d) * i0(d - 1.0, d) + i1(d - 1.0, d) + (1.0 + d) * i0(d, d + 1.0) - i1(d, d + 1.0)


@lru_cache(maxsize=None)
def _cube_pair(i: int, j: int, k: int) -> float:
    r"""Mean of 1/|r − r'| (unit h) between two unit cubes offset by (i, j, k) cells.

    Uses :math:`1/r = (2/\sqrt\pi)\int_0^\infty e^{-t^2r^2}dt`, which factorises the 6-D integral
    into 1-D integrals over the cube autocorrelation (a tent) per axis.
    """

    def f(t):
        return 2.0 / math.sqrt(math.pi) * _tent_gauss(t, i) * _tent_gauss(t, j) * _tent_gauss(t, k)

    r = math.sqrt(i * i + j * j + k * k)
    split = 1.0 / max(r, 1.0)
    v1 = integrate.quad(f, 0.0, split, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    v2 = integrate.quad(f, split, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return v1 + v2


def cube_kernel(shape) -> np.ndarray:
    """Cell-averaged 1/r (units 1/h) on offsets 0…n−1 per axis, shape ``shape`` (float64).

    Exact (quadrature to 1e-12) for offsets with max-norm ≤ 4 cells; beyond, the point value 1/|Δ|
    (the cube's l = 4 correction there is < 1e-4 relative). Entry (0, 0, 0) is the self-energy
    constant of a uniform unit cube, 1.8823….
    """
    ii = [np.arange(n, dtype=float) for n in shape]
    gx, gy, gz = np.meshgrid(*ii, indexing="ij")
    with np.errstate(divide="ignore"):
        out = 1.0 / np.sqrt(gx * gx + gy * gy + gz * gz)
    m = [min(n, _NEAR + 1) for n in shape]
    for i in range(m[0]):
        for j in range(m[1]):
            for k in range(m[2]):
                out[i, j, k] = _cube_pair(*sorted((i, j, k)))
    return out


def free_space_kernel_fft(shape) -> np.ndarray:
    """rfftn of the circularly embedded :func:`cube_kernel` for windows of ``shape`` nodes.

    The transform has the padded size 2n per axis; pass it to :func:`free_space_potential` as
    ``kernel_fft`` to convolve many charge arrays of the same shape without rebuilding it.
    """
    shape = tuple(int(n) for n in shape)
    half = cube_kernel(shape)
    big = tuple(2 * n for n in shape)
    # circular embedding of the even kernel: offset −i sits at index 2n − i (index n is never used)
    idx = [np.concatenate([np.arange(n), [0], np.arange(n - 1, 0, -1)]) for n in shape]
    return sfft.rfftn(half[np.ix_(*idx)])


def free_space_potential(
    q: np.ndarray, h: float, kernel_fft: np.ndarray | None = None
) -> np.ndarray:
    """Potential Σ_j q(j) ⟨1/r⟩_ij (1/nm) on the nodes of the cell charges ``q``, open boundaries.

    ``q`` has shape (n_x, n_y, n_z) (real); zero-padded FFT convolution with :func:`cube_kernel`.
    ``kernel_fft`` (from :func:`free_space_kernel_fft` of ``q.shape``) skips the kernel set-up.
    """
    shape = q.shape
    big = tuple(2 * n for n in shape)
    if kernel_fft is None:
        kernel_fft = free_space_kernel_fft(shape)
    phi = sfft.irfftn(sfft.rfftn(q, s=big) * kernel_fft, s=big)
    return phi[: shape[0], : shape[1], : shape[2]] / h


def free_space_energy(q_a: np.ndarray, q_b: np.ndarray, h: float) -> float:
    """Pair sum Σ_ij q_a(i) q_b(j) ⟨1/r⟩_ij (1/nm) of two cell-charge arrays, open boundaries."""
    return float(np.sum(q_b * free_space_potential(q_a, h)))


def face_permittivity(inside, origin, h, shape, window, eps_in, eps_out, subsamples=2):
    """ε on the x, y, z faces of a node grid from the indicator ``inside``.

    Parameters
    ----------
    inside : callable
        ``inside(points (n, 3) nm) -> bool (n,)``.
    origin : ndarray (3,)
        Position of node (0, 0, 0) (nm).
    h : float
        Spacing (nm).
    shape : tuple of 3 int
        Nodes per axis.
    window : (ndarray (3,) int, ndarray (3,) int)
        Node index range [lo, hi) outside which every face is ``eps_out``.
    eps_in, eps_out : float
    subsamples : int
        Even number s of samples per axis and dual cell.

    Returns
    -------
    list of 3 ndarray of float64
        Shapes (n_x − 1, n_y, n_z), (n_x, n_y − 1, n_z), (n_x, n_y, n_z − 1).
    """
    s = int(subsamples)
    lo, hi = (np.asarray(v, dtype=int) for v in window)
    w = hi - lo
    axes = [origin[d] + (lo[d] + np.arange(w[d] * s) / s - 0.5 + 0.5 / s) * h for d in range(3)]
    P = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    inv = np.where(inside(P), 1.0 / eps_in, 1.0 / eps_out).reshape(tuple(w * s))
    faces = []
    for d in range(3):
        full_shape = list(shape)
        full_shape[d] -= 1
        f = np.full(full_shape, float(eps_out))
        a = np.moveaxis(inv, d, 0)[s // 2 : s // 2 + s * (w[d] - 1)]
        o = [e for e in range(3) if e != d]
        a = a.reshape(w[d] - 1, s, w[o[0]], s, w[o[1]], s)
        harm = 1.0 / a.mean(axis=1)  # normal: harmonic
        val = harm.mean(axis=(2, 4))  # transverse: arithmetic
        val = np.moveaxis(val, 0, d)
        sl = tuple(slice(lo[e], hi[e] - (1 if e == d else 0)) for e in range(3))
        f[sl] = val
        faces.append(f)
    return faces


@njit(cache=True)
def _stencil(phi, fx, fy, fz, out, scale):
    """out[i-1, j-1, k-1] = scale·Σ_faces ε (φ_c − φ_nb) for the interior nodes (i, j, k)."""
    nx, ny, nz = phi.shape
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                c = phi[i, j, k]
                v = (
                    fx[i, j, k] * (c - phi[i + 1, j, k])
                    + fx[i - 1, j, k] * (c - phi[i - 1, j, k])
                    + fy[i, j, k] * (c - phi[i, j + 1, k])
                    + fy[i, j - 1, k] * (c - phi[i, j - 1, k])
                    + fz[i, j, k] * (c - phi[i, j, k + 1])
                    + fz[i, j, k - 1] * (c - phi[i, j, k - 1])
                )
                out[i - 1, j - 1, k - 1] = scale * v


def apply_operator(phi: np.ndarray, faces, h: float) -> np.ndarray:
    """−∇_h·(ε∇_h φ) on the interior nodes (shape n − 2 per axis) of a full-grid array ``phi``."""
    out = np.empty(tuple(n - 2 for n in phi.shape))
    _stencil(
        np.ascontiguousarray(phi, dtype=np.float64),
        *(np.ascontiguousarray(f, dtype=np.float64) for f in faces),
        out,
        1.0 / (h * h),
    )
    return out


def apply_operator_reference(phi: np.ndarray, faces, h: float) -> np.ndarray:
    """NumPy twin of :func:`apply_operator` (parity test)."""
    out = np.zeros(tuple(n - 2 for n in phi.shape))
    for d in range(3):
        flux = faces[d] * np.diff(phi, axis=d)
        div = np.diff(flux, axis=d)
        sl = [slice(1, -1)] * 3
        sl[d] = slice(None)
        out -= div[tuple(sl)]
    return out / (h * h)


@lru_cache(maxsize=8)
def _dst_eigenvalues(shape: tuple, h: float) -> np.ndarray:
    lam = [(2.0 - 2.0 * np.cos(np.pi * np.arange(1, n + 1) / (n + 1))) / (h * h) for n in shape]
    return lam[0][:, None, None] + lam[1][None, :, None] + lam[2][None, None, :]


def dirichlet_laplace_solve(b: np.ndarray, h: float) -> np.ndarray:
    """Solve −Δ_h x = b on interior nodes with x = 0 on the boundary (DST-I, exact to rounding)."""
    lam = _dst_eigenvalues(tuple(b.shape), float(h))
    return sfft.idstn(sfft.dstn(b, type=1, norm="ortho") / lam, type=1, norm="ortho")


def solve_variable(
    rhs: np.ndarray, faces, h: float, eps_ref: float, *, rtol: float = 1e-9, maxiter: int = 500
):
    """Interior x with −∇_h·(ε∇_h x) = rhs, x = 0 on the boundary (DST-preconditioned CG).

    Returns
    -------
    (ndarray, dict)
        Solution (interior shape) and ``{"iterations", "residual"}`` (relative residual).
    """
    m = rhs.shape
    full = np.zeros(tuple(n + 2 for n in m))
    inner = (slice(1, -1),) * 3

    def mv(x):
        full[inner] = x.reshape(m)
        return apply_operator(full, faces, h).ravel()

    def pc(r):
        return (dirichlet_laplace_solve(r.reshape(m), h) / eps_ref).ravel()

    n = int(np.prod(m))
    A = spla.LinearOperator((n, n), matvec=mv, dtype=float)
    M = spla.LinearOperator((n, n), matvec=pc, dtype=float)
    count = [0]

    def cb(_):
        count[0] += 1

    b = rhs.ravel()
    nb = float(np.linalg.norm(b))
    if nb == 0.0:
        return np.zeros(m), {"iterations": 0, "residual": 0.0}
    x, _ = spla.cg(A, b, rtol=rtol, atol=0.0, maxiter=maxiter, M=M, callback=cb)
    res = float(np.linalg.norm(b - A.matvec(x))) / nb
    return x.reshape(m), {"iterations": count[0], "residual": res}
