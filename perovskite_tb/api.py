r"""The public Python API: one :class:`Material` record and one entry point, :func:`solve`.

>>> import perovskite_tb as ptb
>>> nc = ptb.solve(material="CsPbI3", n_cells=8, temperature_K=6, levels=4)   # doctest: +SKIP
>>> nc.g_e.g, nc.g_h.g, nc.observable("optical_transition_energy")           # doctest: +SKIP
>>> [(m.energy, m.degeneracy) for m in nc.spectrum.electron]                   # doctest: +SKIP
>>> nc.as_json(levels=True)                                                    # doctest: +SKIP

:func:`solve` serves both models (``model="etb"``: whole-NC tight binding of any registered shape;
``model="kp"``: the confined 8-band k·p of a box) through the one pipeline
:func:`perovskite_tb.nc.solve`, and returns a :class:`~perovskite_tb.nc.SolvedNanocrystal`. Units:
eV, nm, T, K. Sign convention of g: the J convention of Kirstein et al., Nat. Commun. 13, 3062 (2022).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from perovskite_tb.errors import InputError
from perovskite_tb.measured import load_measured, load_measured_bulk, measured_series
from perovskite_tb.model.materials import EtbParameters, load_parameters, material_table
from perovskite_tb.model.shapes import SIZE_FIELDS, ShapeSpec
from perovskite_tb.model.temperature import DEFAULT_RULE, check_temperature, parameters_at
from perovskite_tb.nc import SolvedNanocrystal, dielectric_pair, nc_gfactors
from perovskite_tb.nc import solve as solve_terms_pipeline
from perovskite_tb.observables.dielectric import DielectricDefaults, dielectric_constants
from perovskite_tb.observables.hyperfine import HyperfineConstants, load_constants

__all__ = ["Material", "material", "materials", "solve", "MODELS", "load_measured", "load_measured_bulk",
           "measured_series"]

#: Models :func:`solve` accepts.
MODELS = ("etb", "kp")


@dataclass(frozen=True)
class Material:
    """Everything the package knows of one CsPbX3 compound, in one record.

    Built by :func:`material` from the shipped tables (``parameters/defaults.toml`` for the default sets,
    the ETB set file for the lattice constant, ``dielectric.toml``, ``hyperfine.toml``); each number
    carries its source key into ``parameters/references*.toml``.

    Attributes
    ----------
    name : str
        ``"CsPbI3"``, ``"CsPbBr3"`` or ``"CsPbCl3"``.
    halide : str
        ``"I"``, ``"Br"`` or ``"Cl"``.
    etb_set, kp_set : str
        Default ETB set and confined k·p set.
    a_nm : float
        Cubic lattice constant of the default ETB set at its reference temperature (nm).
    reference_temperature_K : float
        Temperature of the default ETB set (K).
    dielectric : DielectricDefaults
        ε_in (high-frequency, inside the NC) and ε_out (the host glass), each with value, source, tag.
    hyperfine : HyperfineConstants
        Hyperfine constants and isotopes (:mod:`perovskite_tb.observables.hyperfine`).
    """

    name: str
    halide: str
    etb_set: str
    kp_set: str
    a_nm: float
    reference_temperature_K: float
    dielectric: DielectricDefaults
    hyperfine: HyperfineConstants

    @property
    def eps_in(self) -> float:
        """ε_in (dimensionless): the material's cited high-frequency permittivity."""
        return float(self.dielectric.eps_in.value)

    @property
    def eps_out(self) -> float:
        """ε_out (dimensionless): the default host (glass) permittivity."""
        return float(self.dielectric.eps_out.value)

    def etb_parameters(self, parameter_set: str | None = None, temperature_K: float | None = None,
                       rule: str = DEFAULT_RULE) -> EtbParameters:
        """ETB set (default :attr:`etb_set`) at ``temperature_K`` (K; None: its reference temperature)
        with the temperature rule ``rule`` (:func:`perovskite_tb.model.temperature.parameters_at`)."""
        p = load_parameters(self.name, parameter_set or self.etb_set)
        return p if temperature_K is None else parameters_at(p, temperature_K, rule=rule)

    def as_json(self) -> dict:
        """Plain-data view: name, halide, sets, a_nm, ε_in / ε_out with their sources."""
        d = self.dielectric
        return {"material": self.name, "halide": self.halide, "etb_set": self.etb_set, "kp_set": self.kp_set,
                "a_nm": self.a_nm, "reference_temperature_K": self.reference_temperature_K,
                "eps_in": self.eps_in, "eps_in_source": d.eps_in.source, "eps_out": self.eps_out,
                "eps_out_source": d.eps_out.source, "matrix": d.matrix}


