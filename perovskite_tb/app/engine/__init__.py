"""The sweep engine: run file → points → runner → rows (written by :mod:`perovskite_tb.app.store`).

:mod:`.runfile` (schema, validation; :mod:`.validate` its one-line checks), :mod:`.points` (axes →
points), :mod:`.models` (one function per model), :mod:`.runners` (in process, pool, isolated, Dask),
:mod:`.sweep` (:func:`~perovskite_tb.app.engine.sweep.run_sweep`). Imports the store and plots,
never the jobs or the CLI.
"""
