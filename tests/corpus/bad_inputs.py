"""A corpus of bad inputs (issue 13): each case is an argv for ``perovskite-tb`` plus files it needs.

Every case must end in exit code 2 with ONE line ``perovskite-tb: error: ...`` on stderr that names the
offending value, no traceback and nothing on stdout. Cases are generated, not listed one by one, so the
corpus grows with the parameter tables.

Classes (issue 13): ``param`` physically meaningless parameter files; ``edges`` wrong band edges;
``memory`` runs that must be refused before any large allocation; ``files`` result-file abuse;
``args`` bad command-line values; ``mismatch`` contradictory options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from perovskite_tb.model.materials import (ONSITE_NAMES, SPIN_ORBIT_NAMES, TWO_CENTRE_NAMES, parameters_dir)

SHIPPED = "CsPbI3.nestoklon2023.etb.toml"


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` with ``{dir}`` standing for the case's scratch directory."""

    cls: str
    name: str
    argv: tuple
    files: dict = field(default_factory=dict)  # file name -> text or bytes
    must_mention: tuple = ()  # substrings the error line must contain
    subprocess: bool = False  # run in a child with an address-space limit (memory cases)


def _shipped_text() -> str:
    return (parameters_dir() / SHIPPED).read_text()


def _refs() -> dict:
    return {p.name: p.read_text() for p in parameters_dir().glob("references*.toml")}


def _param_case(name: str, text: str, mention=()) -> Case:
    files = {"p.etb.toml": text, **_refs()}
    return Case("param", name, ("bulk", "--parameter-set", "{dir}/p.etb.toml", "--json"), files, tuple(mention))


def _entry(text: str, pname: str):
    m = re.search(rf"^{pname} = \{{ value = ([^,]+), unit = \"([^\"]+)\"", text, re.M)
    return m


def param_cases() -> list[Case]:
    """Wrong-dimension units, out-of-range values, non-numbers and unknown keys, per parameter."""
    text = _shipped_text()
    out = []
    wrong_unit = {"eV": "nm", "angstrom": "eV", "eV/K": "K", "1/K": "eV", "1": "eV"}
    for pname in ("a",) + ONSITE_NAMES + TWO_CENTRE_NAMES + SPIN_ORBIT_NAMES + ("dEg_dT", "thermal_expansion"):
        m = _entry(text, pname)
        if m is None:
            continue
        val, unit = m.group(1), m.group(2)
        head = m.group(0)
        bad_unit = head.replace(f'unit = "{unit}"', f'unit = "{wrong_unit[unit]}"')
        out.append(_param_case(f"unit-{pname}", text.replace(head, bad_unit, 1), (pname,)))
        big = head.replace(f"value = {val}", "value = 1e7")
        out.append(_param_case(f"range-{pname}", text.replace(head, big, 1), (pname,)))
    for pname in ("E_s_Pb", "V_pp_sigma", "lambda_so_X"):
        head = _entry(text, pname).group(0)
        val = _entry(text, pname).group(1)
        for tag, rep in (("nan", "nan"), ("inf", "-inf"), ("bool", "true"), ("string", '"1.0"'), ("array", "[1.0]")):
            out.append(_param_case(f"{tag}-{pname}", text.replace(head, head.replace(f"value = {val}", f"value = {rep}"), 1),
                                   (pname,)))
    out += [
        _param_case("lattice-extra-key", text.replace("[lattice]\n", '[lattice]\nc = { value = 6.0, unit = "angstrom", source = "nestoklon2021" }\n'), ("c",)),
        _param_case("meta-extra-key", text.replace('model = "etb"', 'model = "etb"\nspin = 3'), ("spin",)),
        _param_case("section-typo", text.replace("[spin_orbit]", "[spin_orbit]\n[spinorbit]\nx = 1"), ("spinorbit",)),
        _param_case("entry-extra-key", text.replace('E_s_X = { value', 'E_s_X = { factor = 2, value', 1), ("factor",)),
        _param_case("tref-unit", text.replace('unit = "K", source = "nestoklon2021", note', 'unit = "eV", source = "nestoklon2021", note'), ("reference_temperature_K",)),
        _param_case("tref-huge", text.replace('reference_temperature_K = { value = 0.0', 'reference_temperature_K = { value = 1e9'), ("reference_temperature_K",)),
        _param_case("source-number", text.replace('source = "nestoklon2023-rec"', "source = 7", 1), ("source",)),
        _param_case("basis-int", text.replace('basis = "sp3d5s*"', "basis = 3"), ("basis",)),
        _param_case("not-utf8", text.encode("utf-16"), ()),
        _param_case("empty", "", ()),
    ]
    return out


def edge_cases() -> list[Case]:
    """Parameter sets whose band edges are wrong: inverted bands, a vanishing gap."""
    text = _shipped_text()
    head = _entry(text, "E_p_Pb").group(0)
    inv = text.replace(head, head.replace("value = 4.456", "value = 2.0"), 1)
    zero = text.replace(head, head.replace("value = 4.456", "value = 2.63"), 1)
    return [
        _param_case("inverted-bands", inv, ("inverted",)),
        _param_case("near-zero-gap", zero, ("gap",)),
        Case("edges", "inverted-nc", ("nc", "--parameter-set", "{dir}/p.etb.toml", "--n-cells", "2", "2", "2", "--json"),
             {"p.etb.toml": inv, **_refs()}, ("inverted",)),
    ]


