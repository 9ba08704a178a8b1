"""Command-line handlers of ``perovskite-tb sweep`` and ``perovskite-tb export`` (split out of
:mod:`perovskite_tb.app.engine.sweep`; the run-file schema is in ``docs/run-file.md``).

Errors are raised as :class:`~perovskite_tb.errors.PerovskiteTBError` subclasses; the ``perovskite-tb``
entry point prints them as one line and exits with status 2.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from perovskite_tb.app.store.export import load_results, salvage_results, write_csv
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.app.engine.runfile import check_scheduler, load_run_file
from perovskite_tb.eigen.registry import BACKENDS
from perovskite_tb.app.engine.sweep import check_output, expand_points, run_sweep
from perovskite_tb.errors import InputError

__all__ = ["add_subcommands"]


def add_subcommands(sub) -> None:
    """Register ``sweep`` and ``export`` on the ``perovskite-tb`` sub-parser."""
    s = sub.add_parser(
        "sweep", help="run a TOML run file (axes → points → resumable HDF5); docs/run-file.md"
    )
    s.add_argument("run_file", help="TOML run file (path; schema in docs/run-file.md)")
    s.add_argument("-o", "--output", default=None,
                   help="HDF5 output path (.h5; overrides the run file's 'output')")
    s.add_argument("--scheduler", default=None,
                   help="Dask scheduler address tcp://HOST:PORT (overrides [cluster].scheduler)")
    s.add_argument("--workers", default=None,
                   help="local worker processes, a positive integer (overrides [execution].workers)")
    s.add_argument("--solver", choices=("auto",) + tuple(BACKENDS), default=None,
                   help="ETB eigensolver back-end (overrides [execution].solver; default auto)")
    s.add_argument("--dry-run", action="store_true",
                   help="validate, list the points still to compute with their memory estimate "
                        "(GB), and stop")
    s.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    s.set_defaults(func=_cmd_sweep)

    e = sub.add_parser("export", help="write the rows of a result file as a labelled table (CSV)")
    e.add_argument("result_file", help="HDF5 result file (curve, sweep, tseries, halides, kp-study)")
    e.add_argument("--csv", action="store_true", required=True,
                   help="CSV output (the only format; units in the second comment line)")
    e.add_argument("-o", "--output", default=None, help="CSV path (default: stdout)")
    e.add_argument("--salvage", action="store_true",
                   help="damaged file (flipped bits, truncated): write only the rows whose SHA-256 "
                        "digest matches and report on stderr what was lost; the file is not modified")
    e.set_defaults(func=_cmd_export)


def _cmd_sweep(args) -> int:
    spec = load_run_file(args.run_file)
    ex = spec.execution
    if args.workers is not None:
        try:
            w = int(args.workers)
        except ValueError:
            w = 0
        if w < 1 or str(w) != args.workers.strip():
            raise InputError(f"--workers must be a positive integer, got {args.workers!r}")
        ex = replace(ex, workers=w)
    if args.solver is not None:
        ex = replace(ex, solver=args.solver)
    if args.scheduler is not None:
        ex = replace(
            ex,
            scheduler=check_scheduler(
                args.scheduler, lambda m: (_ for _ in ()).throw(InputError(f"--scheduler: {m}"))
            ),
        )
    spec = replace(spec, execution=ex, output=args.output or spec.output)
    if args.dry_run:
        res = expand_points(spec)
        done = set()
        out = check_output(spec)
        if out.exists():
            done = set(load_results(out).point_keys())
        todo = [p for p in res.points if p.key not in done]
        print(
            f"{len(res.points)} points, {len(res.points) - len(todo)} done, {len(todo)} to compute "
            f"(≤ {max((p.memory_gb for p in todo), default=0):.2f} GB each)"
        )
        for p in todo:
            print(f"  {p.key}")
        return 0
    text = Path(args.run_file).read_text(encoding="utf-8")
    rep = run_sweep(spec, progress=False if args.no_progress else None, run_file_text=text)
    print(
        f"wrote {rep.output}: {rep.n_computed} points computed, {rep.n_skipped} already done "
        f"({rep.n_points} in the run file)"
    )
    return 0


def _cmd_export(args) -> int:
    note = ""
    if args.output:
        check_writable(args.output, "export: -o")
    if args.salvage:
        t, s = salvage_results(args.result_file)
        note = (f"salvaged {s.kept} of {s.total} rows of {args.result_file}; lost: "
                f"{'; '.join(s.lost) or 'nothing'}")
    else:
        t = load_results(args.result_file)
    if args.output:
        write_csv(t, args.output, note)
        print(f"wrote {args.output} ({len(t)} rows)")
    else:
        write_csv(t, sys.stdout, note)
    if note:
        print(f"perovskite-tb: {note}", file=sys.stderr)
    return 0