def materials() -> tuple[str, ...]:
    """Names of the shipped materials."""
    return tuple(material_table())


@lru_cache(maxsize=8)
def material(name: str = "CsPbI3") -> Material:
    """The :class:`Material` record of ``name``.

    Raises
    ------
    InputError
        An empty or unknown name (the message lists the known ones).
    """
    table = material_table()
    if not isinstance(name, str) or name not in table:
        raise InputError(f"unknown material {name!r} (known: {', '.join(table)})")
    rec = table[name]
    p = load_parameters(name, rec["etb"])
    return Material(name=name, halide=rec["halide"], etb_set=rec["etb"], kp_set=rec["kp"], a_nm=float(p.a),
                    reference_temperature_K=float(p.reference_temperature_K),
                    dielectric=dielectric_constants(name), hyperfine=load_constants())


def _shape(n_cells, shape, diameter_nm, semi_axes_nm) -> ShapeSpec:
    if isinstance(shape, ShapeSpec):
        if any(v is not None for v in (n_cells, diameter_nm, semi_axes_nm)):
            raise InputError("give the size either in the ShapeSpec or as n_cells / diameter_nm / semi_axes_nm")
        return shape
    given = {k: v for k, v in (("n_cells", n_cells), ("diameter_nm", diameter_nm),
                               ("semi_axes_nm", semi_axes_nm)) if v is not None}
    if len(given) != 1:
        raise InputError("give exactly one size: n_cells (cube/cuboid, Pb sites per edge), diameter_nm (sphere, nm) "
                         "or semi_axes_nm (spheroid, nm)")
    key, val = next(iter(given.items()))
    if key == "n_cells":
        if shape not in (None, "cube", "cuboid"):
            raise InputError(f"shape {shape!r} does not take n_cells")
        return ShapeSpec.from_n_cells((val,) * 3 if isinstance(val, int) else val)
    kind = shape or next(k for k, f in SIZE_FIELDS.items() if f == key)
    if SIZE_FIELDS.get(kind) != key:
        raise InputError(f"shape {kind!r} does not take {key}")
    return ShapeSpec(kind, **{key: tuple(val) if isinstance(val, (list, tuple)) else val})


