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

    from perovskite_tb.app.io import ResultWriter

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


def all_cases() -> list[Case]:
    """Every case of the corpus."""
    return param_cases() + edge_cases() + memory_cases() + arg_cases() + mismatch_cases() + file_cases()


def materialise(case: Case, directory: Path) -> list[str]:
    """Write the case's files into ``directory`` and return its argv with ``{dir}`` filled in."""
    for name, content in case.files.items():
        p = directory / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return [a.replace("{dir}", str(directory)) for a in case.argv]
