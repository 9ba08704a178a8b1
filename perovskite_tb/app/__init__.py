"""Application layer: run files, points, the sweep engine, jobs, result schema, HDF5 I/O, plots, CLI.

The only layer that may import both models (:mod:`perovskite_tb` ETB and :mod:`kp`). Sub-packages,
top to bottom (each imports only those below it; checked by import-linter, ``pyproject.toml``):

* :mod:`~perovskite_tb.app.cli` — the ``perovskite-tb`` command line (all argparse): parses, calls
  the jobs or the engine, prints.
* :mod:`~perovskite_tb.app.jobs` — the jobs (curve, tseries, halides, study, the k·p study,
  ensemble, fit): run files built in code, their analyses and their extra file content.
* :mod:`~perovskite_tb.app.engine` — the sweep engine: run-file schema and validation, points,
  models, runners, :func:`~perovskite_tb.app.engine.sweep.run_sweep`.
* :mod:`~perovskite_tb.app.plot` — figures from result files (used by the engine for
  ``sweep --plot`` and by the jobs).
* :mod:`~perovskite_tb.app.store` — result files: row schema, resume keys, HDF5 writer and readers,
  integrity, salvage, export, provenance, the shipped measured tables.
"""