def memory_cases() -> list[Case]:
    """Runs that need far more memory than the machine: refused before allocating."""
    argvs = [
        ("nc", "--n-cells", "200", "200", "200"),
        ("nc", "--n-cells", "40", "40", "40"),
        ("nc", "--n-cells", "100", "100", "100"),
        ("kp-nc", "--material", "CsPbI3", "--edge-nm", "10", "10", "10", "--n-basis", "200"),
        ("kp-nc", "--material", "CsPbI3", "--edge-nm", "1000", "1000", "1000"),
        ("curve", "--n-cells", "60", "--plot", "none", "-o", "{dir}/c.h5", "--no-progress"),
    ]
    mention = {"1000": ("nm",)}  # a 1000 nm k·p box is refused for its size before its memory
    return [Case("memory", " ".join(a), a, {}, mention.get(a[4] if len(a) > 4 else "", ("GB",)), subprocess=True)
            for a in argvs]


def arg_cases() -> list[Case]:
    """Bad command-line values of every sub-command."""
    bad_T = ["nan", "-3", "1e300", "inf", "abc", "-0.0001"]
    out = [Case("args", f"bulk-T-{t}", ("bulk", "--temperature-K", t)) for t in bad_T]
    out += [Case("args", f"nc-T-{t}", ("nc", "--n-cells", "2", "2", "2", "--temperature-K", t)) for t in bad_T]
    for cells in (("0", "2", "2"), ("-1", "2", "2"), ("2.5", "2", "2"), ("x", "2", "2"), ("2", "2"), ("1e9", "1", "1"),
                  ("nan", "2", "2"), ("2", "2", "2", "2")):
        out.append(Case("args", f"nc-cells-{'-'.join(cells)}", ("nc", "--n-cells", *cells)))
    for edge in (("0", "5", "5"), ("-5", "5", "5"), ("nan", "5", "5"), ("inf", "5", "5"), ("5", "5"), ("x", "5", "5")):
        out.append(Case("args", f"kpnc-edge-{'-'.join(edge)}", ("kp-nc", "--material", "CsPbI3", "--edge-nm", *edge)))
    for nb in ("0", "1", "2", "-4", "x", "3.5"):
        out.append(Case("args", f"kpnc-nbasis-{nb}", ("kp-nc", "--material", "CsPbI3", "--edge-nm", "5", "5", "5", "--n-basis", nb)))
    out += [
        Case("args", "bulk-material", ("bulk", "--material", "CsPbXX")),
        Case("args", "bulk-set", ("bulk", "--parameter-set", "nosuch")),
        Case("args", "bulk-set-missing-file", ("bulk", "--parameter-set", "{dir}/none.toml")),
        Case("args", "kpbulk-material", ("kp-bulk", "--material", "CsSnI3")),
        Case("args", "kpbulk-set", ("kp-bulk", "--material", "CsPbI3", "--parameter-set", "nosuch")),
        Case("args", "curve-model", ("curve", "--model", "dft", "--plot", "none", "-o", "{dir}/c.h5")),
        Case("args", "curve-cells0", ("curve", "--n-cells", "0", "--plot", "none", "-o", "{dir}/c.h5")),
        Case("args", "curve-T-inf", ("curve", "--temperature-K", "inf", "--plot", "none", "-o", "{dir}/c.h5")),
        Case("args", "curve-rule", ("curve", "--temperature-rule", "c", "--plot", "none", "-o", "{dir}/c.h5")),
        Case("args", "curve-plot-dir", ("curve", "--n-cells", "2", "-o", "{dir}/c.h5", "--plot", "{dir}/no/such/dir/x.png")),
        Case("args", "curve-out-dir", ("curve", "--n-cells", "2", "-o", "{dir}/no/such/dir/c.h5", "--plot", "none")),
        Case("args", "sweep-missing", ("sweep", "{dir}/none.toml")),
        Case("args", "export-missing", ("export", "{dir}/none.h5", "--csv")),
        Case("args", "unknown-command", ("frobnicate",)),
        *[Case("args", f"nc-eps-{o}-{v}", ("nc", "--n-cells", "2", "2", "2", f"--epsilon-{o}", v))
          for o in ("in", "out") for v in ("0", "-1", "nan", "x")],
        Case("args", "kpnc-eps-in-0", ("kp-nc", "--material", "CsPbI3", "--edge-nm", "5", "5", "5", "--epsilon-in", "0")),
        Case("args", "nc-sphere-no-size", ("nc", "--shape", "sphere")),
        Case("args", "nc-sphere-zero", ("nc", "--shape", "sphere", "--diameter-nm", "0")),
        Case("args", "nc-sphere-negative", ("nc", "--shape", "sphere", "--diameter-nm", "-2")),
        Case("args", "nc-sphere-nan", ("nc", "--shape", "sphere", "--diameter-nm", "nan")),
        Case("args", "nc-spheroid-two-axes", ("nc", "--shape", "spheroid", "--semi-axes-nm", "1", "1")),
        Case("args", "nc-cube-unequal", ("nc", "--shape", "cube", "--n-cells", "2", "3", "4")),
        Case("args", "nc-cuboid-diameter", ("nc", "--shape", "cuboid", "--diameter-nm", "3")),
        Case("args", "nc-two-sizes", ("nc", "--n-cells", "2", "2", "2", "--diameter-nm", "3")),
        Case("args", "nc-shape-unknown", ("nc", "--shape", "torus", "--diameter-nm", "3")),
        Case("args", "no-command", ()),
        *exciton_cases(),
    ]
    return out


