"""Tolerances of the test-suite, in one place (each with the reason)."""

#: eV — dense eigh vs sparse solvers on matrices of norm ~20 eV: a few ulp × ‖H‖ × n.
EIG_ATOL_EV = 1e-9
#: eV — Kramers partners at B = 0 in exact arithmetic are degenerate; dense eigh accuracy.
KRAMERS_ATOL_EV = 1e-9
#: 1 — perturbative vs ±B finite-field g (issue 2 asks ≤ 1e-3; the O(B²) error at 0.05 T is ~1e-8).
G_ATOL = 1e-3
#: eV — published gaps are quoted to 1 meV; the issue allows ±5 meV.
GAP_ATOL_EV = 0.005
#: 1 — published g's are quoted to 0.01.
G_PUBLISHED_ATOL = 0.01
