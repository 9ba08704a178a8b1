r"""Hyperfine fields of the confined electron and hole from ETB band-edge doublets.

For a Kramers doublet ``V`` (shape (n_states, 2); order site-major, then orbital as in
``perovskite_tb.model.materials.BASES[basis]``, then spin: index = n_orb·site + 2·orbital + spin, see
:mod:`perovskite_tb.model.basis`) the doublet-averaged weight of orbital o on atom j is

.. math:: w_{j,o} = \tfrac12 \sum_{\nu=1,2}\sum_{\sigma} |V_{(j,o,\sigma),\nu}|^2 ,\qquad \sum_{j,o} w_{j,o} = 1 ,

which does not depend on the basis chosen inside the doublet.

Frozen, randomly oriented nuclear spins (Merkulov, Efros & Rosen, PRB 65, 205309 (2002)): a carrier
with contact-type couplings :math:`a_j (\mathbf I_j\cdot\mathbf S)` feels the Overhauser field
:math:`\mathbf B_N = \sum_j a_j \mathbf I_j /(g\mu_B)`, Gaussian distributed,

.. math:: W(\mathbf B_N) \propto \exp(-B_N^2/\Delta_N^2),\qquad
          \Delta_N^2 = \frac{2}{3}\,\frac{\sum_j x_j I_j(I_j+1)\,a_j^2}{(g\mu_B)^2}.

So :math:`\Delta_N` is the **1/e half-width of the 3D Gaussian**, each Cartesian component has rms
:math:`\Delta_N/\sqrt2` and :math:`\langle B_N^2\rangle = \tfrac32\Delta_N^2`. This is the Δ_N of the ODMR
linewidth :math:`\Delta B(B) = \sqrt{(\Delta g B/g)^2 + \Delta_N^2/2}` (Belykh et al., arXiv:2603.03038):
at B ≫ Δ_N only the component along B shifts the resonance, with rms Δ_N/√2.

The coupling constant of atom j is :math:`a_j = \sum_c A_c\, w_{j,c}` over the constants c of its element
for that carrier (``parameters/hyperfine.toml``: electron Pb 6p, I 5s; hole Pb 6s, I 5p), where
:math:`w_{j,c}` is the weight on the ETB shells listed for c (the *per-atom* convention: a state spread
uniformly over N cells gives :math:`a_j = A\,w^{cell}_j/N`). x_j I_j(I_j+1) is summed over the element's
magnetic isotopes with A scaled by their nuclear g factors. Constants without a cited value are NaN and
make the carrier's Δ_N NaN (with a note) — nothing is invented. The prefactor and the per-atom
convention are reconstructed [REC]; the papers' full texts were not available.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from perovskite_tb.constants import MU_B
from perovskite_tb.errors import InputError, ParameterError
from perovskite_tb.model.bulk import N_FILLED, bloch_hamiltonian, high_symmetry_point
from perovskite_tb.model.materials import BASES, EtbParameters, parameters_dir

__all__ = [
    "SHELLS", "CARRIERS", "MU_B_UEV_PER_T", "HyperfineConstant", "Isotope", "HyperfineConstants",
    "load_constants", "orbital_weights", "shell_weights", "overhauser", "hyperfine_fields",
    "bulk_cell_weights", "halide_of", "uniform_prefactor",
]

#: ETB shells → spinless orbital names (:data:`perovskite_tb.model.materials.BASES`).
SHELLS = {"s": ("s",), "p": ("px", "py", "pz"), "d": ("dxy", "dyz", "dzx", "dx2y2", "dz2"),
          "sstar": ("sstar",)}
#: Carriers with constants in the table.
CARRIERS = ("electron", "hole")
#: [µeV/T] Bohr magneton (CODATA, :data:`perovskite_tb.constants.MU_B`).
MU_B_UEV_PER_T = MU_B * 1e6
_SPECIES = {0: "Pb", 1: "X"}
_UNITS = {"ueV": 1.0, "µeV": 1.0, "meV": 1e3}


@dataclass(frozen=True)
class HyperfineConstant:
    """Atomic hyperfine constant of one orbital of one element for one carrier.

    Attributes
    ----------
    element, carrier, orbital : str
        E.g. ``"I"``, ``"electron"``, ``"I 5s"``.
    shells : tuple of str
        ETB shells (keys of :data:`SHELLS`) whose weight multiplies the constant.
    value_ueV : float
        A (µeV); NaN if no cited value exists.
    isotope : str
        Isotope the value refers to (others of the element are scaled by gn).
    source, tag, convention : str
        Citation key, status tag, how the value is defined.
    """

    element: str
    carrier: str
    orbital: str
    shells: tuple
    value_ueV: float
    isotope: str
    source: str
    tag: str
    convention: str


@dataclass(frozen=True)
class Isotope:
    """A magnetic isotope: name, spin I, natural abundance x (fraction), nuclear g factor gn, source."""

    name: str
    spin: float
    abundance: float
    gn: float
    source: str


@dataclass(frozen=True)
class HyperfineConstants:
    """Constants ``{(carrier, element): [HyperfineConstant, ...]}`` and isotopes ``{element: [Isotope, ...]}``.

    The TOML format holds one constant per (carrier, element); a list built in code must quote all its
    constants for the same isotope (the first one's is used for the spin factor).
    """

    constants: dict
    isotopes: dict
    path: str = ""

    def spin_factor(self, element: str, ref_isotope: str) -> float:
        r""":math:`\sum_k x_k I_k(I_k+1)(g_{n,k}/g_{n,ref})^2` over the magnetic isotopes of ``element`` (1)."""
        isos = self.isotopes.get(element, [])
        ref = [i for i in isos if i.name == ref_isotope]
        if not ref:
            raise ParameterError(f"isotope {ref_isotope!r} of {element} not in the isotope table ({self.path})")
        return float(sum(i.abundance * i.spin * (i.spin + 1) * (i.gn / ref[0].gn) ** 2 for i in isos))

    def for_carrier(self, carrier: str, element: str) -> list:
        """Constants of ``carrier`` on ``element`` (empty list if the element has none)."""
        return list(self.constants.get((carrier, element), []))


def _constant(carrier: str, element: str, d: dict, path: str) -> HyperfineConstant:
    where = f"{path}: [{carrier}.{element}]"
    try:
        unit = d["unit"]
        scale = _UNITS[unit]
        value = float(d["value"]) * scale
        shells = tuple(d["shells"])
    except KeyError as exc:
        raise ParameterError(f"{where}: missing or unknown entry {exc} (units: {', '.join(_UNITS)})") from None
    bad = [s for s in shells if s not in SHELLS]
    if bad or not shells:
        raise ParameterError(f"{where}: unknown shells {bad or shells} (known: {', '.join(SHELLS)})")
    if not (math.isnan(value) or (math.isfinite(value) and value >= 0)):
        raise ParameterError(f"{where}: constant must be >= 0 µeV or nan, got {value} µeV")
    return HyperfineConstant(element=element, carrier=carrier, orbital=str(d.get("orbital", "")), shells=shells,
                             value_ueV=value, isotope=str(d.get("isotope", "")), source=str(d.get("source", "")),
                             tag=str(d.get("tag", "")), convention=str(d.get("convention", "")))


def _isotope(element: str, d: dict, path: str) -> Isotope:
    try:
        iso = Isotope(str(d["name"]), float(d["spin"]), float(d["abundance"]), float(d["gn"]), str(d["source"]))
    except KeyError as exc:
        raise ParameterError(f"{path}: isotope of {element} lacks {exc}") from None
    if not (iso.spin > 0 and 0 < iso.abundance <= 1 and math.isfinite(iso.gn) and iso.gn != 0):
        raise ParameterError(f"{path}: isotope {iso.name}: need spin > 0, 0 < abundance <= 1, gn != 0")
    return iso


def _reference_keys(directory: Path) -> set:
    keys: set = set()
    for p in directory.glob("references*.toml"):
        with open(p, "rb") as fh:
            keys |= set(tomllib.load(fh))
    return keys


@lru_cache(maxsize=4)
def load_constants(path: str | None = None) -> HyperfineConstants:
    """Read the hyperfine table (default ``parameters/hyperfine.toml``).

    Parameters
    ----------
    path : str, optional
        A TOML file in the format of ``parameters/hyperfine.toml``.

    Returns
    -------
    HyperfineConstants

    Raises
    ------
    ParameterError
        Missing file, malformed entry, unknown shell or citation key.
    """
    p = Path(path) if path is not None else parameters_dir() / "hyperfine.toml"
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(f"cannot read hyperfine table {p}: {exc}") from None
    consts: dict = {}
    for carrier in CARRIERS:
        for element, d in doc.get(carrier, {}).items():
            consts.setdefault((carrier, element), []).append(_constant(carrier, element, d, str(p)))
    isotopes = {el: [_isotope(el, d, str(p)) for d in lst] for el, lst in doc.get("isotopes", {}).items()}
    refs = _reference_keys(parameters_dir()) | _reference_keys(p.parent.resolve())
    used = {c.source for lst in consts.values() for c in lst} | {i.source for lst in isotopes.values() for i in lst}
    unknown = sorted(k for k in used if k not in refs)
    if unknown:
        raise ParameterError(f"{p}: unknown citation keys {unknown} (not in references*.toml)")
    out = HyperfineConstants(constants=consts, isotopes=isotopes, path=str(p))
    for lst in consts.values():
        for c in lst:
            out.spin_factor(c.element, c.isotope)  # checks the isotope exists
    return out


def orbital_weights(vectors: np.ndarray, basis: str) -> np.ndarray:
    """Doublet-averaged weight per atom and spinless orbital.

    Parameters
    ----------
    vectors : ndarray of complex128, shape (n_states, 2)
        Orthonormal Kramers doublet (or shape (n_states,) for one normalised state).
    basis : str
        Key of :data:`perovskite_tb.model.materials.BASES`.

    Returns
    -------
    ndarray of float64, shape (n_sites, len(BASES[basis]))
        w[j, o], summed over spin, averaged over the doublet; sums to 1 for normalised input.

    Raises
    ------
    InputError
        Unknown basis or a length that is not a multiple of the atom's spin-orbital count.
    """
    if basis not in BASES:
        raise InputError(f"unknown basis {basis!r} (known: {', '.join(BASES)})")
    V = np.asarray(vectors)
    V = V[:, None] if V.ndim == 1 else V
    norb = len(BASES[basis])
    if V.ndim != 2 or V.shape[0] % (2 * norb):
        raise InputError(f"doublet of shape {V.shape} does not fit the {basis} basis ({2 * norb} states per atom)")
    w = (np.abs(V) ** 2).sum(axis=1) / V.shape[1]
    return w.reshape(-1, norb, 2).sum(axis=2)


def _shell_columns(basis: str, shells) -> list[int]:
    orbs = BASES[basis]
    return [orbs.index(o) for s in shells for o in SHELLS[s] if o in orbs]


def shell_weights(species: np.ndarray, w: np.ndarray, basis: str) -> dict[str, float]:
    """Total weight per species and shell, keys ``Pb_s, Pb_p, Pb_d, Pb_sstar, X_s, …`` (absent shells omitted).

    Parameters
    ----------
    species : ndarray of int, shape (n_sites,)
        0 = Pb, 1 = X (:class:`perovskite_tb.model.geometry.Structure`).
    w : ndarray of float64, shape (n_sites, n_orb)
        From :func:`orbital_weights`.
    basis : str
    """
    out = {}
    for code, name in _SPECIES.items():
        rows = w[species == code]
        for shell in SHELLS:
            cols = _shell_columns(basis, (shell,))
            if cols:
                out[f"{name}_{shell}"] = float(rows[:, cols].sum())
    return out


def overhauser(species: np.ndarray, w: np.ndarray, basis: str, carrier: str, halide: str,
               constants: HyperfineConstants) -> tuple[float, float, list[str]]:
    r"""Hyperfine energy :math:`\sqrt{(2/3)\sum_j x_j I_j(I_j+1) a_j^2}` (µeV) and its halide share.

    Parameters
    ----------
    species : ndarray of int, shape (n_sites,)
    w : ndarray of float64, shape (n_sites, n_orb)
        From :func:`orbital_weights`.
    basis : str
    carrier : {"electron", "hole"}
    halide : str
        Element of the X sites (``"I"``, ``"Br"``, ``"Cl"``).
    constants : HyperfineConstants

    Returns
    -------
    (energy_ueV, halide_fraction, notes)
        :math:`\hbar\Delta = g\mu_B\Delta_N` (µeV; NaN if a needed constant is NaN), the halide share
        of :math:`\Delta^2` (NaN then too), and one-line notes on missing constants.
    """
    total, halide_part, notes = 0.0, 0.0, []
    for code, element in ((0, "Pb"), (1, halide)):
        rows, cs = w[species == code], constants.for_carrier(carrier, element)
        if not cs:
            continue
        a = np.zeros(rows.shape[0])  # a_j = Σ_c A_c w_{j,c}: constants of one nucleus add before squaring
        for c in cs:
            a += c.value_ueV * rows[:, _shell_columns(basis, c.shells)].sum(axis=1)
            if math.isnan(c.value_ueV):
                notes.append(f"{carrier}: no cited hyperfine constant for {c.orbital} ({c.tag}); Delta_N is NaN")
        term = (2.0 / 3.0) * constants.spin_factor(element, cs[0].isotope) * float(a @ a)
        total += term
        halide_part += term if code == 1 else 0.0
    frac = halide_part / total if total > 0 else float("nan")
    return math.sqrt(total), frac, notes


def halide_of(material: str) -> str:
    """Halide element of a CsPbX3 material name (``"CsPbI3"`` → ``"I"``).

    Raises
    ------
    InputError
        A name not of the form CsPb<X>3.
    """
    if not (material.startswith("CsPb") and material.endswith("3") and len(material) > 5):
        raise InputError(f"cannot read the halide from material {material!r} (expected CsPb<X>3)")
    return material[4:-1]


def _tesla(energy_ueV: float, g: float, carrier: str, notes: list) -> float:
    gabs = abs(float(g))
    if not (math.isfinite(gabs) and gabs > 0):
        notes.append(f"{carrier}: |g| = {gabs} is not > 0, the field Delta_N = energy/(|g| muB) is undefined (NaN)")
        return float("nan")
    return energy_ueV / (gabs * MU_B_UEV_PER_T)


def hyperfine_fields(structure, vectors_e, vectors_h, g_e: float, g_h: float, basis: str, *,
                     constants: HyperfineConstants | None = None, halide: str = "I") -> dict:
    r"""Overhauser-field widths, halide weights and shell weights of the band-edge electron and hole.

    Parameters
    ----------
    structure : perovskite_tb.model.geometry.Structure
        Only ``species`` (int array (n_sites,), 0 = Pb, 1 = X) is used.
    vectors_e, vectors_h : ndarray of complex128, shape (n_states, 2)
        Lowest electron / highest hole Kramers doublet (``BandEdges.electron.vectors`` …).
    g_e, g_h : float
        The carriers' own g factors of the same NC (dimensionless; sign ignored, |g| divides the
        field). Pass ``NcResult.g_e.g`` / ``g_h.g``.
    basis : str
        ``params.basis`` (``"sp3d5s*"`` or ``"sp3"``).
    constants : HyperfineConstants, optional
        Default :func:`load_constants` (``parameters/hyperfine.toml``).
    halide : str, optional
        Element on the X sites (default ``"I"``; from the material, e.g. ``"Br"`` for CsPbBr3).

    Returns
    -------
    dict
        ``Delta_N_e_mT``, ``Delta_N_h_mT`` (float, mT): :math:`\Delta_N` of Merkulov, Efros & Rosen,
        PRB 65, 205309 (2002) — 1/e width of :math:`W(B_N)\propto e^{-B_N^2/\Delta_N^2}`, rms of one
        component = Δ_N/√2 (module docstring); NaN when a constant has no cited value or |g| = 0.
        ``Delta_N_e_ueV``, ``Delta_N_h_ueV``: the g-independent energy :math:`g\mu_B\Delta_N` (µeV).
        ``halide_weight_e``, ``halide_weight_h``: fraction of the carrier density on X atoms.
        ``hf_halide_share_e/h``: halide share of :math:`\Delta_N^2`.
        ``w_e_<Pb|X>_<shell>``, ``w_h_…``: total weight per species and shell.
        ``hyperfine_notes``: list of str (missing constants, |g| = 0).

    Raises
    ------
    InputError
        Vectors that do not match the structure or basis.
    ParameterError
        A malformed constants table.
    """
    constants = load_constants() if constants is None else constants
    species = np.asarray(structure.species)
    out: dict = {}
    notes: list[str] = []
    for tag, carrier, V, g in (("e", "electron", vectors_e, g_e), ("h", "hole", vectors_h, g_h)):
        w = orbital_weights(V, basis)
        if w.shape[0] != species.shape[0]:
            raise InputError(f"{carrier} doublet covers {w.shape[0]} atoms, the structure has {species.shape[0]}")
        energy, share, n = overhauser(species, w, basis, carrier, halide, constants)
        notes += n
        out[f"Delta_N_{tag}_mT"] = 1e3 * _tesla(energy, g, carrier, notes)
        out[f"Delta_N_{tag}_ueV"] = energy
        out[f"halide_weight_{tag}"] = float(w[species == 1].sum() / w.sum())
        out[f"hf_halide_share_{tag}"] = share
        out.update({f"w_{tag}_{k}": v for k, v in shell_weights(species, w, basis).items()})
    out["hyperfine_notes"] = notes
    return out


def bulk_cell_weights(params: EtbParameters, carrier: str = "electron", point: str = "R") -> tuple:
    """Doublet-averaged orbital weights of the bulk band-edge doublet on the 4 atoms of the unit cell.

    Parameters
    ----------
    params : EtbParameters
    carrier : {"electron", "hole"}
        Bands 26–27 (R6−, CB minimum) or 24–25 (R6+, VB maximum), 0-based, of
        :func:`perovskite_tb.model.bulk.bloch_hamiltonian` (Nestoklon, Comput. Mater. Sci. 196, 110535 (2021)).
    point : str, optional
        High-symmetry point (default ``"R"``).

    Returns
    -------
    (species, w)
        ``species`` int array [0, 1, 1, 1] (Pb, X1, X2, X3) and ``w`` float64 (4, n_orb), summing to 1.

    Raises
    ------
    InputError
        Unknown carrier.
    """
    if carrier not in CARRIERS:
        raise InputError(f"unknown carrier {carrier!r} (known: {', '.join(CARRIERS)})")
    bands = [N_FILLED, N_FILLED + 1] if carrier == "electron" else [N_FILLED - 2, N_FILLED - 1]
    _, V = np.linalg.eigh(bloch_hamiltonian(params, high_symmetry_point(point, params.a)))
    return np.array([0, 1, 1, 1]), orbital_weights(V[:, bands], params.basis)


def uniform_prefactor(species: np.ndarray, w_cell: np.ndarray, basis: str, carrier: str, g: float, *,
                      halide: str = "I", constants: HyperfineConstants | None = None) -> float:
    r"""Δ_N (T) of a state spread uniformly over **one** cell; N cells give this × N^{-1/2} exactly.

    A state whose cell-periodic weights are ``w_cell`` (e.g. :func:`bulk_cell_weights`) spread uniformly
    over N cells puts ``w_cell/N`` on every atom, so :math:`\Delta_N^2 \propto \sum_j a_j^2 = S_{cell}/N`
    (Merkulov, Efros & Rosen, PRB 65, 205309 (2002) with :math:`|\psi|^2 = 1/(N v_0)`). For a cube of edge
    L = N^{1/3} a this is :math:`\Delta_N = C\,(a/L)^{3/2}` with C the value returned here; a confined
    envelope multiplies it by :math:`\sqrt{N\sum_c W_c^2}` (√(27/8) for the hard-wall cube ground state).

    Parameters
    ----------
    species : ndarray of int, shape (n_cell_atoms,)
    w_cell : ndarray of float64, shape (n_cell_atoms, n_orb)
    basis, carrier : str
    g : float
        |g| in the denominator.
    halide : str, optional
    constants : HyperfineConstants, optional

    Returns
    -------
    float
        C in T (NaN if a constant is missing or g = 0).
    """
    constants = load_constants() if constants is None else constants
    energy, _, notes = overhauser(species, w_cell, basis, carrier, halide, constants)
    return _tesla(energy, g, carrier, notes)
