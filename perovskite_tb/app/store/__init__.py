"""Result files: the row schema, resume keys, HDF5 writing and reading, integrity, salvage, export.

:mod:`.results` (columns), :mod:`.keys` (resume keys), :mod:`.io` (layout, writer; re-exports the
readers of :mod:`.reader`), :mod:`.integrity`, :mod:`.salvage`, :mod:`.export` (tables, CSV),
:mod:`.provenance`, :mod:`.measured` (the shipped measured tables). The bottom of the application
layer: imports no other part of :mod:`perovskite_tb.app`.
"""
