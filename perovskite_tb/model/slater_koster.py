r"""Two-centre Slater–Koster hopping blocks for any bond direction and any hopping shell.

The matrix element between orbital α on the atom at the origin and β on the atom at
:math:`d\,\hat{\mathbf d}` is :math:`E_{\alpha\beta}(\hat{\mathbf d}) = [D_{l_\alpha}(R)\,B_{l_\alpha l_\beta}
\,D_{l_\beta}(R)^T]_{\alpha\beta}` with :math:`R\hat z = \hat{\mathbf d}`, where B is the bond-frame matrix
(bond along +z: σ, π, δ on the diagonal in m) and D the real-orbital rotation matrices of
:mod:`perovskite_tb.model.basis`. This reproduces the Slater–Koster table (Slater & Koster, Phys. Rev. 94,
1498 (1954), Table I) — tested in ``tests/test_slater_koster.py``.

Sign convention for an ordered pair of atoms (1 → 2, bond vector d̂ from atom 1 to atom 2; for the
nearest-neighbour shell atom 1 is the cation Pb and atom 2 the anion X, Jancu et al., PRB 57, 6493
(1998); Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)): for an orbital α on atom 1 and β on atom 2,
if l_α ≤ l_β the element is :math:`E_{\alpha\beta}(\hat d)` with :math:`V(\alpha_1\beta_2)`, otherwise
:math:`E_{\beta\alpha}(-\hat d)` with :math:`V(\beta_2\alpha_1)`.

A hopping shell is data (:class:`HoppingShell`: shell index, the ordered species pair and its
two-centre integrals); :func:`pair_block` turns it into the block of any bond direction, so a further
neighbour shell needs no new code here. The nearest-neighbour Pb–X shell of a parameter set is
:func:`nearest_neighbour_shell`, its second-neighbour X–X and Pb–Pb shells :func:`second_neighbour_shells`.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass
from typing import Mapping

from perovskite_tb.errors import InputError
from perovskite_tb.model.basis import rotation_d, rotation_p
from perovskite_tb.model.materials import BASES, EtbParameters

__all__ = ["sk_block", "rotation_to", "hopping_block", "pair_block", "HoppingShell", "nearest_neighbour_shell",
           "second_neighbour_shells", "AXIS_DIRECTIONS", "NN_SHELL", "XX_SHELL", "PBPB_SHELL"]

#: Shell index of the nearest-neighbour Pb–X bonds.
NN_SHELL = 1
#: Shell index of the X–X bonds at a/√2 (second neighbours of a halide).
XX_SHELL = 2
#: Shell index of the Pb–Pb bonds at a.
PBPB_SHELL = 3

#: The six Pb→X bond directions of the cubic perovskite: +x, −x, +y, −y, +z, −z (shape (6, 3)).
AXIS_DIRECTIONS = np.array(
    [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float
)

_L = {"s": 0, "p": 1, "d": 2, "sstar": 0}
_SHELL_OF = {"s": "s", "px": "p", "py": "p", "pz": "p", "dxy": "d", "dyz": "d", "dzx": "d",
             "dx2y2": "d", "dz2": "d", "sstar": "sstar"}


def rotation_to(d_hat: np.ndarray) -> np.ndarray:
    """A proper rotation R (3×3, float64) with R ẑ = d̂ (Rodrigues; any choice about d̂ is equivalent)."""
    d = np.asarray(d_hat, dtype=float)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    c = float(d @ z)
    v = np.cross(z, d)
    s = float(np.linalg.norm(v))
    if s < 1e-15:  # exactly (anti-)parallel to z
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])  # identity / π about x
    V = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    if c > 0:  # I + [v]x + [v]x^2 / (1 + c): no cancellation for nearly axial bonds
        return np.eye(3) + V + (V @ V) / (1.0 + c)
    K = V / s
    return np.eye(3) + s * K + (1 - c) * (K @ K)


def _bond_frame(l1: int, l2: int, V: dict) -> np.ndarray:
    """Bond-frame matrix B (2l1+1, 2l2+1) for a bond along +z, l1 ≤ l2."""
    sig, pi, de = V.get("sigma", 0.0), V.get("pi", 0.0), V.get("delta", 0.0)
    if (l1, l2) == (0, 0):
        return np.array([[sig]])
    if (l1, l2) == (0, 1):
        return np.array([[0.0, 0.0, sig]])
    if (l1, l2) == (0, 2):
        return np.array([[0.0, 0.0, 0.0, 0.0, sig]])
    if (l1, l2) == (1, 1):
        return np.diag([pi, pi, sig])
    if (l1, l2) == (1, 2):
        B = np.zeros((3, 5))
        B[0, 2] = pi   # x – zx
        B[1, 1] = pi   # y – yz
        B[2, 4] = sig  # z – z²
        return B
    if (l1, l2) == (2, 2):
        return np.diag([de, pi, pi, de, sig])
    raise ValueError(f"shell pair {(l1, l2)} needs l1 <= l2")


def _D(l: int, R: np.ndarray) -> np.ndarray:
    if l == 0:
        return np.ones((1, 1))
    return rotation_p(R) if l == 1 else rotation_d(R)


def sk_block(l1: int, l2: int, V: dict, d_hat: np.ndarray) -> np.ndarray:
    r"""Slater–Koster matrix E_{αβ}(d̂) between shells l1 (at origin) and l2 (at d̂), l1 ≤ l2.

    Parameters
    ----------
    l1, l2 : int
        Angular momenta, 0 ≤ l1 ≤ l2 ≤ 2.
    V : dict
        Two-centre integrals ``{"sigma": ..., "pi": ..., "delta": ...}`` in eV.
    d_hat : ndarray of float64, shape (3,)
        Bond direction (need not be normalised).

    Returns
    -------
    ndarray of float64, shape (2l1+1, 2l2+1)
        Real orbital order: s; (x, y, z); (xy, yz, zx, x²−y², z²).
    """
    R = rotation_to(d_hat)
    return _D(l1, R) @ _bond_frame(l1, l2, V) @ _D(l2, R).T


def _integrals(p: EtbParameters) -> dict:
    """Two-centre integrals (eV) of the nearest-neighbour shell, keyed by (cation shell, anion shell)."""
    return {
        ("s", "s"): {"sigma": p.V_ss_sigma},
        ("sstar", "s"): {"sigma": p.V_sa_sstarc_sigma},
        ("s", "sstar"): {"sigma": p.V_sc_sstara_sigma},
        ("sstar", "sstar"): {"sigma": p.V_sstar_sstar_sigma},
        ("s", "p"): {"sigma": p.V_sc_pa_sigma},
        ("p", "s"): {"sigma": p.V_sa_pc_sigma},
        ("sstar", "p"): {"sigma": p.V_sstarc_pa_sigma},
        ("p", "sstar"): {"sigma": p.V_sstara_pc_sigma},
        ("s", "d"): {"sigma": p.V_sc_da_sigma},
        ("d", "s"): {"sigma": p.V_sa_dc_sigma},
        ("sstar", "d"): {"sigma": p.V_sstarc_da_sigma},
        ("d", "sstar"): {"sigma": p.V_sstara_dc_sigma},
        ("p", "p"): {"sigma": p.V_pp_sigma, "pi": p.V_pp_pi},
        ("p", "d"): {"sigma": p.V_pc_da_sigma, "pi": p.V_pc_da_pi},
        ("d", "p"): {"sigma": p.V_pa_dc_sigma, "pi": p.V_pa_dc_pi},
        ("d", "d"): {"sigma": p.V_dd_sigma, "pi": p.V_dd_pi, "delta": p.V_dd_delta},
    }


def _shells(basis: str) -> list[tuple[str, slice]]:
    orbs = BASES[basis]
    out: list[tuple[str, list[int]]] = []
    for i, o in enumerate(orbs):
        sh = _SHELL_OF[o]
        if out and out[-1][0] == sh:
            out[-1][1].append(i)
        else:
            out.append((sh, [i]))
    return [(sh, slice(ix[0], ix[-1] + 1)) for sh, ix in out]


@dataclass(frozen=True)
class HoppingShell:
    """Two-centre integrals of one hopping shell between an ordered pair of species.

    Attributes
    ----------
    shell : int
        Shell index used in :attr:`perovskite_tb.model.structure.BondList.shell` (1: nearest neighbours).
    species : tuple of 2 str
        Ordered species pair (atom 1, atom 2), e.g. ``("Pb", "X")`` or ``("Pb", "Pb")``.
    integrals : mapping
        ``(orbital shell on atom 1, orbital shell on atom 2) → {"sigma": V, "pi": V, "delta": V}`` in eV,
        orbital shells ``"s"``, ``"p"``, ``"d"``, ``"sstar"``; a missing pair or component is zero. For a
        homonuclear pair (a, b) and (b, a) are the same integral (given once or equal).
    """

    shell: int
    species: tuple
    integrals: Mapping

    def __post_init__(self) -> None:
        """Validate; for a homonuclear pair complete (b, a) from (a, b) (the two atoms are equivalent).

        Raises
        ------
        InputError
            Not two species, an unknown orbital shell, a non-finite integral, or (homonuclear pair)
            V(a, b) ≠ V(b, a).
        """
        if len(tuple(self.species)) != 2:
            raise InputError(f"a hopping shell joins 2 species, got {self.species!r}")
        ints = {}
        for key, V in dict(self.integrals).items():
            if len(key) != 2 or not set(key) <= set(_L):
                raise InputError(f"orbital shell pair {key!r} unknown (shells: {', '.join(_L)})")
            if not all(np.isfinite(float(v)) for v in V.values()):
                raise InputError(f"non-finite two-centre integral {V} eV for {key}")
            ints[tuple(key)] = dict(V)
        if self.species[0] == self.species[1]:
            for (a, b), V in list(ints.items()):
                W = ints.setdefault((b, a), V)
                if W != V:
                    raise InputError(f"homonuclear shell {self.shell} ({self.species[0]}–{self.species[0]}): "
                                     f"integrals ({a}, {b}) = {V} and ({b}, {a}) = {W} eV must agree")
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "integrals", ints)


def nearest_neighbour_shell(params: EtbParameters) -> HoppingShell:
    """The nearest-neighbour Pb → X shell of a parameter set (:data:`NN_SHELL`)."""
    return HoppingShell(NN_SHELL, ("Pb", "X"), _integrals(params))


def second_neighbour_shells(params: EtbParameters) -> tuple:
    """The second-neighbour shells of a parameter set with a non-zero integral, as (HoppingShell, bond length nm).

    X–X at a/√2 (:data:`XX_SHELL`) and Pb–Pb at a (:data:`PBPB_SHELL`), s and p orbital shells: ssσ, spσ
    (= psσ, the pair is homonuclear), ppσ, ppπ (``V_XX_*``, ``V_PbPb_*`` of
    :class:`~perovskite_tb.model.materials.EtbParameters`). Shells whose integrals are all zero are left
    out, so a nearest-neighbour set gets no extra bonds.
    """
    out = []
    for shell, sp_, tag, dist in ((XX_SHELL, "X", "XX", params.a / np.sqrt(2.0)), (PBPB_SHELL, "Pb", "PbPb", params.a)):
        v = {k: getattr(params, f"V_{tag}_{k}") for k in ("ss_sigma", "sp_sigma", "pp_sigma", "pp_pi")}
        if not any(v.values()):
            continue
        ints = {("s", "s"): {"sigma": v["ss_sigma"]}, ("s", "p"): {"sigma": v["sp_sigma"]},
                ("p", "p"): {"sigma": v["pp_sigma"], "pi": v["pp_pi"]}}
        out.append((HoppingShell(shell, (sp_, sp_), ints), float(dist)))
    return tuple(out)


def pair_block(basis: str, integrals: Mapping, d: np.ndarray, *, spin: bool = True) -> np.ndarray:
    r"""Block ⟨α, atom 1|H|β, atom 2⟩ (eV) for a bond from atom 1 to atom 2 along ``d``.

    Parameters
    ----------
    basis : {"sp3", "sp3d5s*"}
        Orbital basis of both atoms.
    integrals : mapping
        As :attr:`HoppingShell.integrals`.
    d : ndarray of float64, shape (3,)
        Bond vector atom 1 → atom 2 (any length, nm or units of a).
    spin : bool, optional
        If True (default) return the block ⊗ 1_spin (orbital-major, spin-minor order).

    Returns
    -------
    ndarray of complex128, shape (n_orb, n_orb) (spinless: (n_orb/2, n_orb/2))
        Rows: orbitals of atom 1, columns: atom 2. The reverse bond's block is its conjugate transpose.
    """
    d = np.asarray(d, dtype=float)
    shells = _shells(basis)
    n = len(BASES[basis])
    T = np.zeros((n, n))
    for s1, sl1 in shells:
        for s2, sl2 in shells:
            V = integrals.get((s1, s2), {})
            l1, l2 = _L[s1], _L[s2]
            if l1 <= l2:
                T[sl1, sl2] = sk_block(l1, l2, V, d)
            else:
                T[sl1, sl2] = sk_block(l2, l1, V, -d).T
    if not spin:
        return T.astype(np.complex128)
    return np.kron(T, np.eye(2)).astype(np.complex128)


def hopping_block(params: EtbParameters, d_hat: np.ndarray, *, spin: bool = True) -> np.ndarray:
    r"""Nearest-neighbour Pb→X hopping block ⟨α, Pb|H|β, X⟩ for a bond from Pb along ``d_hat`` (eV).

    Parameters
    ----------
    params : EtbParameters
    d_hat : ndarray of float64, shape (3,)
        Bond direction cation → anion.
    spin : bool, optional
        If True (default) return the block ⊗ 1_spin in the package's orbital-major, spin-minor order.

    Returns
    -------
    ndarray of complex128, shape (n_orb, n_orb) (or spinless (n_orb/2, n_orb/2))
        Rows: Pb orbitals, columns: X orbitals. The X→Pb block is its conjugate transpose.

    Notes
    -----
    :func:`pair_block` of :func:`nearest_neighbour_shell` (sign rule in the module docstring).
    """
    return pair_block(params.basis, _integrals(params), d_hat, spin=spin)
