"""ETB parameter sets: frozen dataclasses loaded from cited TOML files.

Files live in ``parameters/`` (checkout) or ``perovskite_tb/_parameters`` (installed wheel), one file
per material and set, named ``<material>.<set>.etb.toml``. Every numeric entry is a table
``{ value, unit, source }`` where ``source`` is a key of ``references.toml``; the loader converts units
(eV, meV, Å, nm) to the internal eV and nm. See ``parameters/README.md`` for the schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from perovskite_tb.errors import ParameterError
from perovskite_tb.model.units import (DIMENSION_OF, DIMENSIONS, ENTRY_KEYS, META_KEYS,
                                       PLAUSIBLE, SECTION_OF, check_plausible, range_key)

__all__ = [
    "EtbParameters",
    "load_parameters",
    "parameters_dir",
    "available_sets",
    "default_set",
    "material_table",
    "parameter_table",
    "ONSITE_NAMES",
    "TWO_CENTRE_NAMES",
    "SPIN_ORBIT_NAMES",
    "SECOND_NEIGHBOUR_NAMES",
    "BASES",
    "PLAUSIBLE",
    "check_plausible",
]

#: Orbital bases and their per-atom orbitals (spinless), in the order used everywhere.
BASES = {
    "sp3": ("s", "px", "py", "pz"),
    "sp3d5s*": ("s", "px", "py", "pz", "dxy", "dyz", "dzx", "dx2y2", "dz2", "sstar"),
}

ONSITE_NAMES = (
    "E_s_X", "E_s_Pb", "E_p_X", "E_p_Pb", "E_d_X", "E_d_Pb", "E_sstar_X", "E_sstar_Pb",
)
TWO_CENTRE_NAMES = (
    "V_ss_sigma", "V_sa_sstarc_sigma", "V_sc_sstara_sigma", "V_sstar_sstar_sigma",
    "V_sa_pc_sigma", "V_sc_pa_sigma", "V_sstara_pc_sigma", "V_sstarc_pa_sigma",
    "V_sa_dc_sigma", "V_sc_da_sigma", "V_sstara_dc_sigma", "V_sstarc_da_sigma",
    "V_pp_sigma", "V_pp_pi", "V_pa_dc_sigma", "V_pa_dc_pi", "V_pc_da_sigma", "V_pc_da_pi",
    "V_dd_sigma", "V_dd_pi", "V_dd_delta",
)
SPIN_ORBIT_NAMES = ("lambda_so_X", "lambda_so_Pb")
#: Second-neighbour two-centre integrals (optional section ``[second_neighbour]``, default 0): X–X at a/√2
#: and Pb–Pb at a, s and p shells (``sp`` = s on atom 1, p on atom 2; equal to ps for a homonuclear pair).
SECOND_NEIGHBOUR_NAMES = ("V_XX_ss_sigma", "V_XX_sp_sigma", "V_XX_pp_sigma", "V_XX_pp_pi",
                          "V_PbPb_ss_sigma", "V_PbPb_sp_sigma", "V_PbPb_pp_sigma", "V_PbPb_pp_pi")
#: Names that exist only in the sp3d5s* basis.
_SP3_UNUSED = {
    "E_d_X", "E_d_Pb", "E_sstar_X", "E_sstar_Pb", "V_sa_sstarc_sigma", "V_sc_sstara_sigma",
    "V_sstar_sstar_sigma", "V_sstara_pc_sigma", "V_sstarc_pa_sigma", "V_sa_dc_sigma",
    "V_sc_da_sigma", "V_sstara_dc_sigma", "V_sstarc_da_sigma", "V_pa_dc_sigma", "V_pa_dc_pi",
    "V_pc_da_sigma", "V_pc_da_pi", "V_dd_sigma", "V_dd_pi", "V_dd_delta",
}
_TOP_KEYS = {"meta", "lattice", "onsite", "two_centre", "spin_orbit", "second_neighbour", "temperature", "fit"}
_TEMPERATURE_NAMES = ("dEg_dT", "thermal_expansion", "hopping_exponent")
_SECTIONS = {"onsite": ONSITE_NAMES, "two_centre": TWO_CENTRE_NAMES, "spin_orbit": SPIN_ORBIT_NAMES,
             "second_neighbour": SECOND_NEIGHBOUR_NAMES}
#: Sections that may be left out (their parameters are then 0), and parameters that may be left out of them.
_OPTIONAL = {"second_neighbour"}
SECTION_OF.update({n: s for s, names in _SECTIONS.items() for n in names})


def _f(unit: str, symbol: str) -> dataclasses.Field:
    return field(default=0.0, metadata={"unit": unit, "symbol": symbol})


@dataclass(frozen=True)
class EtbParameters:
    """sp3(d5s*) Slater–Koster parameters of cubic CsPbX3 (Pb = cation c, X = anion a).

    All energies in eV, lengths in nm. Names: ``E_<orbital>_<atom>`` on-site energies,
    ``V_<pair>_<bond>`` nearest-neighbour Pb–X two-centre integrals (``sa_pc`` = s on anion, p on cation;
    unmarked pairs such as ``pp`` are symmetric), ``lambda_so_<atom>`` = Δ_atom/3 with H_SO = λ L·σ on p
    shells (Jancu et al., PRB 57, 6493 (1998); Nestoklon, Comput. Mater. Sci. 196, 110535 (2021), Table I);
    optional second neighbours ``V_XX_<pair>_<bond>`` (X–X at a/√2) and ``V_PbPb_<pair>_<bond>`` (Pb–Pb at a),
    0 unless the file has a ``[second_neighbour]`` table.

    Attributes
    ----------
    material, parameter_set, basis : str
        Identity; ``basis`` is ``"sp3"`` or ``"sp3d5s*"``.
    a : float
        Cubic lattice constant (nm).
    reference_temperature_K : float
        Temperature the set describes (K).
    sources : tuple of (name, citation key)
        Provenance of every value.
    file_sha256 : str
        SHA-256 of the TOML file the set came from ("" if built in code).
    path : str
        File the set came from.
    """

    material: str
    parameter_set: str
    basis: str
    a: float = field(metadata={"unit": "nm", "symbol": "a"})
    E_s_X: float = _f("eV", "E_s,a")
    E_s_Pb: float = _f("eV", "E_s,c")
    E_p_X: float = _f("eV", "E_p,a")
    E_p_Pb: float = _f("eV", "E_p,c")
    E_d_X: float = _f("eV", "E_d,a")
    E_d_Pb: float = _f("eV", "E_d,c")
    E_sstar_X: float = _f("eV", "E_s*,a")
    E_sstar_Pb: float = _f("eV", "E_s*,c")
    V_ss_sigma: float = _f("eV", "ssσ")
    V_sa_sstarc_sigma: float = _f("eV", "s_a s*_c σ")
    V_sc_sstara_sigma: float = _f("eV", "s_c s*_a σ")
    V_sstar_sstar_sigma: float = _f("eV", "s*s*σ")
    V_sa_pc_sigma: float = _f("eV", "s_a p_c σ")
    V_sc_pa_sigma: float = _f("eV", "s_c p_a σ")
    V_sstara_pc_sigma: float = _f("eV", "s*_a p_c σ")
    V_sstarc_pa_sigma: float = _f("eV", "s*_c p_a σ")
    V_sa_dc_sigma: float = _f("eV", "s_a d_c σ")
    V_sc_da_sigma: float = _f("eV", "s_c d_a σ")
    V_sstara_dc_sigma: float = _f("eV", "s*_a d_c σ")
    V_sstarc_da_sigma: float = _f("eV", "s*_c d_a σ")
    V_pp_sigma: float = _f("eV", "ppσ")
    V_pp_pi: float = _f("eV", "ppπ")
    V_pa_dc_sigma: float = _f("eV", "p_a d_c σ")
    V_pa_dc_pi: float = _f("eV", "p_a d_c π")
    V_pc_da_sigma: float = _f("eV", "p_c d_a σ")
    V_pc_da_pi: float = _f("eV", "p_c d_a π")
    V_dd_sigma: float = _f("eV", "ddσ")
    V_dd_pi: float = _f("eV", "ddπ")
    V_dd_delta: float = _f("eV", "ddδ")
    V_XX_ss_sigma: float = _f("eV", "ssσ (X–X, a/√2)")
    V_XX_sp_sigma: float = _f("eV", "spσ (X–X, a/√2)")
    V_XX_pp_sigma: float = _f("eV", "ppσ (X–X, a/√2)")
    V_XX_pp_pi: float = _f("eV", "ppπ (X–X, a/√2)")
    V_PbPb_ss_sigma: float = _f("eV", "ssσ (Pb–Pb, a)")
    V_PbPb_sp_sigma: float = _f("eV", "spσ (Pb–Pb, a)")
    V_PbPb_pp_sigma: float = _f("eV", "ppσ (Pb–Pb, a)")
    V_PbPb_pp_pi: float = _f("eV", "ppπ (Pb–Pb, a)")
    lambda_so_X: float = _f("eV", "Δ_a/3")
    lambda_so_Pb: float = _f("eV", "Δ_c/3")
    reference_temperature_K: float = 0.0
    dEg_dT: float = field(default=0.0, metadata={"unit": "eV/K", "symbol": "dEg/dT"})
    thermal_expansion: float = field(default=0.0, metadata={"unit": "1/K", "symbol": "(1/a) da/dT"})
    hopping_exponent: float = field(default=2.0, metadata={"unit": "1", "symbol": "η (V ∝ d^-η, temperature rule b)"})
    sources: tuple = field(default=(), compare=False)
    file_sha256: str = field(default="", compare=False)
    path: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        """Validate basis, lattice constant and finiteness of every value."""
        if self.basis not in BASES:
            raise ParameterError(
                f"unknown basis {self.basis!r} (known: {', '.join(BASES)})"
            )
        if not (math.isfinite(self.a) and self.a > 0):
            raise ParameterError(f"lattice constant a must be a positive finite length, got {self.a} nm")
        for name in ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES + SECOND_NEIGHBOUR_NAMES:
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(f"parameter {name} must be a finite number in eV, got {v!r}")
        for name in ("a",) + ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES + SECOND_NEIGHBOUR_NAMES + \
                _TEMPERATURE_NAMES + (
                "reference_temperature_K",):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(f"parameter {name} must be a finite number, got {v!r}")
            check_plausible(name, float(v), f"{self.material} {self.parameter_set}: ")

    @property
    def orbitals(self) -> tuple[str, ...]:
        """Spinless orbitals per atom in basis order."""
        return BASES[self.basis]

    @property
    def n_orb(self) -> int:
        """Number of spin-orbitals per atom (8 for sp3, 20 for sp3d5s*)."""
        return 2 * len(BASES[self.basis])

    def values(self) -> dict[str, float]:
        """Return all physical parameters as a flat ``{name: value}`` dict (eV, nm); second-neighbour
        integrals only when non-zero."""
        names = ("a",) + ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES
        out = {n: float(getattr(self, n)) for n in names}
        out.update({n: float(getattr(self, n)) for n in SECOND_NEIGHBOUR_NAMES if getattr(self, n)})
        return out

    def replace(self, **changes) -> "EtbParameters":
        """Return a copy with some values changed (``dataclasses.replace``), provenance marked."""
        return dataclasses.replace(self, file_sha256="", **changes)


def parameters_dir() -> Path:
    """Directory holding the shipped parameter files.

    Returns
    -------
    pathlib.Path
        ``perovskite_tb/_parameters`` inside an installed wheel, else ``parameters/`` of the checkout.

    Raises
    ------
    ParameterError
        If neither location exists.
    """
    here = Path(__file__).resolve().parent.parent  # perovskite_tb/
    for cand in (here / "_parameters", here.parent / "parameters"):
        if cand.is_dir():
            return cand
    raise ParameterError("parameter directory not found (looked for perovskite_tb/_parameters and parameters/)")


def available_sets(material: str | None = None) -> dict[str, list[str]]:
    """Shipped ETB sets per material, ``{material: [set, ...]}`` (sorted)."""
    out: dict[str, list[str]] = {}
    for p in sorted(parameters_dir().glob("*.etb.toml")):
        mat, name = p.name[: -len(".etb.toml")].split(".", 1)
        out.setdefault(mat, []).append(name)
    if material is not None:
        return {material: out.get(material, [])}
    return out


def parameter_table(filename: str) -> dict:
    """A shipped TOML table of ``parameters/`` (e.g. ``"dielectric.toml"``), parsed.

    Raises
    ------
    ParameterError
        Missing or malformed file (one line naming the path).
    """
    path = parameters_dir() / filename
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(f"cannot read {path}: {exc}") from None


def material_table() -> dict[str, dict]:
    """The material records of ``parameters/defaults.toml``: ``{material: {"etb": set, "kp": set, "halide": X}}``."""
    return parameter_table("defaults.toml")


def default_set(material: str, model: str = "etb") -> str:
    """Default parameter set of ``material`` for ``model`` (``"etb"`` or ``"kp"``; ``parameters/defaults.toml``).

    Raises
    ------
    ParameterError
        Unknown material or no default for that model.
    """
    d = material_table()
    if material not in d or model not in d[material]:
        raise ParameterError(
            f"unknown material {material!r} for model {model!r} (known: {', '.join(sorted(d)) or 'none'})"
        )
    return d[material][model]


def _read_value(section: str, name: str, entry, path: Path) -> tuple[float, str]:
    if not isinstance(entry, dict) or "value" not in entry or "unit" not in entry or "source" not in entry:
        raise ParameterError(
            f"{path.name}: [{section}] {name} must be a table {{ value, unit, source }}, got {entry!r}"
        )
    extra = set(entry) - ENTRY_KEYS
    if extra:
        raise ParameterError(f"{path.name}: [{section}] {name} has unknown key(s) {', '.join(sorted(extra))} "
                             f"(allowed: {', '.join(sorted(ENTRY_KEYS))})")
    val, unit = entry["value"], entry["unit"]
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise ParameterError(f"{path.name}: [{section}] {name} value must be a finite number, got {val!r}")
    dim = DIMENSION_OF[range_key(name)]
    if unit not in DIMENSIONS[dim]:
        raise ParameterError(f"{path.name}: [{section}] {name} is a {dim} but has unit {unit!r} "
                             f"(allowed: {', '.join(DIMENSIONS[dim])})")
    if not isinstance(entry["source"], str):
        raise ParameterError(f"{path.name}: [{section}] {name} source must be a citation key (string)")
    value = float(val) * DIMENSIONS[dim][unit]
    check_plausible(name, value, f"{path.name}: [{section}] ")
    return value, entry["source"]


def load_parameter_file(path: str | Path) -> EtbParameters:
    """Load one ETB parameter TOML file.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    EtbParameters

    Raises
    ------
    ParameterError
        Missing file, invalid TOML, missing/unknown keys, non-numeric or non-finite values, unknown
        units or citation keys.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParameterError(f"cannot read parameter file {str(path)!r}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"malformed parameter file {path.name}: {exc}") from None
    # citation keys: the shipped references plus any references*.toml beside the file
    refs = (_references(parameters_dir()) or frozenset()) | (_references(path.parent.resolve()) or frozenset())
    try:
        meta = doc["meta"]
        basis = meta["basis"]
        material = meta["material"]
        pset = meta["parameter_set"]
    except (KeyError, TypeError) as exc:
        raise ParameterError(f"{path.name}: missing [meta] key {exc}") from None
    if not isinstance(basis, str) or basis not in BASES:
        raise ParameterError(f"{path.name}: unknown basis {basis!r} (known: {', '.join(BASES)})")
    for key, val in (("material", material), ("parameter_set", pset)):
        if not isinstance(val, str) or not val:
            raise ParameterError(f"{path.name}: [meta] {key} must be a non-empty string, got {val!r}")
    kw: dict = {}
    sources = []
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ParameterError(f"{path.name}: unknown section(s) {', '.join(sorted(unknown))} "
                             f"(allowed: {', '.join(sorted(_TOP_KEYS))})")
    unknown = set(meta) - META_KEYS
    if unknown:
        raise ParameterError(f"{path.name}: unknown key(s) in [meta]: {', '.join(sorted(unknown))}")
    if not isinstance(doc.get("lattice"), dict) or "a" not in doc["lattice"]:
        raise ParameterError(f"{path.name}: missing [lattice] a")
    if set(doc["lattice"]) - {"a"}:
        raise ParameterError(f"{path.name}: unknown key(s) in [lattice]: "
                             f"{', '.join(sorted(set(doc['lattice']) - {'a'}))} (only a)")
    kw["a"], src = _read_value("lattice", "a", doc["lattice"]["a"], path)
    sources.append(("a", src))
    for section, names in _SECTIONS.items():
        table = doc.get(section, {} if section in _OPTIONAL else None)
        if not isinstance(table, dict):
            raise ParameterError(f"{path.name}: missing section [{section}]" if table is None
                                 else f"{path.name}: [{section}] must be a table")
        unknown = set(table) - set(names)
        if unknown:
            raise ParameterError(f"{path.name}: unknown parameter(s) in [{section}]: {', '.join(sorted(unknown))}")
        for name in names:
            if name not in table:
                if (basis == "sp3" and name in _SP3_UNUSED) or section in _OPTIONAL:
                    continue
                raise ParameterError(f"{path.name}: missing parameter [{section}] {name}")
            if basis == "sp3" and name in _SP3_UNUSED:
                raise ParameterError(f"{path.name}: parameter {name} is not part of the sp3 basis")
            kw[name], src = _read_value(section, name, table[name], path)
            sources.append((name, src))
    for name, src in sources:
        if refs is not None and src not in refs:
            raise ParameterError(f"{path.name}: {name} cites unknown reference key {src!r}")
    if not isinstance(doc.get("fit", {}), dict):  # record of perovskite_tb.app.fit; content not used here
        raise ParameterError(f"{path.name}: [fit] must be a table")
    ttab = doc.get("temperature", {})
    if not isinstance(ttab, dict):
        raise ParameterError(f"{path.name}: [temperature] must be a table")
    unknown = set(ttab) - set(_TEMPERATURE_NAMES)
    if unknown:
        raise ParameterError(f"{path.name}: unknown parameter(s) in [temperature]: {', '.join(sorted(unknown))}")
    for name in _TEMPERATURE_NAMES:
        if name in ttab:
            kw[name], src = _read_value("temperature", name, ttab[name], path)
            sources.append((name, src))
            if refs is not None and src not in refs:
                raise ParameterError(f"{path.name}: {name} cites unknown reference key {src!r}")
    tref = meta.get("reference_temperature_K", {"value": 0.0, "unit": "K", "source": ""})
    if isinstance(tref, dict):
        tval = tref.get("value")
        if tref.get("unit", "K") != "K":
            raise ParameterError(f"{path.name}: [meta] reference_temperature_K is a temperature but has unit "
                                 f"{tref.get('unit')!r} (allowed: K)")
    else:
        tval = tref
    if isinstance(tval, bool) or not isinstance(tval, (int, float)) or not math.isfinite(tval) or tval < 0:
        raise ParameterError(f"{path.name}: [meta] reference_temperature_K must be a number >= 0 K, got {tval!r}")
    check_plausible("reference_temperature_K", float(tval), f"{path.name}: [meta] ")
    kw["reference_temperature_K"] = float(tval)
    return EtbParameters(
        material=material, parameter_set=pset, basis=basis, sources=tuple(sources),
        file_sha256=hashlib.sha256(raw).hexdigest(), path=str(path), **kw,
    )


@lru_cache(maxsize=8)
def _references(directory: Path) -> frozenset | None:
    keys: set[str] = set()
    found = False
    for p in directory.glob("references*.toml"):
        found = True
        with open(p, "rb") as fh:
            keys |= set(tomllib.load(fh))
    return frozenset(keys) if found else None


def load_parameters(material: str = "CsPbI3", parameter_set: str | None = None) -> EtbParameters:
    """Load a shipped ETB parameter set, or a file if ``parameter_set`` is a path to a ``.toml``.

    Parameters
    ----------
    material : str
        ``"CsPbI3"``, ``"CsPbBr3"`` or ``"CsPbCl3"`` (sets available: :func:`available_sets`).
    parameter_set : str, optional
        Set name (e.g. ``"nestoklon2023"``) or a path to a TOML file. Default: the material's default.

    Returns
    -------
    EtbParameters

    Raises
    ------
    ParameterError
        Unknown material or set, or malformed file.
    """
    if parameter_set is not None and parameter_set.endswith(".toml"):
        return load_parameter_file(parameter_set)
    sets = available_sets()
    if material not in sets:
        raise ParameterError(f"unknown material {material!r} (known: {', '.join(sorted(sets))})")
    if parameter_set is None:
        parameter_set = default_set(material)
    if parameter_set not in sets[material]:
        raise ParameterError(
            f"unknown parameter set {parameter_set!r} for {material} (known: {', '.join(sets[material])})"
        )
    return load_parameter_file(parameters_dir() / f"{material}.{parameter_set}.etb.toml")
