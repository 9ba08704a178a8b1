r"""Surface terminations of ETB nanocrystals: one registry, :data:`TERMINATIONS`, read by the assembler.

A termination is an on-site term added to the sites of a finite
:class:`~perovskite_tb.model.structure.Structure`, worked out from its nearest-neighbour (shell 1) bond list
alone, so it applies to every shape of :mod:`perovskite_tb.model.shapes`. In the bulk every Pb has six X
neighbours at ±(a/2)x̂, ±(a/2)ŷ, ±(a/2)ẑ and every X two Pb along its own axis; a bond of that list that a
site of the nanocrystal lacks is a *missing bond*, and a site with one is a surface site
(:func:`missing_bonds`). Cs is not in the basis (Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)).

``pbx6`` (default)
    Nothing added: every kept Pb with its full PbX6 octahedron, surface X and Pb keep their bulk on-site
    energies (E_p,X ≈ −2.3 eV lies below the VBM, so no state enters the gap; Nestoklon et al., Nano Lett.
    23, 8218 (2023), SI). The numbers of this package before terminations existed.
``passivated``
    Dangling-bond passivation of Lee, Oyafuso, von Allmen & Klimeck, PRB 69, 045316 (2004): every site's
    bulk bonds are described by an orthonormal set of directed hybrids, and for each missing bond the
    hybrid pointing along it, :math:`|h_{\hat d}\rangle`, is raised by δ_sb:
    :math:`V = \delta_{sb}\sum_{\hat d\ \rm missing}|h_{\hat d}\rangle\langle h_{\hat d}|\otimes 1_{\rm spin}`
    on that site. Lee et al. use the sp3 hybrids of the tetrahedral bond; the analogue for the perovskite
    coordination is the orthonormal hybrid set of each site: for X, bonded to two Pb along one axis, the sp
    hybrids :math:`(|s\rangle \pm |p_{\hat d}\rangle)/\sqrt2`; for Pb, bonded to six X, the d²sp³ hybrids
    :math:`|s\rangle/\sqrt6 + |p_{\hat d}\rangle/\sqrt2 + |d_{\sigma,\hat d}\rangle/\sqrt3`. Orthonormality is
    what leaves the remaining bonds intact (with the tetrahedral 1:3 s:p mixture the +x and −x hybrids of a
    halide overlap by −½, and raising the dangling one also removes most of the σ orbital of the halide's
    remaining bond). Lee et al. find for InAs/GaAs that any δ_sb above ≈ 5 eV removes the surface states of
    the gap and quote ≈ 30 eV. Here the results converge more slowly, as 1/δ_sb (second-order coupling of the
    raised hybrid to the neighbouring Pb): for a 6-cell CsPbI3 cube g_e = −1.47, −0.13, +0.32, +0.40, +0.43,
    +0.44 for δ_sb = 10, 30, 100, 300, 1000, 10⁴ eV, and at 10 eV a surface state lies in the gap
    (E_e = 1.09 eV < Eg). The default is 1000 eV, the accepted range 100 … 10⁵ eV. For the PbX6 shapes only
    surface X have missing bonds (one each); each raised hybrid carries one orbital above the gap, so the
    filled spin-orbitals drop by 2 per hybrid (:attr:`SurfaceTerm.n_lifted`).
``csx``
    CsX-terminated faces: a Cs ion at every A site (cube centre (i+½, j+½, k+½)a of the Pb lattice) that has
    at least two of its eight Pb corners in the nanocrystal but not all eight; that is the outer CsX layer of
    the NC models of Weinberg, Park, Limmer & Rabani (arXiv:2303.00707 (2023), SI §1.1: complete PbI6
    octahedra, Cs and I on the surface, the corner Cs removed; (N+1)³ − 8 Cs for a cube of N³ Pb). Interior A
    sites (all eight corners present) are part of the bulk the parameters describe. Cs is not in the basis:
    each outer Cs acts on the X it touches (the 12 X at a/√2) as an on-site potential U_Cs ⊗ 1 (all orbitals
    and spins of that X).

The default U_Cs is the screened point-charge potential of a Cs⁺ ion at the Cs–X distance d = a/√2,
:math:`U_{Cs} = -e^2/(4\pi\varepsilon_0\bar\varepsilon d)`, with :math:`\bar\varepsilon` = 4 (an assumption: the
mean of the high-frequency constants of CsPbX3, ≈ 4.5–6, and of the host glass, ≈ 2.2, i.e. the screening of a
charge at a planar interface); −0.81 eV for CsPbI3 (a = 0.6289 nm). Accepted range −1 … 0 eV (0: pbx6); beyond
≈ −1.2 eV the electron binds to the surface Pb layer and drops into the gap (:data:`CS_POTENTIAL_RANGE_EV`).
Even at the default the electron is surface-resonant (weight 0.41 in the outer Pb/X shell of a 10-cell cube,
pbx6: 0.09), in line with the conduction-band-derived surface states that DFT finds at the CBM of
CsI-terminated cubic CsPbI3 (001) (Seidu et al., J. Chem. Phys. 154, 074712 (2021), abstract). The bulk on-site energies already contain the field of
the four Cs every bulk halide touches; pbx6 keeps them at the surface, so csx − pbx6 is the effect of an extra
potential U_Cs per outer Cs on the surface halides, not a first-principles surface model.

Symmetry: both terms are functions of the geometry only, so every point operation that maps the structure
onto itself maps them onto themselves; :attr:`SurfaceTerm.site_class` and :attr:`SurfaceTerm.extra` let the
eigen layer verify it (:func:`perovskite_tb.eigen.symmetry.invariant_operations`). Both are real and
spin-diagonal, so time reversal (Kramers degeneracy) is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree

from perovskite_tb.errors import InputError
from perovskite_tb.model.basis import D_QUADRATIC
from perovskite_tb.model.materials import BASES, EtbParameters
from perovskite_tb.model.structure import PB, X, Structure

__all__ = ["TerminationSpec", "SurfaceTerm", "TERMINATIONS", "DEFAULT_TERMINATION", "register_termination",
           "surface_term", "missing_bonds", "outer_cs_sites", "default_cs_potential", "PASSIVATION_RANGE_EV",
           "CS_POTENTIAL_RANGE_EV", "DEFAULT_PASSIVATION_EV", "SCREENING_CS"]

#: Name of the default termination (the PbX6 octahedra, nothing added).
DEFAULT_TERMINATION = "pbx6"
#: Default dangling-bond energy δ_sb (eV) of ``passivated``: large enough that g is within ≈ 0.01 of the
#: δ_sb → ∞ limit (module docstring).
DEFAULT_PASSIVATION_EV = 1000.0
#: Accepted δ_sb (eV): from 100 eV (a 6-cell CsPbI3 cube is then 0.1 off the limit in g_e; at 10 eV a surface
#: state lies in the gap) to 10⁵ eV (still far from the precision limit of the solvers).
PASSIVATION_RANGE_EV = (100.0, 1.0e5)
#: Accepted U_Cs (eV): attractive, down to −1 eV. Stronger potentials bind the electron to the surface Pb
#: (CsPbI3 cubes of 6–10 cells: at −1.6 eV E_e lies below the bulk CBM with 0.9 of its weight in the outer
#: shell; at −1.2 eV E_e is 14 meV above the CBM at 10 cells and falling), and at −2.3 eV the empty d levels
#: of a face halide (four Cs, E_d,X ≈ 11 eV) would reach the gap.
CS_POTENTIAL_RANGE_EV = (-1.0, 0.0)
#: Screening ε̄ of the default Cs potential (module docstring; an assumption, not a measured value).
SCREENING_CS = 4.0
#: e²/(4πε0) in eV·nm (CODATA 2018: 1.439964…).
_COULOMB_EV_NM = 1.4399645478425669

#: The six bond directions of the octahedron, +x, −x, +y, −y, +z, −z.
_DIRS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)


def default_cs_potential(a: float) -> float:
    """U_Cs (eV) = −e²/(4πε0 ε̄ d) with d = a/√2 and ε̄ = :data:`SCREENING_CS`; ``a`` in nm."""
    return -_COULOMB_EV_NM / (SCREENING_CS * a / math.sqrt(2.0))


@dataclass(frozen=True)
class TerminationSpec:
    """A termination and its one parameter.

    Attributes
    ----------
    kind : str
        Key of :data:`TERMINATIONS` (``"pbx6"``, ``"passivated"``, ``"csx"``).
    passivation_eV : float
        δ_sb of ``passivated`` (eV), in :data:`PASSIVATION_RANGE_EV`.
    cs_potential_eV : float or None
        U_Cs of ``csx`` (eV), in :data:`CS_POTENTIAL_RANGE_EV`; None: :func:`default_cs_potential`.
    """

    kind: str = DEFAULT_TERMINATION
    passivation_eV: float = DEFAULT_PASSIVATION_EV
    cs_potential_eV: float | None = None

    def __post_init__(self) -> None:
        """Validate the name and the parameters (one line naming the value and unit).

        Raises
        ------
        InputError
            Unknown termination, or a parameter outside its range.
        """
        if self.kind not in TERMINATIONS:
            raise InputError(f"unknown termination {self.kind!r} (known: {', '.join(TERMINATIONS)})")
        _in_range("passivation energy delta_sb", self.passivation_eV, PASSIVATION_RANGE_EV)
        if self.cs_potential_eV is not None:
            _in_range("Cs potential U_Cs", self.cs_potential_eV, CS_POTENTIAL_RANGE_EV)

    @classmethod
    def of(cls, value) -> "TerminationSpec":
        """``value`` as a spec: None → pbx6, a name → that termination with default parameters."""
        if value is None:
            return cls()
        if isinstance(value, TerminationSpec):
            return value
        if isinstance(value, str):
            return cls(value)
        raise InputError(f"termination must be a name ({', '.join(TERMINATIONS)}) or a TerminationSpec, "
                         f"got {value!r}")

    @classmethod
    def from_options(cls, kind: str | None = None, *, passivation_eV: float | None = None,
                     cs_potential_eV: float | None = None) -> "TerminationSpec":
        """Spec from separately given options (CLI, run files); a parameter of another termination is refused.

        Raises
        ------
        InputError
            Unknown termination, a parameter out of range, or a parameter the termination does not take.
        """
        kind = kind or DEFAULT_TERMINATION
        if passivation_eV is not None and kind != "passivated":
            raise InputError(f"a passivation energy ({passivation_eV} eV) needs termination 'passivated', "
                             f"not {kind!r}")
        if cs_potential_eV is not None and kind != "csx":
            raise InputError(f"a Cs potential ({cs_potential_eV} eV) needs termination 'csx', not {kind!r}")
        kw = {} if passivation_eV is None else {"passivation_eV": passivation_eV}
        return cls(kind, cs_potential_eV=cs_potential_eV, **kw)

    @property
    def is_default(self) -> bool:
        """True for ``pbx6`` (nothing added)."""
        return self.kind == DEFAULT_TERMINATION

    def cs_potential(self, a: float) -> float:
        """U_Cs (eV) for lattice constant ``a`` (nm): the given value or :func:`default_cs_potential`."""
        return default_cs_potential(a) if self.cs_potential_eV is None else float(self.cs_potential_eV)


def _in_range(what: str, value, bounds) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number in eV, got {value!r}") from None
    lo, hi = bounds
    if not (math.isfinite(v) and lo <= v <= hi):
        raise InputError(f"{what} = {value} eV is outside the accepted range [{lo:g}, {hi:g}] eV")


@dataclass(frozen=True, eq=False)
class SurfaceTerm:
    """On-site additions of a termination, by site class.

    Attributes
    ----------
    site_class : ndarray of int64, shape (n_sites,)
        Class of every site; classes 0 … n_species − 1 are the plain species (nothing added), further
        classes carry an addition.
    class_species : ndarray of int64, shape (n_classes,)
        Species of every class.
    extra : ndarray of complex128, shape (n_classes, n_orb, n_orb)
        On-site addition of every class (eV), Hermitian, spin-diagonal (zero for the plain classes).
    n_lifted : int
        Spin-orbitals the addition lifts from below the gap to above it (``n_fill`` drops by this many).
    """

    site_class: np.ndarray
    class_species: np.ndarray
    extra: np.ndarray
    n_lifted: int = 0

    @property
    def n_classes(self) -> int:
        """Number of site classes."""
        return int(self.class_species.shape[0])

    @property
    def trivial(self) -> bool:
        """True when nothing is added (classes = species)."""
        return not np.any(self.extra)

    def symmetry_labels(self) -> np.ndarray:
        """Per-site labels for symmetry detection: species refined by the spectrum of the on-site addition.

        Sites that a point operation exchanges carry unitarily equivalent additions, hence equal labels,
        so no symmetry of the termination is lost; an operation between sites with different additions
        (a termination that breaks a symmetry) is not detected. Plain sites keep their species index.

        Returns
        -------
        ndarray of int64, shape (n_sites,)
        """
        n_sp = int(self.class_species.max()) + 1 if self.n_classes else 0
        keys = {}
        label = np.empty(self.n_classes, dtype=np.int64)
        for c in range(self.n_classes):
            sp_ = int(self.class_species[c])
            if not np.any(self.extra[c]):
                label[c] = sp_
                continue
            ev = tuple(np.round(np.linalg.eigvalsh(self.extra[c]), 9).tolist())
            label[c] = keys.setdefault((sp_, ev), n_sp + len(keys))
        return label[self.site_class]


#: termination name → builder(structure, params, spec) → SurfaceTerm.
TERMINATIONS: dict[str, Callable[[Structure, EtbParameters, TerminationSpec], SurfaceTerm]] = {}


def register_termination(name: str, builder: Callable) -> None:
    """Register ``builder(structure, params, spec) -> SurfaceTerm`` under ``name``.

    Raises
    ------
    ValueError
        If the name is taken.
    """
    if name in TERMINATIONS:
        raise ValueError(f"termination {name!r} is registered already")
    TERMINATIONS[name] = builder


def surface_term(structure: Structure, params: EtbParameters, termination=None) -> SurfaceTerm:
    """The on-site term of ``termination`` (name, :class:`TerminationSpec` or None = pbx6) on ``structure``.

    Raises
    ------
    InputError
        Unknown termination or bad parameter; a periodic structure with a termination other than pbx6.
    """
    spec = TerminationSpec.of(termination)
    if structure.periodic and not spec.is_default:
        raise InputError(f"termination {spec.kind!r} applies to finite nanocrystals, not to a periodic cell")
    return TERMINATIONS[spec.kind](structure, params, spec)


def _plain(structure: Structure, n_orb: int) -> SurfaceTerm:
    n_sp = len(structure.species_names)
    return SurfaceTerm(site_class=structure.species.astype(np.int64), class_species=np.arange(n_sp, dtype=np.int64),
                       extra=np.zeros((n_sp, n_orb, n_orb), dtype=np.complex128))


def _classes(structure: Structure, key: np.ndarray, blocks_of: Callable, n_orb: int) -> SurfaceTerm:
    """Site classes from a per-site key (rows; all-zero = plain) and ``blocks_of(key_row, species) -> (block, n)``."""
    plain = _plain(structure, n_orb)
    cls = plain.site_class.copy()
    species, extra, lifted = list(plain.class_species), list(plain.extra), 0
    table = np.column_stack([structure.species, key.reshape(structure.n_sites, -1)])
    uniq, inv = np.unique(table, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    counts = np.bincount(inv, minlength=uniq.shape[0])
    for u, row in enumerate(uniq):
        if not np.any(row[1:]):
            continue
        block, n_up = blocks_of(row[1:], int(row[0]))
        cls[inv == u] = len(species)
        species.append(int(row[0]))
        extra.append(block)
        lifted += n_up * int(counts[u])
    return SurfaceTerm(site_class=cls, class_species=np.asarray(species, dtype=np.int64),
                       extra=np.asarray(extra, dtype=np.complex128), n_lifted=int(lifted))


def missing_bonds(structure: Structure, tol: float = 1e-6) -> np.ndarray:
    """Which of the six nearest-neighbour bonds (+x, −x, +y, −y, +z, −z) each site lacks.

    In the bulk a Pb has all six (to X) and an X the two along its own axis (to Pb); the present bonds
    are the shell-1 bonds of the structure's bond list.

    Parameters
    ----------
    structure : Structure
    tol : float
        Direction matching tolerance (cosine).

    Returns
    -------
    ndarray of bool, shape (n_sites, 6)
        True where the bond is expected but missing.

    Raises
    ------
    InputError
        A halide without any Pb neighbour (its axis is undefined) or a bond off the six directions.
    """
    b = structure.bonds
    nn = b.shell == 1
    i, j, v = b.i[nn], b.j[nn], b.vector[nn]
    u = v / np.linalg.norm(v, axis=1)[:, None]
    d_ij = np.argmax(u @ _DIRS.T, axis=1)
    if np.any(np.max(u @ _DIRS.T, axis=1) < 1 - tol):
        raise InputError("a nearest-neighbour bond is not along ±x, ±y or ±z")
    d_ji = d_ij ^ 1  # the opposite direction (+x ↔ −x, …)
    present = np.zeros((structure.n_sites, 6), dtype=bool)
    present[i, d_ij] = True
    present[j, d_ji] = True
    expected = np.zeros_like(present)
    expected[structure.species == PB] = True
    xs = np.nonzero(structure.species == X)[0]
    has = present[xs]
    if np.any(~has.any(axis=1)):
        raise InputError("a halide has no Pb neighbour: its bond axis is undefined")
    axis = np.argmax(has, axis=1) // 2  # 0, 1, 2 = x, y, z
    expected[xs, 2 * axis] = True
    expected[xs, 2 * axis + 1] = True
    return expected & ~present


def _hybrid(d: int, species: int, basis: str) -> np.ndarray:
    """Spinless orbital vector of the bulk hybrid of ``species`` pointing along direction ``d`` (0..5).

    X (two Pb along its axis): sp hybrids (s ± p)/√2; Pb (six X): d²sp³ hybrids s/√6 + p_d/√2 + d_σ/√3
    (d_σ the d orbital 3(d̂·r)² − r² along the bond). Each set is orthonormal (see the module docstring).

    Raises
    ------
    InputError
        A Pb dangling bond in the sp3 basis (no d orbitals to build its hybrid).
    """
    names = BASES[basis]
    h = np.zeros(len(names))
    u = _DIRS[d]
    if species == X:
        h[0], h[1:4] = 1.0 / math.sqrt(2.0), u / math.sqrt(2.0)
        return h
    if "dz2" not in names:
        raise InputError("passivating a Pb dangling bond needs the d orbitals (sp3d5s* basis)")
    Q = (3.0 * np.outer(u, u) - np.eye(3)) / math.sqrt(6.0)
    h[0], h[1:4] = 1.0 / math.sqrt(6.0), u / math.sqrt(2.0)
    h[4:9] = np.einsum("iab,ab->i", D_QUADRATIC, Q) / math.sqrt(3.0)
    return h


def _hybrid_block(missing_row: np.ndarray, species: int, basis: str, delta: float) -> tuple[np.ndarray, int]:
    """δ Σ |h_d⟩⟨h_d| ⊗ 1_spin over the missing directions d, and the spin-orbitals it lifts (2 per hybrid)."""
    H = np.array([_hybrid(d, species, basis) for d in np.nonzero(missing_row)[0]])
    return np.kron(delta * (H.T @ H), np.eye(2)), 2 * int(np.linalg.matrix_rank(H))


def _passivated(structure: Structure, params: EtbParameters, spec: TerminationSpec) -> SurfaceTerm:
    miss = missing_bonds(structure).astype(np.int64)
    return _classes(structure, miss, lambda row, sp_: _hybrid_block(row.astype(bool), sp_, params.basis,
                                                                    spec.passivation_eV), params.n_orb)


def outer_cs_sites(structure: Structure) -> np.ndarray:
    """Positions (nm, shape (n_cs, 3)) of the outer-layer Cs of the csx termination (module docstring)."""
    a = structure.a
    pb2 = np.rint(2.0 * structure.positions[structure.species == PB] / a).astype(np.int64)  # doubled coordinates
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T
    cand = (pb2[:, None, :] + corners[None]).reshape(-1, 3)
    sites, n_corner = np.unique(cand, axis=0, return_counts=True)  # A site → Pb corners in the NC
    return sites[(n_corner >= 2) & (n_corner < 8)] * (0.5 * a)


def _cs_count(structure: Structure) -> np.ndarray:
    """Number of outer Cs at a/√2 of every site (0 for Pb)."""
    cs = outer_cs_sites(structure)
    out = np.zeros(structure.n_sites, dtype=np.int64)
    if cs.shape[0] == 0:
        return out
    xs = np.nonzero(structure.species == X)[0]
    r = structure.a / math.sqrt(2.0) * (1 + 1e-6)
    hits = cKDTree(cs).query_ball_point(structure.positions[xs], r)
    out[xs] = [len(h) for h in hits]
    return out


def _csx(structure: Structure, params: EtbParameters, spec: TerminationSpec) -> SurfaceTerm:
    U = spec.cs_potential(params.a)
    eye = np.eye(params.n_orb)
    return _classes(structure, _cs_count(structure), lambda row, _sp: (U * int(row[0]) * eye, 0), params.n_orb)


register_termination("pbx6", lambda structure, params, spec: _plain(structure, params.n_orb))
register_termination("passivated", _passivated)
register_termination("csx", _csx)
