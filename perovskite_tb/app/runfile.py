r"""Run files of :mod:`perovskite_tb.app.sweep`: schema, validation into frozen dataclasses, TOML output.

The schema is documented in ``docs/run-file.md`` and in the :mod:`perovskite_tb.app.sweep` docstring.
Every mistake raises :class:`~perovskite_tb.errors.InputError` (or ``ParameterError``) naming the
file and the key path, e.g. ``run.toml: [axes].n_cells[2]: must be a positive integer``.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable
from perovskite_tb.errors import InputError

__all__ = ["RUN_SCHEMA", "MODELS", "Axes", "Options", "Execution", "RunSpec", "parse_run", "load_run_file", "spec_to_toml"]

#: Optional ``schema`` key of a run file.
RUN_SCHEMA = "perovskite_tb.run/1"
#: Models a sweep knows.
MODELS = ("etb", "kp")
#: Environment variable naming the trace file (see module docstring).


# ------------------------------------------------------------------------------------------------
# Run-file dataclasses
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axes:
    """Sweep axes (every point of the Cartesian product is computed; see module docstring).

    Attributes
    ----------
    material : tuple of str
    parameter_set : tuple of str
        ETB set names or paths to ``.toml`` files; ``"default"`` = the material's default set.
    model : tuple of {"etb", "kp"}
    n_cells : tuple of (int, int, int)
        Cuboid sizes (cells per edge).
    edge_nm : tuple of float
        k·p cube edges [nm].
    temperature_K : tuple of float
        [K], finite, ≥ 0.
    orbital_zeeman : tuple of bool
    """

    material: tuple = ("CsPbI3",)
    parameter_set: tuple = ("default",)
    model: tuple = ("etb",)
    n_cells: tuple = ()
    edge_nm: tuple = ()
    temperature_K: tuple = (6.0,)
    orbital_zeeman: tuple = (False,)


@dataclass(frozen=True)
class Options:
    """Model options shared by all points (changing them needs a new output file).

    Attributes
    ----------
    temperature_rule : str
        :func:`perovskite_tb.model.temperature.parameters_at` rule (``"a"`` or ``"b"``).
    kp_parameter_set : str or None
        k·p set (None: the confined-model default of each material, ``kp.confinement.nc_default_set``).
    kp_resolution : int or None
        Envelope resolution per direction of the k·p model — grid nodes or basis functions,
        whichever :func:`kp.confinement.nc_gfactors` takes (``n_grid`` / ``n_basis``); None: kp's
        default.
    """

    temperature_rule: str = "a"
    kp_parameter_set: str | None = None
    kp_resolution: int | None = None


@dataclass(frozen=True)
class Execution:
    """Where and how points run (does not change results; not part of the resume check).

    Attributes
    ----------
    workers : int or None
        Local worker processes (None: min(2, usable cores)); 1 runs every point in this process.
    max_memory_gb : float or None
        Budget [GB] for the sum of :func:`perovskite_tb.eigen.solver.estimate_memory_gb` of the points
        running at once (None: 80 % of the available memory).
    threads_per_worker : int or None
        BLAS threads per point (None: cores // workers locally, unlimited in-process and on Dask).
    scheduler : str or None
        Dask scheduler address ``tcp://HOST:PORT`` (the ``[cluster]`` table); None = local.
    """

    workers: int | None = None
    max_memory_gb: float | None = None
    threads_per_worker: int | None = None
    scheduler: str | None = None


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
# Validation (every error names the key path)
# ------------------------------------------------------------------------------------------------


class _Check:
    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, msg: str):
        raise InputError(f"{self.source}: {path}: {msg}")

    def table(self, doc, path: str, known: dict) -> dict:
        if not isinstance(doc, dict):
            self.fail(path, f"must be a table, got {_show(doc)}")
        for k in doc:
            if k not in known:
                self.fail(path, f"unknown key {k!r} (known: {', '.join(known)})")
        return doc

    def string(self, v, path: str, *, nonempty: bool = True) -> str:
        if not isinstance(v, str):
            self.fail(path, f"must be a string, got {_show(v)}")
        if nonempty and not v.strip():
            self.fail(path, "must be a non-empty string")
        if "\x00" in v:
            self.fail(path, "must not contain NUL characters")
        return v

    def pos_int(
        self, v, path: str, what: str = "a positive integer", lo: int = 1, hi: int | None = None
    ) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
            self.fail(path, f"must be {what}, got {_show(v)}")
        return int(v)

    def number(
        self, v, path: str, *, lo: float = 0.0, strict: bool = False, unit: str = ""
    ) -> float:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
        ok = ok and (v > lo if strict else v >= lo)
        if not ok:
            rel = ">" if strict else ">="
            self.fail(
                path,
                f"must be a finite number {rel} {lo:g}{' ' + unit if unit else ''}, got {_show(v)}",
            )
        return float(v)

    def boolean(self, v, path: str) -> bool:
        if not isinstance(v, bool):
            self.fail(path, f"must be true or false, got {_show(v)}")
        return v

    def axis(self, v, path: str, item: Callable, *, allow_empty: bool = False) -> tuple:
        items = v if isinstance(v, list) else [v]
        if not items and not allow_empty:
            self.fail(path, "must not be empty")
        out = []
        for i, x in enumerate(items):
            xp = f"{path}[{i}]" if isinstance(v, list) else path
            val = item(x, xp)
            if val in out:
                self.fail(xp, f"duplicate value {_show(x)}")
            out.append(val)
        return tuple(out)


def _show(v) -> str:
    """Short repr of a TOML value for messages (type name for tables)."""
    if isinstance(v, dict):
        return "a table"
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


_TOP = {
    "schema": None,
    "output": None,
    "plot": None,
    "axes": None,
    "options": None,
    "execution": None,
    "cluster": None,
}
_AXES = {f.name: None for f in fields(Axes)}
_OPTIONS = {f.name: None for f in fields(Options)}
_EXECUTION = {"workers": None, "max_memory_gb": None, "threads_per_worker": None}
_CLUSTER = {"scheduler": None}


def parse_run(doc: dict, *, source: str = "<run>", base_dir: str | Path | None = None) -> RunSpec:
    """Validate a parsed run-file document into a :class:`RunSpec`.

    Parameters
    ----------
    doc : dict
        ``tomllib`` output.
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
    c = _Check(source)
    c.table(doc, "top level", _TOP)
    if "schema" in doc and doc["schema"] != RUN_SCHEMA:
        c.fail("schema", f"must be {RUN_SCHEMA!r}, got {_show(doc['schema'])}")
    base = Path(base_dir) if base_dir is not None else None

    def path_of(v: str) -> str:
        p = Path(v).expanduser()
        return str(base / p) if base is not None and not p.is_absolute() else str(p)

    output = c.string(doc.get("output", "sweep.h5"), "output")
    if not output.endswith((".h5", ".hdf5")):
        c.fail("output", f"must end with .h5 or .hdf5, got {output!r}")
    plot = doc.get("plot")
    if plot is not None:
        plot = c.string(plot, "plot")
        if not plot.lower().endswith((".png", ".pdf", ".svg")):
            c.fail("plot", f"must end with .png, .pdf or .svg, got {plot!r}")

    ax = c.table(doc.get("axes", {}), "[axes]", _AXES)
    material = c.axis(ax.get("material", "CsPbI3"), "[axes].material", c.string)

    def pset(x, p):
        s = c.string(x, p)
        return path_of(s) if s.endswith(".toml") else s

    psets = c.axis(ax.get("parameter_set", "default"), "[axes].parameter_set", pset)

    def model(x, p):
        s = c.string(x, p)
        if s not in MODELS:
            c.fail(p, f"unknown model {s!r} (known: {', '.join(MODELS)})")
        return s

    models = c.axis(ax.get("model", "etb"), "[axes].model", model)

    def size(x, p):
        if isinstance(x, list):
            if len(x) != 3:
                c.fail(p, f"must be an integer N or a list [NX, NY, NZ], got a list of {len(x)}")
            return tuple(c.pos_int(n, f"{p}[{i}]", hi=200) for i, n in enumerate(x))
        n = c.pos_int(x, p, "a positive integer (cells per edge) or [NX, NY, NZ]", hi=200)
        return (n, n, n)

    n_cells = c.axis(ax.get("n_cells", []), "[axes].n_cells", size, allow_empty=True)
    edge_nm = c.axis(
        ax.get("edge_nm", []),
        "[axes].edge_nm",
        lambda x, p: c.number(x, p, strict=True, unit="nm"),
        allow_empty=True,
    )
    for i, L in enumerate(edge_nm):
        if L > 1000:
            c.fail(f"[axes].edge_nm[{i}]", f"must be <= 1000 nm, got {L:g}")
    temps = c.axis(
        ax.get("temperature_K", 6.0), "[axes].temperature_K", lambda x, p: c.number(x, p, unit="K")
    )
    oz = c.axis(ax.get("orbital_zeeman", False), "[axes].orbital_zeeman", c.boolean)
    if "etb" in models and not n_cells:
        c.fail("[axes].n_cells", "model 'etb' needs at least one size")
    if "kp" in models and not (n_cells or edge_nm):
        c.fail("[axes]", "model 'kp' needs n_cells or edge_nm")
    if edge_nm and "kp" not in models:
        c.fail(
            "[axes].edge_nm", "applies to model 'kp' only (add it to [axes].model or use n_cells)"
        )

    op = c.table(doc.get("options", {}), "[options]", _OPTIONS)
    rule = c.string(op.get("temperature_rule", "a"), "[options].temperature_rule")
    from perovskite_tb.model.temperature import RULES

    if rule not in RULES:
        c.fail("[options].temperature_rule", f"unknown rule {rule!r} (known: {', '.join(RULES)})")
    kp_set = op.get("kp_parameter_set")
    if kp_set is not None:
        kp_set = c.string(kp_set, "[options].kp_parameter_set")
    kp_nb = op.get("kp_resolution")
    if kp_nb is not None:
        kp_nb = c.pos_int(kp_nb, "[options].kp_resolution", "an integer in 2..64", lo=2, hi=64)

    ex = c.table(doc.get("execution", {}), "[execution]", _EXECUTION)
    workers = ex.get("workers")
    if workers is not None:
        workers = c.pos_int(workers, "[execution].workers", "an integer in 1..1024", hi=1024)
    mem = ex.get("max_memory_gb")
    if mem is not None:
        mem = c.number(mem, "[execution].max_memory_gb", strict=True, unit="GB")
    thr = ex.get("threads_per_worker")
    if thr is not None:
        thr = c.pos_int(thr, "[execution].threads_per_worker", "an integer in 1..1024", hi=1024)
    cl = c.table(doc.get("cluster", {}), "[cluster]", _CLUSTER)
    sched = cl.get("scheduler")
    if sched is not None:
        sched = _check_scheduler(
            c.string(sched, "[cluster].scheduler"), lambda m: c.fail("[cluster].scheduler", m)
        )

    return RunSpec(
        axes=Axes(
            material=material,
            parameter_set=psets,
            model=models,
            n_cells=n_cells,
            edge_nm=edge_nm,
            temperature_K=temps,
            orbital_zeeman=oz,
        ),
        options=Options(temperature_rule=rule, kp_parameter_set=kp_set, kp_resolution=kp_nb),
        execution=Execution(
            workers=workers, max_memory_gb=mem, threads_per_worker=thr, scheduler=sched
        ),
        output=path_of(output),
        plot=path_of(plot) if plot else None,
        source=source,
    )


def _check_scheduler(addr: str, fail: Callable) -> str:
    import re

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


# ------------------------------------------------------------------------------------------------
# TOML writer for the resolved run file (tiny: strings, numbers, booleans, lists)
# ------------------------------------------------------------------------------------------------


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def spec_to_toml(spec: RunSpec) -> str:
    """Write ``spec`` as a run file with every default filled in (``parse_run`` gives ``spec`` back)."""
    lines = [
        f"# resolved run file ({RUN_SCHEMA})",
        f"schema = {_toml_value(RUN_SCHEMA)}",
        f"output = {_toml_value(spec.output)}",
    ]
    if spec.plot:
        lines.append(f"plot = {_toml_value(spec.plot)}")
    ax = asdict(spec.axes)
    ax["n_cells"] = [list(n) for n in spec.axes.n_cells]
    for name, d in (
        ("axes", ax),
        ("options", asdict(spec.options)),
        ("execution", asdict(spec.execution)),
    ):
        if name == "execution":
            d.pop("scheduler")
        lines += ["", f"[{name}]"] + [
            f"{k} = {_toml_value(v)}" for k, v in d.items() if v is not None
        ]
    if spec.execution.scheduler:
        lines += ["", "[cluster]", f"scheduler = {_toml_value(spec.execution.scheduler)}"]
    return "\n".join(lines) + "\n"
