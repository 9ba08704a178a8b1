r"""Run files of the sweep engine: schema, validation into frozen dataclasses, TOML output.

The schema is documented in ``docs/run-file.md``. Every mistake raises
:class:`~perovskite_tb.errors.InputError` naming the file and the key path, e.g.
``run.toml: [axes].n_cells[2]: must be a positive integer``. Jobs (curve, tseries, halides, the k·p
study) build the same document in code and go through :func:`parse_run` too.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import tomli_w

from perovskite_tb.app.engine.validate import Check
from perovskite_tb.app.engine.validate import show
from perovskite_tb.app.store.results import ROW_LEVELS
from perovskite_tb.eigen.registry import check_solver
from perovskite_tb.errors import InputError
from perovskite_tb.model.temperature import RULES
from perovskite_tb.model.termination import DEFAULT_TERMINATION, TERMINATIONS, TerminationSpec
from kp.envelope import BASIS_KINDS

__all__ = ["RUN_SCHEMA", "MODELS", "SIZE_AXES", "Axes", "Options", "Execution", "RunSpec",
           "parse_run", "load_run_file", "spec_to_toml", "check_scheduler"]

#: Optional ``schema`` key of a run file.
RUN_SCHEMA = "perovskite_tb.run/1"
#: Models a sweep knows (:data:`perovskite_tb.app.engine.models.MODELS` computes them).
MODELS = ("etb", "kp")
#: Shape → the ``[axes]`` key giving its sizes (a :class:`perovskite_tb.model.shapes.ShapeSpec` field).
SIZE_AXES = {"cube": "n_cells", "cuboid": "n_cells", "sphere": "diameter_nm",
             "spheroid": "semi_axes_nm"}


@dataclass(frozen=True)
class Axes:
    """Sweep axes (every point of the product is computed; ``docs/run-file.md``).

    Attributes
    ----------
    material : tuple of str
    parameter_set : tuple of str
        ETB set names or paths to ``.toml`` files; ``"default"`` = the material's default set.
    model : tuple of {"etb", "kp"}
    shape : tuple of str
        NC shapes (keys of :data:`SIZE_AXES`); each takes its sizes from its size axis.
    n_cells : tuple of (int, int, int)
        Cube / cuboid sizes (Pb sites per edge).
    edge_nm : tuple of float
        k·p cube edges [nm].
    diameter_nm : tuple of float
        Sphere diameters [nm].
    semi_axes_nm : tuple of (float, float, float)
        Spheroid semi-axes along x, y, z [nm].
    temperature_K : tuple of float
        [K], finite, ≥ 0.
    orbital_zeeman : tuple of bool
        ETB only.
    kp_basis : tuple of str
        k·p envelope bases (:data:`kp.envelope.BASIS_KINDS`).
    kp_resolution : tuple of int
        k·p envelope functions per direction; empty = kp's size-dependent default.
    termination : tuple of str
        Surface terminations of ETB NCs (:data:`perovskite_tb.model.termination.TERMINATIONS`);
        k·p takes the default only.
    """

    material: tuple = ("CsPbI3",)
    parameter_set: tuple = ("default",)
    model: tuple = ("etb",)
    shape: tuple = ()
    n_cells: tuple = ()
    edge_nm: tuple = ()
    diameter_nm: tuple = ()
    semi_axes_nm: tuple = ()
    temperature_K: tuple = (6.0,)
    orbital_zeeman: tuple = (False,)
    kp_basis: tuple = ("legendre",)
    kp_resolution: tuple = ()
    termination: tuple = (DEFAULT_TERMINATION,)


@dataclass(frozen=True)
class Options:
    """Model options shared by all points (a resumed file must have been made with the same).

    Attributes
    ----------
    temperature_rule : str
        :func:`perovskite_tb.model.temperature.parameters_at` rule (``"a"`` or ``"b"``).
    kp_parameter_set : str or None
        k·p set (None: the confined-model default of each material, ``kp.confinement.nc_default_set``).
    kp_kane_scaling : bool
        Scale the k·p Kane energy E_p with the ETB rule's E_p(T)/E_p(T_ref)
        (:func:`perovskite_tb.model.temperature.kane_energy_scale`); default False.
    kp_edge_temperature_K : float or None
        If set, ``edge_nm`` values are k·p edges at this temperature [K]; at T the edge is
        L·a(T)/a(T_edge) of the ETB set (the NC keeps its cell count). None: edges fixed in T.
    passivation_eV : float or None
        δ_sb of the ``passivated`` termination (eV); None: its default (30 eV).
    cs_potential_eV : float or None
        U_Cs of the ``csx`` termination (eV); None: its default (screened point charge).
    levels : int
        K: Kramers doublets per carrier in each row's level spectrum (``levels_e``, ``degeneracy_e``,
        ``zeeman_e`` …; 1 … :data:`perovskite_tb.app.store.results.ROW_LEVELS`; default 1, the band edges).
    thermal_average : bool
        Rows carry ``g_e_thermal``, ``g_h_thermal`` at the point's temperature
        (:mod:`perovskite_tb.observables.thermal`); the spectrum then holds at least 8 doublets.
    excitons : bool
        Evaluate the exciton observables (``exciton_bright_dark`` meV, ``g_X_bright``, ``radiative_lifetime``
        ps; :mod:`perovskite_tb.observables.excitons`); ETB and k·p boxes (k·p: long-range e–h exchange
        only). Each point is solved with levels >= the CI basis.
    screening : str or None
        Screening of the direct e–h terms (``epsilon-inf`` when None; :data:`perovskite_tb.observables.
        screening.SCREENING_MODELS`); needs ``excitons``.
    ci_levels : int or None
        CI basis (Kramers doublets per carrier, 1 … 12; None: 4); given, the rows also carry
        ``trion_negative_binding``, ``trion_positive_binding``, ``biexciton_binding`` (meV, positive = bound).
        Needs ``excitons``.
    """

    temperature_rule: str = "a"
    kp_parameter_set: str | None = None
    kp_kane_scaling: bool = False
    kp_edge_temperature_K: float | None = None
    passivation_eV: float | None = None
    cs_potential_eV: float | None = None
    levels: int = 1
    thermal_average: bool = False
    excitons: bool = False
    screening: str | None = None
    ci_levels: int | None = None

    @property
    def exciton_request(self) -> tuple | None:
        """(screening, CI doublets, trions and biexciton too) of an exciton run, or None."""
        if not self.excitons:
            return None
        from perovskite_tb.observables.excitons import DEFAULT_DOUBLETS

        return (self.screening or "epsilon-inf", self.ci_levels or DEFAULT_DOUBLETS, self.ci_levels is not None)

    def termination_spec(self, kind: str) -> TerminationSpec:
        """The :class:`~perovskite_tb.model.termination.TerminationSpec` of ``kind`` with these parameters."""
        kw = {"passivation_eV": self.passivation_eV} if kind == "passivated" and self.passivation_eV is not None else {}
        return TerminationSpec(kind, cs_potential_eV=self.cs_potential_eV if kind == "csx" else None, **kw)


@dataclass(frozen=True)
class Execution:
    """Where and how points run (does not change results; not part of the resume check).

    Attributes
    ----------
    workers : int or None
        Local worker processes (None: min(2, usable cores)); 1 runs every point in this process.
    max_memory_gb : float or None
        Budget [GB] for the sum of the memory estimates of the points running at once (None: 80 %
        of the available memory).
    threads_per_worker : int or None
        BLAS threads per point (None: cores // workers locally, unlimited in-process and on Dask).
    scheduler : str or None
        Dask scheduler address ``tcp://HOST:PORT`` (the ``[cluster]`` table); None = local.
    isolate : bool
        Every point in a fresh process (its ``peak_rss_GB`` is its own; needed for memory studies).
    point_timeout_s : float or None
        With ``isolate``: a point running longer [s] is stopped and reported as failed.
    solver : str
        ETB eigensolver back-end (``"auto"`` or a name of :data:`perovskite_tb.eigen.registry.BACKENDS`);
        the one used is the ``solver`` column of every row.
    """

    workers: int | None = None
    max_memory_gb: float | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None
    isolate: bool = False
    point_timeout_s: float | None = None
    solver: str = "auto"


@dataclass(frozen=True)
class RunSpec:
    """A validated run file.

    Attributes
    ----------
    axes : Axes
    options : Options
    execution : Execution
    output : str
        HDF5 path (absolute once resolved by :func:`load_run_file`).
    plot : str or None
        PNG path, or None.
    source : str
        Name used in error messages (the run file's path).
    """

    axes: Axes = field(default_factory=Axes)
    options: Options = field(default_factory=Options)
    execution: Execution = field(default_factory=Execution)
    output: str = "sweep.h5"
    plot: str | None = None
    source: str = "<run>"


# ------------------------------------------------------------------------------------------------
# Validation (every error names the key path; checks in perovskite_tb.app.engine.validate)
# ------------------------------------------------------------------------------------------------


_TOP = ("schema", "output", "plot", "axes", "options", "execution", "cluster")
_AXES = tuple(f.name for f in fields(Axes))
_OPTIONS = tuple(f.name for f in fields(Options)) + ("kp_resolution",)
_EXECUTION = ("workers", "max_memory_gb", "threads_per_worker", "isolate", "point_timeout_s", "solver")


def _sizes(c: Check, ax: dict) -> dict:
    """The size axes: n_cells, edge_nm, diameter_nm, semi_axes_nm."""
    def cells(x, p):
        if isinstance(x, list):
            if len(x) != 3:
                c.fail(p, f"must be an integer N or a list [NX, NY, NZ], got a list of {len(x)}")
            return tuple(c.pos_int(n, f"{p}[{i}]", hi=200) for i, n in enumerate(x))
        n = c.pos_int(x, p, "a positive integer (cells per edge) or [NX, NY, NZ]", hi=200)
        return (n, n, n)

    def length(x, p):
        return c.number(x, p, strict=True, unit="nm", hi=1000.0)

    def triple(x, p):
        if not isinstance(x, list) or len(x) != 3:
            c.fail(p, f"must be a list [A, B, C] of semi-axes in nm, got {show(x)}")
        return tuple(length(v, f"{p}[{i}]") for i, v in enumerate(x))

    return {
        "n_cells": c.axis(ax.get("n_cells", []), "[axes].n_cells", cells, allow_empty=True),
        "edge_nm": c.axis(ax.get("edge_nm", []), "[axes].edge_nm", length, allow_empty=True),
        "diameter_nm": c.axis(ax.get("diameter_nm", []), "[axes].diameter_nm", length,
                              allow_empty=True),
        "semi_axes_nm": c.axis(ax.get("semi_axes_nm", []), "[axes].semi_axes_nm", triple,
                               allow_empty=True),
    }


def _shapes(c: Check, ax: dict, sz: dict, models: tuple) -> tuple:
    """The shape axis: given, or every shape whose size axis is present; checked against the sizes."""
    kinds = {"cube" if len(set(n)) == 1 else "cuboid" for n in sz["n_cells"]}
    if sz["edge_nm"]:
        kinds.add("cube")
    if sz["diameter_nm"]:
        kinds.add("sphere")
    if sz["semi_axes_nm"]:
        kinds.add("spheroid")
    if "shape" not in ax:
        shapes = tuple(k for k in SIZE_AXES if k in kinds)
    else:
        shapes = c.axis(ax["shape"], "[axes].shape", lambda x, p: c.choice(x, p, SIZE_AXES, "shape"))
        for i, s in enumerate(shapes):
            if s not in kinds:
                c.fail(f"[axes].shape[{i}]", f"shape {s!r} has no sizes (give [axes].{SIZE_AXES[s]}"
                       + (" with unequal [NX, NY, NZ]" if s == "cuboid" else "") + ")")
        for k in sorted(kinds - set(shapes)):
            c.fail("[axes].shape", f"sizes of shape {k!r} are given ([axes].{SIZE_AXES[k]}) but "
                   f"{k!r} is not in the shape axis")
    if "kp" in models and set(shapes) - {"cube", "cuboid"}:
        c.fail("[axes].shape", "model 'kp' takes cubes and cuboids only (its envelope basis is a "
               "box); run spheres and spheroids with model 'etb'")
    return shapes


def _parse_axes(c: Check, doc: dict, path_of: Callable) -> Axes:
    ax = c.table(doc.get("axes", {}), "[axes]", _AXES)
    material = c.axis(ax.get("material", "CsPbI3"), "[axes].material", c.string)

    def pset(x, p):
        s = c.string(x, p)
        return path_of(s) if s.endswith(".toml") else s

    psets = c.axis(ax.get("parameter_set", "default"), "[axes].parameter_set", pset)
    models = c.axis(ax.get("model", "etb"), "[axes].model",
                    lambda x, p: c.choice(x, p, MODELS, "model"))
    sz = _sizes(c, ax)
    temps = c.axis(ax.get("temperature_K", 6.0), "[axes].temperature_K",
                   lambda x, p: c.number(x, p, unit="K"))
    oz = c.axis(ax.get("orbital_zeeman", False), "[axes].orbital_zeeman", c.boolean)
    bases = c.axis(ax.get("kp_basis", "legendre"), "[axes].kp_basis",
                   lambda x, p: c.choice(x, p, BASIS_KINDS, "k·p basis"))
    res = c.axis(ax.get("kp_resolution", []), "[axes].kp_resolution",
                 lambda x, p: c.pos_int(x, p, "an integer in 2..64", lo=2, hi=64), allow_empty=True)
    if "etb" in models and not (sz["n_cells"] or sz["diameter_nm"] or sz["semi_axes_nm"]):
        c.fail("[axes].n_cells", "model 'etb' needs at least one size")
    if "kp" in models and not (sz["n_cells"] or sz["edge_nm"]):
        c.fail("[axes]", "model 'kp' needs n_cells or edge_nm")
    if "kp" not in models:
        for key, given in (("edge_nm", sz["edge_nm"]), ("kp_basis", bases != ("legendre",)),
                           ("kp_resolution", res)):
            if given:
                c.fail(f"[axes].{key}", "applies to model 'kp' only (add it to [axes].model"
                       + (" or use n_cells)" if key == "edge_nm" else ")"))
    shapes = _shapes(c, ax, sz, models)
    terms = c.axis(ax.get("termination", DEFAULT_TERMINATION), "[axes].termination",
                   lambda x, p: c.choice(x, p, TERMINATIONS, "termination"))
    if "kp" in models and set(terms) != {DEFAULT_TERMINATION}:
        c.fail("[axes].termination", f"model 'kp' has a hard-wall box, no termination but "
               f"{DEFAULT_TERMINATION!r}; run other terminations with model 'etb' only")
    return Axes(material=material, parameter_set=psets, model=models, shape=shapes,
                temperature_K=temps, orbital_zeeman=oz, kp_basis=bases, kp_resolution=res,
                termination=terms, **sz)


def _parse_options(c: Check, doc: dict) -> tuple[Options, tuple]:
    """Options, and ``[options].kp_resolution`` (older spelling of a one-value axis) as a tuple."""
    op = c.table(doc.get("options", {}), "[options]", _OPTIONS)
    rule = c.choice(op.get("temperature_rule", "a"), "[options].temperature_rule", RULES, "rule")
    kp_set = op.get("kp_parameter_set")
    if kp_set is not None:
        kp_set = c.string(kp_set, "[options].kp_parameter_set")
    kane = c.boolean(op.get("kp_kane_scaling", False), "[options].kp_kane_scaling")
    t_edge = op.get("kp_edge_temperature_K")
    if t_edge is not None:
        t_edge = c.number(t_edge, "[options].kp_edge_temperature_K", unit="K")
    res = ()
    if op.get("kp_resolution") is not None:
        res = (c.pos_int(op["kp_resolution"], "[options].kp_resolution", "an integer in 2..64",
                         lo=2, hi=64),)
    term = {k: op[k] for k in ("passivation_eV", "cs_potential_eV") if op.get(k) is not None}
    for key, v in term.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            c.fail(f"[options].{key}", f"must be a finite number in eV, got {show(v)}")
    levels = c.pos_int(op.get("levels", 1), "[options].levels",
                       f"a whole number of Kramers doublets in 1..{ROW_LEVELS}", lo=1, hi=ROW_LEVELS)
    thermal = c.boolean(op.get("thermal_average", False), "[options].thermal_average")
    exc = {"excitons": c.boolean(op.get("excitons", False), "[options].excitons")}
    if op.get("screening") is not None:
        from perovskite_tb.observables.screening import SCREENING_MODELS

        exc["screening"] = c.choice(op["screening"], "[options].screening", SCREENING_MODELS, "screening")
    if op.get("ci_levels") is not None:
        from perovskite_tb.observables.excitons import MAX_DOUBLETS

        exc["ci_levels"] = c.pos_int(op["ci_levels"], "[options].ci_levels",
                                     f"a whole number of Kramers doublets in 1..{MAX_DOUBLETS}", lo=1, hi=MAX_DOUBLETS)
    if not exc["excitons"]:
        for key in ("screening", "ci_levels"):
            if key in exc:
                c.fail(f"[options].{key}", "needs [options].excitons = true")
    return Options(temperature_rule=rule, kp_parameter_set=kp_set, kp_kane_scaling=kane,
                   kp_edge_temperature_K=t_edge, levels=levels, thermal_average=thermal, **term, **exc), res


def _check_excitons(c: Check, axes: Axes, options: Options) -> None:
    """Exciton options: screening constants present for every material of the axis, k·p on boxes only."""
    req = options.exciton_request
    if req is None:
        return
    from perovskite_tb.observables.excitons import check_exciton_request

    # k·p on spheres / spheroids is refused by the [axes] check (boxes only)
    for i, mat in enumerate(axes.material):
        try:
            check_exciton_request(mat, req[0], req[1])
        except InputError as exc:
            c.fail("[options].screening", f"[axes].material[{i}] = {mat!r}: {exc}")


def _check_termination(c: Check, axes: Axes, options: Options) -> None:
    """Termination parameters: in range, and only with their termination on the axis."""
    for key, kind in (("passivation_eV", "passivated"), ("cs_potential_eV", "csx")):
        if getattr(options, key) is not None:
            if kind not in axes.termination:
                c.fail(f"[options].{key}", f"applies to termination {kind!r}, which is not in [axes].termination")
            try:
                options.termination_spec(kind)
            except InputError as exc:
                c.fail(f"[options].{key}", str(exc))


def _parse_execution(c: Check, doc: dict) -> Execution:
    ex = c.table(doc.get("execution", {}), "[execution]", _EXECUTION)
    out = {}
    for key in ("workers", "threads_per_worker"):
        if ex.get(key) is not None:
            out[key] = c.pos_int(ex[key], f"[execution].{key}", "an integer in 1..1024", hi=1024)
    if ex.get("max_memory_gb") is not None:
        out["max_memory_gb"] = c.number(ex["max_memory_gb"], "[execution].max_memory_gb",
                                        strict=True, unit="GB")
    out["isolate"] = c.boolean(ex.get("isolate", False), "[execution].isolate")
    if ex.get("point_timeout_s") is not None:
        out["point_timeout_s"] = c.number(ex["point_timeout_s"], "[execution].point_timeout_s",
                                          strict=True, unit="s")
        if not out["isolate"]:
            c.fail("[execution].point_timeout_s", "needs isolate = true (a point is stopped by "
                   "ending its process)")
    if ex.get("solver") is not None:
        name = c.string(ex["solver"], "[execution].solver")
        try:
            out["solver"] = check_solver(name)
        except InputError as exc:
            c.fail("[execution].solver", str(exc))
    cl = c.table(doc.get("cluster", {}), "[cluster]", ("scheduler",))
    if cl.get("scheduler") is not None:
        out["scheduler"] = check_scheduler(c.string(cl["scheduler"], "[cluster].scheduler"),
                                           lambda m: c.fail("[cluster].scheduler", m))
    return Execution(**out)


def start_check(doc: dict, source: str, base_dir, top_keys: tuple, schema: str) -> tuple[Check, Callable]:
    """The common start of a run-file parser: a :class:`Check` with the top-level keys and the
    schema checked, and ``path_of(v)`` resolving a path relative to ``base_dir`` (the run file's folder)."""
    c = Check(source)
    c.table(doc, "top level", top_keys)
    if "schema" in doc and doc["schema"] != schema:
        c.fail("schema", f"must be {schema!r}, got {show(doc['schema'])}")
    base = Path(base_dir) if base_dir is not None else None

    def path_of(v: str) -> str:
        p = Path(v).expanduser()
        return str(base / p) if base is not None and not p.is_absolute() else str(p)

    return c, path_of


def parse_run(doc: dict, *, source: str = "<run>", base_dir: str | Path | None = None) -> RunSpec:
    """Validate a parsed run-file document into a :class:`RunSpec`.

    Parameters
    ----------
    doc : dict
        ``tomllib`` output (or the same structure built in code).
    source : str
        Name used in error messages.
    base_dir : path, optional
        Relative ``output``, ``plot`` and parameter-file paths are taken relative to it.

    Returns
    -------
    RunSpec

    Raises
    ------
    InputError
        Any schema violation; the message is ``"<source>: <key path>: <problem>"``, e.g.
        ``run.toml: [axes].n_cells[2]: must be a positive integer, got -3``.
    """
    c, path_of = start_check(doc, source, base_dir, _TOP, RUN_SCHEMA)

    output = c.string(doc.get("output", "sweep.h5"), "output")
    if not output.endswith((".h5", ".hdf5")):
        c.fail("output", f"must end with .h5 or .hdf5, got {output!r}")
    plot = doc.get("plot")
    if plot is not None:
        plot = c.string(plot, "plot")
        if not plot.lower().endswith((".png", ".pdf", ".svg")):
            c.fail("plot", f"must end with .png, .pdf or .svg, got {plot!r}")
    axes = _parse_axes(c, doc, path_of)
    options, res = _parse_options(c, doc)
    _check_termination(c, axes, options)
    _check_excitons(c, axes, options)
    if res:
        if axes.kp_resolution:
            c.fail("[options].kp_resolution", "given twice (also [axes].kp_resolution)")
        axes = Axes(**{**asdict(axes), "kp_resolution": res})
    return RunSpec(axes=axes, options=options, execution=_parse_execution(c, doc),
                   output=path_of(output), plot=path_of(plot) if plot else None, source=source)


def check_scheduler(addr: str, fail: Callable) -> str:
    """``addr`` if it looks like a Dask scheduler address, else ``fail(message)``."""
    if not re.fullmatch(r"(tcp|tls|inproc|ws|wss)://[^\s/]+(:\d{1,5})?/?", addr):
        fail(f"must look like tcp://HOST:PORT, got {addr!r}")
    return addr


def load_run_file(path: str | Path) -> RunSpec:
    """Read and validate a TOML run file.

    Raises
    ------
    InputError
        Missing/unreadable file, invalid TOML or UTF-8, schema violations (message with the key path).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read run file {str(p)!r}: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: invalid TOML: {exc}") from None
    return parse_run(doc, source=str(p), base_dir=p.resolve().parent)


def _lists(v):
    """Tuples → lists (recursively), for the TOML writer."""
    return [_lists(x) for x in v] if isinstance(v, (list, tuple)) else v


def spec_to_toml(spec: RunSpec) -> str:
    """``spec`` as a run file with every default filled in (``parse_run`` gives ``spec`` back)."""
    doc = {"schema": RUN_SCHEMA, "output": spec.output}
    if spec.plot:
        doc["plot"] = spec.plot
    ex = asdict(spec.execution)
    sched = ex.pop("scheduler")
    for name, d in (("axes", asdict(spec.axes)), ("options", asdict(spec.options)), ("execution", ex)):
        doc[name] = {k: _lists(v) for k, v in d.items() if v is not None}
    if sched:
        doc["cluster"] = {"scheduler": sched}
    return f"# resolved run file ({RUN_SCHEMA})\n" + tomli_w.dumps(doc)
