"""Application layer: run files, points, the sweep engine, jobs, result schema, HDF5 I/O, plots, CLI.

The only layer that may import both models (:mod:`perovskite_tb` ETB and :mod:`kp`).
"""
