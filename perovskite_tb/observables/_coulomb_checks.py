"""Reference densities for the Coulomb checks (tests/test_coulomb.py, benchmarks/coulomb.py).

Infinite-barrier sphere ground state, n(r) = sin²(πr/R)/(2πR r²), whose e–h Coulomb energy is
1.786 e²/(4πε0 εR) (Brus, J. Chem. Phys. 80, 4403 (1984); Kayanuma, PRB 38, 9797 (1988)), as an
envelope density and as per-atom weights on a simple-cubic Pb lattice with its halides; a hard-wall
cube cos² envelope; analytic per-atom weights on a PbX6 cube.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

from perovskite_tb.model.geometry import cuboid

__all__ = [
    "A_CSPBI3",
    "brus_constant",
    "sphere_density",
    "sphere_atoms",
    "cube_weights",
    "box_cos2",
]

#: [nm] CsPbI3 lattice constant (Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)).
A_CSPBI3 = 0.6289


def brus_constant() -> float:
    """R ∬ n(r)n(r')/max(r, r') of the infinite-barrier sphere ground state (≈ 1.786)."""

    def p(r):
        return 2.0 * math.sin(math.pi * r) ** 2

    def cum(r):
        return r - math.sin(2 * math.pi * r) / (2 * math.pi)

    return 2.0 * integrate.quad(lambda r: p(r) * cum(r) / r, 0.0, 1.0, epsabs=1e-14)[0]


def sphere_density(R: float):
    """n(r) = sin²(πr/R)/(2πR r²) (1/nm³) for r < R: both carriers of the Brus/Kayanuma model."""

    def f(x, y, z):
        r = np.sqrt(x * x + y * y + z * z)
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.sin(np.pi * r / R) ** 2 / (2 * np.pi * R * r * r)
        v = np.where(r == 0, np.pi / (2 * R**3), v)
        return np.where(r < R, v, 0.0)

    return f


def sphere_atoms(R: float, a: float = A_CSPBI3, envelope: bool = True):
    """Pb on a simple-cubic lattice within R + a/2, all their X (±a/2), weights |sin(πr/R)/r|²."""
    n = int(math.ceil(R / a)) + 1
    g = np.arange(-n, n + 1) * a
    pb = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    pb = pb[np.linalg.norm(pb, axis=1) < R + 0.5 * a]
    x = np.concatenate([pb + s * 0.5 * a * np.eye(3)[d] for d in range(3) for s in (1, -1)])
    x = np.unique(np.rint(x / (0.5 * a)).astype(np.int64), axis=0) * 0.5 * a
    pos = np.concatenate([pb, x])
    r = np.linalg.norm(pos, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(r < R, np.where(r > 0, np.sin(np.pi * r / R) / r, np.pi / R) ** 2, 0.0)
    return pb, pos, w / w.sum()


def cube_weights(n_cells: int, a: float = A_CSPBI3):
    """Cube with analytic weights: electron cos² on Pb only, hole cos² (90 % box) on all atoms."""
    s = cuboid(a, n_cells)
    L = (n_cells + 1) * a
    x = s.positions
    we = np.prod(np.cos(np.pi * x / L) ** 2, axis=1) * (s.species == 0)
    wh = np.prod(np.cos(np.pi * x / (0.9 * L)) ** 2, axis=1)
    return s, we / we.sum(), wh / wh.sum()


def box_cos2(L: float):
    """n(r) = Π (2/L) cos²(πx_α/L) inside the hard-wall cube of edge L (1/nm³)."""

    def f(x, y, z):
        out = np.ones(np.broadcast_shapes(np.shape(x), np.shape(y), np.shape(z)))
        for c in (x, y, z):
            out = out * np.where(np.abs(c) <= L / 2, 2.0 / L * np.cos(np.pi * c / L) ** 2, 0.0)
        return out

    return f
