"""Eigen layer: symmetry blocks, LDLᴴ factorisation with inertia, band-edge Kramers doublets.

Imports the model layer's basics only; never :mod:`perovskite_tb.app` or :mod:`kp`.
"""