def exciton_cases() -> list[Case]:
    """``nc``/``kp-nc --excitons`` and ``[options].excitons`` (issue 20): basis size, screening name, MISSING constants,
    k·p on a sphere."""
    nc2 = ("nc", "--material", "CsPbBr3", "--n-cells", "2", "2", "2", "--json")
    kp5 = ("kp-nc", "--material", "CsPbBr3", "--edge-nm", "5", "5", "5", "--json")
    # CsPbCl3: ε_s and the LO frequency are MISSING (parameters/excitons.toml); CsPbBr3 has both
    nc2cl = ("nc", "--material", "CsPbCl3", "--n-cells", "2", "2", "2", "--json")
    kp5cl = ("kp-nc", "--material", "CsPbCl3", "--edge-nm", "5", "5", "5", "--json")
    run = """output = "r.h5"\n[axes]\nmaterial = ["%s"]\nmodel = ["%s"]\nn_cells = [2]\n[options]\nexcitons = true\n%s\n"""
    out = [Case("args", f"nc-ci-levels-{v}", (*nc2, "--excitons", "--ci-levels", v), {}, (v,))
           for v in ("0", "13", "-1", "x", "2.5")]
    out += [
        Case("args", "nc-screening-unknown", (*nc2, "--excitons", "--screening", "rpa"), {}, ("rpa",)),
        Case("args", "nc-screening-missing-eps-static", (*nc2cl, "--excitons", "--screening", "epsilon-0"), {},
             ("eps_static", "CsPbCl3")),
        Case("args", "nc-screening-missing-polaron", (*nc2cl, "--excitons", "--screening", "polaron"), {},
             ("CsPbCl3", "MISSING")),
        Case("mismatch", "nc-screening-without-excitons", (*nc2, "--screening", "epsilon-inf"), {}, ("--excitons",)),
        Case("mismatch", "nc-ci-levels-without-excitons", (*nc2, "--ci-levels", "4"), {}, ("--excitons",)),
        Case("mismatch", "nc-excitons-no-coulomb", (*nc2, "--excitons", "--no-coulomb"), {}, ("--no-coulomb",)),
        Case("args", "runfile-ci-levels-0", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": run % ("CsPbI3", "etb", "ci_levels = 0")}, ("ci_levels",)),
        Case("args", "runfile-ci-levels-99", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": run % ("CsPbI3", "etb", "ci_levels = 99")}, ("ci_levels",)),
        Case("args", "runfile-screening-unknown", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": run % ("CsPbI3", "etb", 'screening = "rpa"')}, ("rpa",)),
        Case("args", "runfile-screening-missing", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": run % ("CsPbCl3", "etb", 'screening = "epsilon-0"')}, ("eps_static", "CsPbCl3")),
        Case("args", "runfile-excitons-kp-screening-missing", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": run % ("CsPbCl3", "kp", 'screening = "epsilon-0"')}, ("eps_static", "CsPbCl3")),
        Case("mismatch", "runfile-excitons-kp-sphere", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": (run % ("CsPbI3", "kp", "")).replace("n_cells = [2]", 'shape = ["sphere"]\ndiameter_nm = [3.0]')},
             ("kp",)),
        *[Case(cls, f"kpnc-excitons-{name}", (*kp5, *a), {}, needles)
          for cls, name, a, needles in (
              ("args", "ci-levels-0", ("--excitons", "--ci-levels", "0"), ("0",)),
              ("args", "ci-levels-13", ("--excitons", "--ci-levels", "13"), ("13",)),
              ("args", "screening-unknown", ("--excitons", "--screening", "rpa"), ("rpa",)),
              ("mismatch", "ci-levels-without-excitons", ("--ci-levels", "2"), ("--excitons",)),
              ("mismatch", "no-coulomb", ("--excitons", "--no-coulomb"), ("--no-coulomb",)))],
        Case("args", "kpnc-excitons-screening-missing", (*kp5cl, "--excitons", "--screening", "polaron"), {},
             ("CsPbCl3", "MISSING")),
        *[Case("args", f"excitons-job-{name}", ("excitons", "--quick", "--no-progress", "-o", "{dir}/e.h5", "--plot",
                                                "none", "--report", "none", *a), {}, (needle,))
          for name, a, needle in (("ci-levels-0", ("--ci-levels", "0"), "0"), ("ci-levels-13", ("--ci-levels", "13"), "13"),
                                  ("screening", ("--screening", "rpa"), "rpa"),
                                  ("aspect", ("--aspect", "3x3"), "3x3"),
                                  ("missing-constants", ("--material", "CsPbCl3", "--screening", "polaron"),
                                   "CsPbCl3"),
                                  ("material", ("--material", "CsPbXX"), "CsPbXX"))],
        Case("mismatch", "runfile-screening-without-excitons", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": (run % ("CsPbI3", "etb", 'screening = "epsilon-0"')).replace("excitons = true", "")},
             ("excitons",)),
    ]
    return out


def mismatch_cases() -> list[Case]:
    """Contradictory options."""
    i3 = str(parameters_dir() / SHIPPED)
    return [
        Case("mismatch", "material-vs-file", ("bulk", "--material", "CsPbBr3", "--parameter-set", i3), {}, ("CsPbBr3",)),
        Case("mismatch", "nc-material-vs-file", ("nc", "--material", "CsPbCl3", "--parameter-set", i3, "--n-cells", "2", "2", "2"),
             {}, ("CsPbCl3",)),
    ]


G_E = 0.123456789012345  # a value whose 8 bytes occur once in the generated result file


def _result_file(attrs: dict) -> bytes:
    """Bytes of a small valid result file (two ETB rows), written by this version's writer."""
    import tempfile

    from perovskite_tb.app.store.io import ResultWriter

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "r.h5"
        with ResultWriter(p, {"run_file_text": "# corpus run\n", **attrs}) as w:
            for n in (2, 3):
                w.append("etb", {"material": "CsPbI3", "parameter_set": "nestoklon2023", "lattice_set": "nestoklon2023",
                                 "shape": "cube", "n_cells": (n, n, n), "temperature_K": 6.0,
                                 "g_e": G_E if n == 2 else 1.5, "g_h": -0.5})
        return p.read_bytes()


def _flip(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 0x10
    return bytes(b)


RUN_ON = """output = "r.h5"
[axes]
model = ["etb"]
n_cells = [2]
temperature_K = [6.0]
[execution]
workers = 1
"""


def damaged_file_cases() -> list[Case]:
    """Bit-flipped and truncated result files aimed at export, export --salvage and a resume."""
    import numpy as np

    good = _result_file({"kind": "sweep"})
    row = _flip(good, good.find(np.float64(G_E).tobytes()) + 2)
    attr = _flip(good, good.find(b"# corpus run") + 3)
    half, tail = good[:len(good) // 2], good[:-7]
    other_set = _result_file({"kind": "curve", "parameter_file_sha256": "0" * 64})
    run = {"run.toml": RUN_ON}
    exp = ("export", "{dir}/r.h5", "--csv")
    return [
        Case("files", "export-flipped-row", exp, {"r.h5": row}, ("r.h5", "SHA-256", "--salvage")),
        Case("files", "export-flipped-attribute", exp, {"r.h5": attr}, ("r.h5", "SHA-256", "--salvage")),
        Case("files", "export-truncated-half", exp, {"r.h5": half}, ("r.h5", "truncated")),
        Case("files", "export-truncated-tail", exp, {"r.h5": tail}, ("r.h5", "truncated")),
        Case("files", "salvage-nothing-left", exp + ("--salvage",), {"r.h5": good[:len(good) // 10]}, ("nothing intact",)),
        Case("files", "salvage-not-hdf5", exp + ("--salvage",), {"r.h5": b"plain text\n" * 40}, ("nothing intact",)),
        Case("files", "salvage-missing", exp + ("--salvage",), {}, ("r.h5",)),
        Case("files", "resume-flipped-row", ("sweep", "{dir}/run.toml"), {"r.h5": row, **run}, ("r.h5", "SHA-256")),
        Case("files", "resume-flipped-attribute", ("sweep", "{dir}/run.toml"), {"r.h5": attr, **run}, ("r.h5", "SHA-256")),
        Case("files", "resume-truncated", ("sweep", "{dir}/run.toml"), {"r.h5": tail, **run}, ("r.h5", "truncated")),
        Case("files", "curve-resume-flipped", ("curve", "--n-cells", "2", "--plot", "none", "-o", "{dir}/r.h5"),
             {"r.h5": attr}, ("r.h5", "SHA-256")),
        Case("files", "curve-other-parameter-file", ("curve", "--n-cells", "2", "--plot", "none", "-o", "{dir}/r.h5"),
             {"r.h5": other_set}, ("another parameter file", "SHA-256")),
        Case("files", "sweep-dry-run-flipped", ("sweep", "{dir}/run.toml", "--dry-run"), {"r.h5": row, **run},
             ("r.h5", "SHA-256")),
    ]


def file_cases() -> list[Case]:
    """Result files that are not ours, not HDF5, or damaged."""
    return [
        Case("files", "export-not-hdf5", ("export", "{dir}/x.h5", "--csv"), {"x.h5": b"not an hdf5 file at all" * 10}),
        Case("files", "export-txt", ("export", "{dir}/x.txt", "--csv"), {"x.txt": "a,b\n1,2\n"}),
        Case("files", "curve-to-foreign-text", ("curve", "--n-cells", "2", "--plot", "none", "-o", "{dir}/x.h5"),
             {"x.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 200}),
        Case("files", "curve-txt-output", ("curve", "--n-cells", "2", "--plot", "none", "-o", "{dir}/out.txt")),
    ] + damaged_file_cases()


def materialise(case: Case, directory: Path) -> list[str]:
    """Write the case's files into ``directory`` and return its argv with ``{dir}`` filled in."""
    for name, content in case.files.items():
        p = directory / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return [a.replace("{dir}", str(directory)) for a in case.argv]


def termination_cases() -> list[Case]:
    """Surface terminations (issue 12): unknown names, parameters out of range or without their termination,
    and a termination the k·p model cannot do."""
    nc2 = ("nc", "--n-cells", "2", "2", "2")
    kp_run = 'output = "r.h5"\n[axes]\nmodel = ["kp"]\nn_cells = [2]\ntermination = ["csx"]\n'
    cs_run = 'output = "r.h5"\n[axes]\nn_cells = [2]\ntermination = ["pbx6"]\n[options]\ncs_potential_eV = -0.5\n'
    return [
        Case("args", "nc-termination-unknown", (*nc2, "--termination", "hydrogen"), {}, ("hydrogen",)),
        Case("args", "nc-passivation-low", (*nc2, "--termination", "passivated", "--passivation-eV", "2"), {}, ("2",)),
        Case("args", "nc-passivation-nan", (*nc2, "--termination", "passivated", "--passivation-eV", "nan"), {}, ("nan",)),
        Case("args", "nc-cs-positive", (*nc2, "--termination", "csx", "--cs-potential-eV", "1.5"), {}, ("1.5",)),
        Case("mismatch", "nc-cs-without-csx", (*nc2, "--cs-potential-eV", "-0.5"), {}, ("csx",)),
        Case("mismatch", "nc-passivation-with-csx", (*nc2, "--termination", "csx", "--passivation-eV", "30"), {},
             ("passivated",)),
        Case("mismatch", "sweep-kp-csx", ("sweep", "{dir}/r.toml", "--dry-run"), {"r.toml": kp_run}, ("kp",)),
        Case("mismatch", "sweep-cs-without-csx", ("sweep", "{dir}/r.toml", "--dry-run"), {"r.toml": cs_run},
             ("cs_potential_eV",)),
    ]




def second_neighbour_cases() -> list[Case]:
    """The optional [second_neighbour] section of a parameter file (issue 12): wrong unit, out of range,
    unknown name, not a table."""
    text = (parameters_dir() / "CsPbI3.nestoklon2023-2nn.etb.toml").read_text()
    head = _entry(text, "V_XX_pp_sigma").group(0)
    val = _entry(text, "V_XX_pp_sigma").group(1)
    return [
        _param_case("unit-V_XX_pp_sigma", text.replace(head, head.replace('unit = "eV"', 'unit = "nm"'), 1),
                    ("V_XX_pp_sigma",)),
        _param_case("range-V_XX_pp_sigma", text.replace(head, head.replace(f"value = {val}", "value = 40.0"), 1),
                    ("V_XX_pp_sigma",)),
        _param_case("nan-V_XX_pp_sigma", text.replace(head, head.replace(f"value = {val}", "value = nan"), 1),
                    ("V_XX_pp_sigma",)),
        _param_case("second-neighbour-unknown", text.replace("[second_neighbour]\n", '[second_neighbour]\n'
                    'V_XX_dd_sigma = { value = 0.1, unit = "eV", source = "nestoklon2021" }\n', 1),
                    ("V_XX_dd_sigma",)),
        _param_case("second-neighbour-not-table",
                    "second_neighbour = 3\n" + re.sub(r"\[second_neighbour\]\n(.+\n)+", "", text, count=1),
                    ("second_neighbour",)),
    ]


# ------------------------------------------------------------------------------------------------
# Ensemble run files (issue 14): bad widths, energies outside the computed range, fields <= 0 and
# result-file abuse. A small synthetic result file (3 ETB cube rows, CsPbI3 nestoklon2023 at 6 K,
# 2.146-1.757 eV) stands in for the model points, so no case computes anything.

_ENS_ROWS = ((6, 2.1457, 1.225, 1.281, 38.6), (10, 1.8787, 2.131, 0.787, 11.6), (16, 1.7565, 2.753, 0.340, 4.7))
#: e–h Coulomb energies (eV) of the same cubes (nestoklon2023, default dielectric), for the optical axis of the ensemble.
_ENS_COULOMB = {6: 0.143, 10: 0.090, 16: 0.061}
_ENS_OK = {"laser_eV": "1.824", "field_T": "0.43", "window_fwhm_eV": "0.01", "size_mean_nm": "7.5",
           "size_std_nm": "1.0"}


def _ensemble_results_bytes() -> bytes:
    """A result file (schema perovskite_tb.results/2) with the rows of ``_ENS_ROWS``, as bytes."""
    import tempfile

    from perovskite_tb.app.store.io import ResultWriter

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.h5"
        with ResultWriter(p, {"kind": "sweep"}) as w:
            for n, E, ge, gh, dn in _ENS_ROWS:
                L = n * 0.6289
                w.append("etb", {"material": "CsPbI3", "parameter_set": "nestoklon2023",
                                 "lattice_set": "nestoklon2023", "shape": "cube", "n_cells": (n, n, n),
                                 "edge_nm": L, "edges_nm": (L, L, L), "temperature_K": 6.0,
                                 "transition_energy": E, "optical_transition_energy": E - _ENS_COULOMB[n],
                                 "g_e": ge, "g_h": gh, "Delta_N_e": dn})
        return p.read_bytes()


def _ensemble_text(ens: dict, head: str = 'results = "m.h5"\noutput = "e.h5"\n', axes: str = "") -> str:
    body = "".join(f"{k} = {v}\n" for k, v in ens.items())
    return head + axes + "[ensemble]\n" + body


def ensemble_cases() -> list[Case]:
    """``perovskite-tb ensemble run.toml`` with bad values (class args) and bad files (class files)."""
    h5 = _ensemble_results_bytes()

    def case(name, ens=None, mention=(), cls="args", head='results = "m.h5"\noutput = "e.h5"\n', axes="",
             files=None, drop=()):
        e = {k: v for k, v in {**_ENS_OK, **(ens or {})}.items() if k not in drop}
        fs = {"run.toml": _ensemble_text(e, head, axes), "m.h5": h5, **(files or {})}
        return Case(cls, f"ensemble-{name}", ("ensemble", "{dir}/run.toml"), fs, tuple(mention))

    pl = {"pl_centre_eV": "1.85", "pl_fwhm_eV": "0.1"}
    out = [
        case("size-std-zero", {"size_std_nm": "0.0"}, ("size_std_nm", "nm")),
        case("size-std-negative", {"size_std_nm": "-1.0"}, ("size_std_nm", "-1")),
        case("size-mean-zero", {"size_mean_nm": "0"}, ("size_mean_nm",)),
        case("size-mean-negative", {"size_mean_nm": "-7.5"}, ("size_mean_nm", "-7.5")),
        case("pl-fwhm-zero", {**pl, "pl_fwhm_eV": "0.0"}, ("pl_fwhm_eV", "eV"), drop=("size_mean_nm", "size_std_nm")),
        case("pl-fwhm-negative", {**pl, "pl_fwhm_eV": "-0.1"}, ("pl_fwhm_eV",), drop=("size_mean_nm", "size_std_nm")),
        case("window-zero", {"window_fwhm_eV": "0"}, ("window_fwhm_eV",)),
        case("window-negative", {"window_fwhm_eV": "-0.01"}, ("window_fwhm_eV",)),
        case("laser-above-range", {"laser_eV": "2.5"}, ("laser_eV", "2.5", "outside the computed range")),
        case("laser-below-range", {"laser_eV": "1.5"}, ("laser_eV", "1.5", "outside the computed range")),
        case("laser-zero", {"laser_eV": "0.0"}, ("laser_eV",)),
        case("pl-centre-outside", {**pl, "pl_centre_eV": "3.0"}, ("pl_centre_eV", "outside"),
             drop=("size_mean_nm", "size_std_nm")),
        case("field-zero", {"field_T": "0.0"}, ("field_T", "T")),
        case("field-negative", {"field_T": "-0.43"}, ("field_T", "-0.43")),
        case("field-nan", {"field_T": "nan"}, ("field_T",)),
        case("field-inf", {"field_T": "inf"}, ("field_T",)),
        case("field-string", {"field_T": '"0.43"'}, ("field_T",)),
        case("field-max-zero", {"field_max_T": "0"}, ("field_max_T",)),
        case("T2-0-zero", {"T2_0_ps": "0"}, ("T2_0_ps", "ps")),
        case("t-max-negative", {"t_max_ps": "-1.0"}, ("t_max_ps",)),
        case("n-t-one", {"n_t": "1"}, ("n_t",)),
        case("both-forms", pl, ("size_mean_nm", "pl_centre_eV")),
        case("neither-form", {}, ("size_mean_nm", "pl_centre_eV"), drop=("size_mean_nm", "size_std_nm")),
        case("half-form", {}, ("size_mean_nm",), drop=("size_std_nm",)),
        case("missing-laser", {}, ("laser_eV",), drop=("laser_eV",)),
        case("unknown-key", {"sizes": "3"}, ("sizes",)),
        case("two-temperatures", axes="[axes]\ntemperature_K = [6.0, 30.0]\n", mention=("temperature_K",)),
        case("cuboid", axes="[axes]\nn_cells = [[2, 2, 3]]\n", mention=("n_cells",)),
        case("no-rows", axes="[axes]\ntemperature_K = 300.0\n", mention=("300",)),
        case("execution-without-cells", head='results = "m.h5"\noutput = "e.h5"\n[execution]\nworkers = 1\n',
             mention=("execution",)),
        Case("args", "ensemble-run-missing", ("ensemble", "{dir}/none.toml"), {}, ("none.toml",)),
        Case("args", "ensemble-invalid-toml", ("ensemble", "{dir}/run.toml"), {"run.toml": "laser_eV = = 1\n"},
             ("TOML",)),
        Case("args", "ensemble-no-ensemble-table", ("ensemble", "{dir}/run.toml"),
             {"run.toml": 'results = "m.h5"\n', "m.h5": h5}, ("[ensemble]",)),
        case("results-missing", head='results = "none.h5"\noutput = "e.h5"\n', mention=("none.h5",), cls="files"),
        case("results-not-hdf5", head='results = "t.h5"\noutput = "e.h5"\n', mention=("t.h5",), cls="files",
             files={"t.h5": b"not hdf5 " * 20}),
        case("results-csv", head='results = "m.csv"\noutput = "e.h5"\n', mention=("m.csv",), cls="files"),
        case("output-is-results", head='results = "m.h5"\noutput = "m.h5"\n', mention=("m.h5",), cls="files"),
        case("output-foreign-hdf5", head='results = "m.h5"\noutput = "f.h5"\n', mention=("f.h5",), cls="files",
             files={"f.h5": h5}),
        case("output-txt", head='results = "m.h5"\noutput = "e.txt"\n', mention=("e.txt",), cls="files"),
        case("output-dir-missing", head='results = "m.h5"\noutput = "no/dir/e.h5"\n', mention=("no/dir",),
             cls="files"),
        case("plot-suffix", head='results = "m.h5"\noutput = "e.h5"\nplot = "e.txt"\n', mention=("e.txt",),
             cls="files"),
        case("output-unwritable", head=f'results = "m.h5"\noutput = "{UNWRITABLE}/e.h5"\n',
             mention=(f"{UNWRITABLE}/e.h5", "cannot be written"), cls="files"),
        case("plot-unwritable", head=f'results = "m.h5"\noutput = "e.h5"\nplot = "{UNWRITABLE}/e.png"\n',
             mention=(f"{UNWRITABLE}/e.png", "cannot be written"), cls="files"),
    ]
    return out


def solver_and_study_cases() -> list[Case]:
    """--solver, [execution].solver, --energy-axis and the study job: unknown names, bad sizes and paths."""
    run = 'output = "r.h5"\n[axes]\nn_cells = [2]\n[execution]\nsolver = "%s"\n'
    return [
        Case("args", "nc-solver-unknown", ("nc", "--n-cells", "2", "2", "2", "--solver", "fastest"), {}, ("fastest",)),
        Case("args", "curve-solver-unknown", ("curve", "--n-cells", "2", "--solver", "magma", "--plot", "none",
                                              "-o", "{dir}/c.h5"), {}, ("magma",)),
        Case("args", "curve-energy-axis-unknown", ("curve", "--n-cells", "2", "--energy-axis", "laser", "--plot",
                                                   "none", "-o", "{dir}/c.h5"), {}, ("laser",)),
        Case("args", "sweep-solver-unknown", ("sweep", "{dir}/r.toml", "--solver", "gpu", "--dry-run"),
             {"r.toml": run % "auto"}, ("gpu",)),
        Case("mismatch", "runfile-solver-unknown", ("sweep", "{dir}/r.toml", "--dry-run"), {"r.toml": run % "lapack"},
             ("lapack",)),
        Case("mismatch", "runfile-solver-number", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": 'output = "r.h5"\n[axes]\nn_cells = [2]\n[execution]\nsolver = 3\n'}, ("solver",)),
        Case("args", "study-termination-unknown", ("study", "--termination", "hydrogen", "-o", "{dir}/s.h5"), {},
             ("hydrogen",)),
        Case("args", "study-shape-cuboid", ("study", "--shape", "cuboid", "-o", "{dir}/s.h5"), {}, ("cuboid",)),
        Case("args", "study-report-not-md", ("study", "--report", "{dir}/s.txt", "-o", "{dir}/s.h5"), {}, (".md",)),
        Case("args", "study-set-unknown", ("study", "--parameter-set", "nosuchset", "-o", "{dir}/s.h5",
                                           "--termination", "pbx6", "--n-cells", "2"), {}, ("nosuchset",)),
        Case("args", "study-plot-dir-missing", ("study", "--plot", "{dir}/no/s.png", "-o", "{dir}/s.h5"), {},
             ("no",)),
    ]


#: A directory in which no file can be created, even by root (procfs); read-only directories are
#: writable to root, so they cannot stand in for it in a test.
UNWRITABLE = "/proc"


def new_user_cases() -> list[Case]:
    """Issue 19 item 9 (tried as a new user would): unwritable outputs, an empty material name, a relative
    permittivity below 1, a sphere smaller than one cell."""
    no = UNWRITABLE
    sweep = 'output = "%s"\n%s[axes]\nn_cells = [2]\n'
    out = [
        Case("files", "curve-out-no-dir", ("curve", "--n-cells", "2", "-o", "/nonexistent/x.h5", "--plot", "none"),
             {}, ("/nonexistent", "does not exist")),
        Case("files", "curve-out-unwritable", ("curve", "--n-cells", "2", "-o", f"{no}/x.h5", "--plot", "none"),
             {}, (f"{no}/x.h5", "cannot be written")),
        Case("files", "curve-plot-unwritable", ("curve", "--n-cells", "2", "-o", "{dir}/c.h5", "--plot", f"{no}/x.png"),
             {}, (f"{no}/x.png", "cannot be written")),
        Case("files", "sweep-out-unwritable", ("sweep", "{dir}/r.toml"), {"r.toml": sweep % (f"{no}/r.h5", "")},
             (f"{no}/r.h5", "cannot be written")),
        Case("files", "sweep-plot-unwritable", ("sweep", "{dir}/r.toml"),
             {"r.toml": sweep % ("r.h5", f'plot = "{no}/r.png"\n')}, (f"{no}/r.png", "cannot be written")),
        Case("files", "sweep-dry-run-out-unwritable", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": sweep % (f"{no}/r.h5", "")}, (f"{no}/r.h5", "cannot be written")),
        Case("files", "tseries-out-unwritable", ("tseries", "-o", f"{no}/t.h5", "--plot", "none"), {},
             (f"{no}/t.h5", "cannot be written")),
        Case("files", "tseries-plot-unwritable", ("tseries", "-o", "{dir}/t.h5", "--plot", f"{no}/t.png"), {},
             (f"{no}/t.png", "cannot be written")),
        Case("files", "halides-out-unwritable", ("halides", "-o", f"{no}/h.h5", "--plot", "none", "--bulk-plot",
                                                 "none"), {}, (f"{no}/h.h5", "cannot be written")),
        Case("files", "halides-bulk-plot-unwritable", ("halides", "-o", "{dir}/h.h5", "--plot", "none", "--bulk-plot",
                                                       f"{no}/b.png"), {}, (f"{no}/b.png", "cannot be written")),
        Case("files", "study-out-unwritable", ("study", "-o", f"{no}/s.h5", "--plot", "none", "--report", "none",
                                               "--termination", "pbx6", "--n-cells", "2"), {},
             (f"{no}/s.h5", "cannot be written")),
        Case("files", "study-report-unwritable", ("study", "-o", "{dir}/s.h5", "--report", f"{no}/s.md"), {},
             (f"{no}/s.md", "cannot be written")),
        Case("files", "export-csv-unwritable", ("export", "{dir}/r.h5", "--csv", "-o", f"{no}/r.csv"),
             {"r.h5": _result_file({"kind": "sweep"})}, (f"{no}/r.csv", "cannot be written")),
    ]
    known = ("CsPbBr3", "CsPbCl3", "CsPbI3")
    out += [Case("args", f"{cmd[0]}-material-empty", (*cmd, "--material", ""), {}, ("''", *known)) for cmd in (
        ("bulk",), ("nc", "--n-cells", "2", "2", "2"), ("curve", "--n-cells", "2", "-o", "{dir}/c.h5", "--plot", "none"),
        ("kp-bulk",), ("kp-nc", "--edge-nm", "5", "5", "5"), ("tseries", "-o", "{dir}/t.h5", "--plot", "none"))]
    out.append(Case("args", "nc-material-blank", ("nc", "--n-cells", "2", "2", "2", "--material", " "), {},
                    ("' '", *known)))
    out += [Case("args", f"{cmd}-eps-{o}-below-1", (cmd, *size, f"--epsilon-{o}", "0.5"), {},
                 (f"--epsilon-{o}", "0.5", "dimensionless", ">= 1"))
            for cmd, size in (("nc", ("--n-cells", "2", "2", "2")), ("kp-nc", ("--material", "CsPbI3", "--edge-nm",
                                                                                 "5", "5", "5")))
            for o in ("in", "out")]
    out += [
        Case("args", "nc-sphere-below-one-cell", ("nc", "--shape", "sphere", "--diameter-nm", "0.3"), {},
             ("0.3 nm", "minimum diameter", "0.6289 nm")),
        Case("args", "nc-spheroid-below-half-cell", ("nc", "--shape", "spheroid", "--semi-axes-nm", "0.2", "1", "1"),
             {}, ("0.2 nm", "minimum semi-axis")),
        Case("args", "sweep-sphere-below-one-cell", ("sweep", "{dir}/r.toml", "--dry-run"),
             {"r.toml": 'output = "r.h5"\n[axes]\nshape = ["sphere"]\ndiameter_nm = [0.3]\n'},
             ("0.3 nm", "minimum diameter")),
    ]
    return out


def all_cases() -> list[Case]:
    """Every case of the corpus (one list per kind of input)."""
    return (param_cases() + edge_cases() + memory_cases() + arg_cases() + mismatch_cases() + file_cases()
            + termination_cases() + second_neighbour_cases() + ensemble_cases() + solver_and_study_cases()
            + new_user_cases())
