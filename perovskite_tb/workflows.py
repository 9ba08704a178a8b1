"""Public entry points of the jobs, for notebooks and scripts (the CLI runs the same functions).

Per-NC work goes through :func:`perovskite_tb.solve`; what needs many points, a resumable HDF5 file
or an ensemble model is here:

* :func:`run` — a run file (a path or a dict with the schema of ``docs/run-file.md``) through the sweep
  engine (resumable, parallel) → the :class:`ResultTable` of its output file;
* :func:`load_results` — the rows of any result file, with units (:class:`ResultTable`);
* :func:`ensemble` — the ensemble spin-dephasing job of an ensemble run file (``docs/ensemble.md``) →
  its summary dict; :func:`ensemble_curve` its model curve;
* :func:`run_ensemble`, :class:`EnsembleConfig` — one ensemble evaluation on a model curve (scans);
* :func:`halide_curves` — the I/Br/Cl comparison (``perovskite-tb halides``).
"""

from __future__ import annotations

from pathlib import Path

from perovskite_tb.app.cli.ensemble import load_ensemble_run, model_curve, run_ensemble_job
from perovskite_tb.app.engine.sweep import load_run_file, parse_run, run_sweep
from perovskite_tb.app.jobs.ensemble import EnsembleConfig, run_ensemble
from perovskite_tb.app.jobs.halides import halide_curves
from perovskite_tb.app.store.export import ResultTable, load_results

__all__ = ["run", "load_results", "ResultTable", "ensemble", "ensemble_curve", "run_ensemble", "EnsembleConfig",
           "halide_curves"]


def run(run_file, *, source: str = "notebook", progress: bool = False) -> ResultTable:
    """Run a sweep run file (resumes an existing output) and return its rows.

    Parameters
    ----------
    run_file : str, pathlib.Path or dict
        A TOML run file, or the same content as a dict (``docs/run-file.md``; relative ``output``
        paths of a dict are relative to the working directory).
    source : str, optional
        Name used in error messages for a dict.
    progress : bool, optional
        Progress bar on stderr.

    Returns
    -------
    ResultTable

    Raises
    ------
    RunFileError, InputError
        A run file that does not follow the schema (one line naming the key and the value).
    """
    spec = parse_run(run_file, source=source) if isinstance(run_file, dict) else load_run_file(Path(run_file))
    run_sweep(spec, progress=progress)
    return load_results(spec.output)


def ensemble(run_file, *, progress: bool = False) -> dict:
    """The ensemble job of a run file (``perovskite-tb ensemble``): model rows computed or resumed, the
    ensemble result written to its ``output`` and ``plot`` files.

    Parameters
    ----------
    run_file : str or pathlib.Path
        Ensemble run file (``docs/ensemble.md``).
    progress : bool, optional
        Progress bar while model points are computed.

    Returns
    -------
    dict
        The scalar results (``g_e_mean``, ``Delta_g_e``, ``Delta_N_e_mT``, ``T2star_e_ps`` …), ``model``
        (``n_computed`` …), ``files`` and ``notes``.
    """
    path = Path(run_file)
    return run_ensemble_job(load_ensemble_run(path), progress=progress, run_file_text=path.read_text(encoding="utf-8"))


def ensemble_curve(run_file):
    """The model curve of an ensemble run file (rows read from its ``results`` file, missing ones computed).

    Returns
    -------
    (curve, info)
        The model curve (``E_eV``, ``g_e``, ``g_h``, ``Delta_N_e_mT`` …) and ``info["n_computed"]``.
    """
    return model_curve(load_ensemble_run(Path(run_file)))
