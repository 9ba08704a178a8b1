"""Shared checks of the exciton tests (ETB and k·p).

The one-configuration XX closed form and the one-line CLI error.
"""

from __future__ import annotations

from perovskite_tb.app.cli import main


def xx_closed_form(I) -> float:
    """E(XX) of one configuration (2 electrons, 2 holes of the band-edge doublets) from J and K (eV).

    ε_e1 + ε_e2 + ε_h1 + ε_h2 + (J − K)_ee + (J − K)_hh + Σ_cv U_cvcv, with U = −J_eh + K_eh.
    """
    U = I.U()
    We, Wh = I.We, I.Wh
    return float(I.eps_e.sum() + I.eps_h.sum() + (We[0, 1, 0, 1] - We[0, 1, 1, 0]).real
                 + (Wh[0, 1, 0, 1] - Wh[0, 1, 1, 0]).real
                 + sum(U[c, v, c, v].real for c in range(2) for v in range(2)))


def cli_error_line(capsys, argv) -> str:
    """Run the CLI: exit 2, nothing on stdout, one ``perovskite-tb: error:`` line (returned)."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("perovskite-tb: error:") and "Traceback" not in err
    return err
