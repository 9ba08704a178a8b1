"""The jobs: curve, tseries, halides, study, the k·p study, ensemble spin dephasing, the ETB fit.

Each builds its run files in code and runs them through the sweep engine
(:mod:`perovskite_tb.app.engine`), or (ensemble, fit) works on result files and parameter sets;
analyses and figures are here, argument parsing is in :mod:`perovskite_tb.app.cli`.
"""