def solve(material: str = "CsPbI3", *, n_cells=None, shape=None, diameter_nm: float | None = None,
          semi_axes_nm=None, edge_nm=None, temperature_K: float | None = None, temperature_rule: str = DEFAULT_RULE,
          termination=None, levels: int = 1, model: str = "etb", parameter_set: str | None = None,
          orbital_zeeman: bool = False, dielectric="default", solver: str = "auto",
          kp_basis: str = "legendre", kp_n_basis=None, **solver_options) -> SolvedNanocrystal:
    """Solve one nanocrystal: level spectrum, band-edge g tensors, and every observable on request.

    Parameters
    ----------
    material : str, optional
        ``"CsPbI3"`` (default), ``"CsPbBr3"``, ``"CsPbCl3"`` (:func:`materials`).
    n_cells : int or sequence of 3 int, optional
        Pb sites per edge of a cube / cuboid (edge N·a nm).
    shape : str or ShapeSpec, optional
        ``"cube"``, ``"cuboid"``, ``"sphere"``, ``"spheroid"`` (with the size below), or a ShapeSpec.
    diameter_nm : float, optional
        Sphere diameter (nm).
    semi_axes_nm : sequence of 3 float, optional
        Spheroid semi-axes along x, y, z (nm).
    edge_nm : sequence of 3 float, optional
        k·p only: box edges (Lx, Ly, Lz) in nm (instead of ``n_cells``, which gives N·a).
    temperature_K : float, optional
        Temperature (K): ETB parameters by ``temperature_rule``
        (:func:`perovskite_tb.model.temperature.parameters_at`), k·p Eg by the set's dEg/dT; None: the
        set's reference temperature. Recorded in ``context["temperature_K"]`` for the observables.
    temperature_rule : {"a", "b"}, optional
        ETB temperature model (default ``"a"``).
    termination : str or TerminationSpec, optional
        ETB surface termination (``"pbx6"`` default, ``"passivated"``, ``"csx"``).
    levels : int, optional
        K: Kramers doublets per side in ``spectrum`` (1 … 64; default 1), proved complete by the inertia.
    model : {"etb", "kp"}, optional
        Whole-NC tight binding (default) or the confined k·p box (cubes and cuboids only).
    parameter_set : str, optional
        Set name (default: the material's default for the model).
    orbital_zeeman : bool, optional
        ETB: include the on-site μB L·B term (default False).
    dielectric : "default", (float, float) or None, optional
        (ε_in, ε_out) for the Coulomb observables; ``"default"``: :attr:`Material.dielectric`; None: none.
    solver : str, optional
        Eigensolver back-end (``"auto"``, ``"shift-invert"``, ``"dense"``, ``"primme"``).
    kp_basis : {"legendre", "sine"}, optional
        k·p envelope basis.
    kp_n_basis : int or tuple of 3 int, optional
        k·p envelope functions per direction (default grows as √L).
    **solver_options
        :class:`~perovskite_tb.eigen.backends.SolveOptions` fields (``workers``, ``ldl``, ``max_memory_gb``).

    Returns
    -------
    SolvedNanocrystal
        ``g_e``, ``g_h``, ``E_e``, ``E_h``, ``spectrum``, ``observables`` (dict), ``as_json(levels=True)``;
        ``context`` names the model choices (material, parameter set, temperature and rule,
        termination, dielectric constants).

    Raises
    ------
    InputError
        Unknown material or model, no or several sizes, a shape the model cannot do, bad temperature.
    ParameterError, GeometryError, SolverError, DegeneracyError
        As the layers below.
    """
    mat = globals()["material"](material)
    if model not in MODELS:
        raise InputError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if temperature_K is not None:
        temperature_K = check_temperature(temperature_K)
    if edge_nm is not None and (model != "kp" or any(v is not None for v in (n_cells, shape, diameter_nm,
                                                                              semi_axes_nm))):
        raise InputError("edge_nm gives a k·p box (model='kp') and replaces n_cells / shape; an ETB NC is "
                         "given by n_cells, diameter_nm or semi_axes_nm")
    spec = edge_nm if edge_nm is not None else _shape(n_cells, shape, diameter_nm, semi_axes_nm)
    eps = dielectric_pair(mat.name, dielectric)
    context = {"material": mat.name, "model": model, "temperature_K": temperature_K, "dielectric": eps}
    if model == "etb":
        params = mat.etb_parameters(parameter_set, temperature_K, temperature_rule)
        res = nc_gfactors(params, spec, orbital_zeeman=orbital_zeeman, method=solver, dielectric=eps,
                          termination=termination, levels=levels, solver_options=solver_options)
        res.context.update(context, parameter_set=params.parameter_set,
                           temperature_rule=temperature_rule if temperature_K is not None else None)
        return res
    if termination not in (None, "pbx6") or orbital_zeeman:
        raise InputError("the k·p model has hard walls and no orbital-Zeeman switch: termination and "
                         "orbital_zeeman are ETB options")
    from kp.confinement import kp_terms  # the k·p model is a sibling package, loaded when asked for
    from kp.parameters import load_kp_parameters

    kpp = load_kp_parameters(mat.name, parameter_set or mat.kp_set)
    if temperature_K is not None:
        kpp = kpp.at_temperature(temperature_K)
    terms = kp_terms(kpp, spec, basis=kp_basis, n_basis=kp_n_basis, method=solver, a_nm=mat.a_nm)
    context.update(parameter_set=parameter_set or mat.kp_set, kp_basis=terms.basis.kind,
                   kp_n_basis=[int(v) for v in terms.basis.n_max])
    return solve_terms_pipeline(terms, solver=solver, levels=levels, context=context, **solver_options)
