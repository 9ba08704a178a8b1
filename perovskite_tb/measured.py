"""Measured g-factors shipped with the package (``perovskite_tb/data``), read as lists of dicts.

* CsPbI3 nanocrystals: Meliakov et al., Nanoscale 16, 21496 (2024) (doi:10.1039/d4nr03132f) and
  Nanoscale 17, 6522 (2025) — :func:`load_measured`, :func:`measured_series`.
* Bulk CsPbX3 ranges: Kirstein et al., Nat. Commun. 13, 3062 (2022) — :func:`load_measured_bulk`.
"""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np

from perovskite_tb.errors import InputError

__all__ = ["MEASURED_DOI", "load_measured", "measured_series", "load_measured_bulk"]

#: DOI of the temperature paper whose sample-1 series is plotted (Meliakov et al. 2024).
MEASURED_DOI = "10.1039/d4nr03132f"


def _data_lines(name: str, path) -> list[str]:
    if path is None:
        text = resources.files("perovskite_tb").joinpath(f"data/{name}").read_text(encoding="utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def load_measured(path=None) -> list[dict]:
    """Measured CsPbI3 NC g-factors (Meliakov et al. 2024, 2025).

    Returns
    -------
    list of dict
        Keys: source_doi, sample, temperature_K (float, K), energy_eV (float or nan, eV), carrier,
        g (float), abs_only (bool), method, note.
    """
    rows = []
    for r in csv.DictReader(_data_lines("measured_g_factors_CsPbI3_NC.csv", path)):
        rows.append({
            **r,
            "temperature_K": float(r["temperature_K"]),
            "energy_eV": float(r["energy_eV"]) if r["energy_eV"] else float("nan"),
            "g": float(r["g"]),
            "abs_only": r["abs_only"] == "1",
        })
    return rows


def measured_series(sample: str = "1", doi: str = MEASURED_DOI) -> list[dict]:
    """Measured rows of one sample of the temperature paper, sorted by temperature.

    Returns
    -------
    list of dict
        Rows of :func:`load_measured` (temperature_K [K], energy_eV [eV], carrier, g).
    """
    rows = [r for r in load_measured() if r["source_doi"] == doi and r["sample"] == sample
            and not r["abs_only"] and np.isfinite(r["energy_eV"])]
    return sorted(rows, key=lambda r: (r["temperature_K"], r["carrier"]))


def load_measured_bulk(path: str | Path | None = None) -> list[dict]:
    """Measured bulk g-factor ranges (Kirstein et al., Nat. Commun. 13, 3062 (2022)).

    Returns
    -------
    list of dict
        Keys ``material``, ``Eg_eV`` [eV], ``carrier`` (e | h), ``g_min``, ``g_max`` (float),
        ``source``, ``note``.

    Raises
    ------
    InputError
        Missing file or malformed row.
    """
    rows = []
    for r in csv.DictReader(_data_lines("measured_bulk_g_factors.csv", path)):
        try:
            rows.append({**r, "Eg_eV": float(r["Eg_eV"]), "g_min": float(r["g_min"]),
                         "g_max": float(r["g_max"])})
        except (KeyError, ValueError) as exc:
            raise InputError(f"{Path(path).name if path else 'measured_bulk_g_factors.csv'}: "
                             f"malformed row {r!r} ({exc})") from None
    return rows
